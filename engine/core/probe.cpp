// probe_features(): what `ringxfer probe` prints, without starting an Engine.
#include "ringxfer/probe.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>

#include "backend.hpp"
#include "core/backend_select.hpp"

namespace ringxfer {

Features probe_features(const EngineOptions& options_in) {
  EngineOptions options = options_in;
  Features f;
  std::string env_error;
  if (detail::apply_environment(options, env_error)) f.why = env_error + "; ";
  f.disabled = options.disabled;
  utsname u{};
  if (::uname(&u) == 0) f.kernel_release = u.release;
  rlimit lim{};
  if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
    f.memlock_limit_bytes = lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : std::uint64_t(lim.rlim_cur);
  }
  detail::probe_uring(options, f);
  // io_uring when asked for (if unusable, the engine would refuse to start, and
  // `why` says so) or when auto finds it usable; epoll otherwise.
  const bool uring = options.backend == BackendKind::io_uring ||
                     (options.backend == BackendKind::automatic && f.io_uring_usable);
  f.backend = uring ? BackendKind::io_uring : BackendKind::epoll;
  f.why += detail::describe_choice(options.backend, f.io_uring_usable, f.io_uring_error);
  return f;
}

}  // namespace ringxfer
