#pragma once
// Choosing a backend at run time (Seastar's reactor_backend_selector style): a
// preference list that ends with epoll, and Features saying why.
#include <memory>
#include <string>

#include "backend.hpp"

namespace ringxfer::detail {

// Applies RINGXFER_BACKEND and RINGXFER_DISABLE (when options.read_environment).
// A malformed variable is an error naming it.
std::error_code apply_environment(EngineOptions& options, std::string& error_text);

// Why `asked` leads to the backend it does, given whether io_uring set up (and
// if not, `uring_error`). One wording for the engine and for probe_features().
std::string describe_choice(BackendKind asked, bool uring_usable, const std::string& uring_error);

// The backend for `options` (already resolved). Throws std::system_error when
// the asked-for backend cannot start; `auto` falls back to epoll.
std::unique_ptr<Backend> select_backend(const EngineOptions& options, Features& features, Stats& stats);

}  // namespace ringxfer::detail
