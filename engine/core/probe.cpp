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
  switch (options.backend) {
    case BackendKind::epoll:
      f.backend = BackendKind::epoll;
      f.why += "epoll asked for";
      break;
    case BackendKind::io_uring:
      f.backend = BackendKind::io_uring;
      f.why += f.io_uring_usable ? "io_uring asked for" : "io_uring asked for but unusable: engine start fails";
      break;
    case BackendKind::automatic:
      f.backend = f.io_uring_usable ? BackendKind::io_uring : BackendKind::epoll;
      f.why += f.io_uring_usable ? "auto: io_uring setup succeeded"
                                 : "auto: io_uring unavailable (" + f.io_uring_error + "), using epoll";
      break;
  }
  return f;
}

}  // namespace ringxfer
