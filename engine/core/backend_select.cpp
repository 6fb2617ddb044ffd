#include "core/backend_select.hpp"

#include <cstdlib>
#include <string>
#include <system_error>

namespace ringxfer::detail {

std::error_code apply_environment(EngineOptions& options, std::string& error_text) {
  if (!options.read_environment) return {};
  if (const char* b = std::getenv("RINGXFER_BACKEND"); b != nullptr && *b != '\0') {
    if (auto ec = parse_backend(b, options.backend)) {
      error_text = std::string("RINGXFER_BACKEND: unknown backend '") + b + "' (auto, io_uring, epoll)";
      return ec;
    }
  }
  if (const char* d = std::getenv("RINGXFER_DISABLE"); d != nullptr && *d != '\0') {
    FeatureSet set;
    std::string bad;
    if (auto ec = parse_features(d, set, &bad)) {
      error_text = "RINGXFER_DISABLE: unknown feature '" + bad + "'";
      return ec;
    }
    for (int i = 0; i < feature_count; ++i) {
      if (set.has(Feature(i))) options.disabled.add(Feature(i));
    }
  }
  return {};
}

std::string describe_choice(BackendKind asked, bool uring_usable, const std::string& uring_error) {
  switch (asked) {
    case BackendKind::epoll:
      return "epoll asked for";
    case BackendKind::io_uring:
      return uring_usable ? "io_uring asked for" : "io_uring asked for but unusable (" + uring_error + ")";
    case BackendKind::automatic:
      break;
  }
  return uring_usable ? "auto: io_uring setup succeeded" : "auto: io_uring unavailable (" + uring_error + "), using epoll";
}

std::unique_ptr<Backend> select_backend(const EngineOptions& options, Features& features, Stats& stats) {
  std::error_code ec;
  if (options.backend != BackendKind::epoll) {
    auto backend = make_uring_backend(options, features, stats, ec);
    if (backend) {
      features.backend = BackendKind::io_uring;
      features.why = describe_choice(options.backend, true, {});
      return backend;
    }
    if (options.backend == BackendKind::io_uring) {
      throw std::system_error(ec, "ringxfer: io_uring backend unavailable: " + features.io_uring_error);
    }
  }
  std::string uring_failure = features.io_uring_error;
  auto backend = make_epoll_backend(options, features, stats, ec);
  if (!backend) throw std::system_error(ec, "ringxfer: epoll backend failed to start");
  features.backend = BackendKind::epoll;
  features.why = describe_choice(options.backend, false, uring_failure);
  return backend;
}

}  // namespace ringxfer::detail
