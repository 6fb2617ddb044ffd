#pragma once
// Choosing a backend at run time (Seastar's reactor_backend_selector style): a
// preference list that ends with epoll, and Features saying why.
#include <memory>

#include "backend.hpp"

namespace ringxfer::detail {

// Applies RINGXFER_BACKEND and RINGXFER_DISABLE (when options.read_environment).
// A malformed variable is an error naming it.
std::error_code apply_environment(EngineOptions& options, std::string& error_text);

// The backend for `options` (already resolved). Throws std::system_error when
// the asked-for backend cannot start; `auto` falls back to epoll.
std::unique_ptr<Backend> select_backend(const EngineOptions& options, Features& features, Stats& stats);

}  // namespace ringxfer::detail
