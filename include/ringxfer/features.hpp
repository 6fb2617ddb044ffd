#pragma once
/// @file
/// What the kernel offers, what the user disabled, and what the engine chose.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ringxfer {

/// Which backend an Engine uses; automatic picks io_uring when its probe
/// passes, else epoll.
enum class BackendKind : std::uint8_t { automatic, io_uring, epoll };

/// "auto", "io_uring" or "epoll".
std::string_view to_string(BackendKind kind) noexcept;
/// Accepts "auto", "io_uring" (or "uring") and "epoll".
std::error_code parse_backend(std::string_view text, BackendKind& out) noexcept;

/// io_uring features that each have a fallback in engine/core. Disabling one
/// makes the io_uring backend take that fallback, which is how the conformance
/// suite tests every fallback on a kernel that has everything.
enum class Feature : std::uint8_t {
  send_zc,           ///< IORING_OP_SEND_ZC / MSG_ZEROCOPY  -> plain send, buffer returned at once
  multishot_accept,  ///< IORING_ACCEPT_MULTISHOT           -> one accept re-armed per connection
  multishot_recv,    ///< IORING_RECV_MULTISHOT             -> one recv re-armed per buffer
  buf_ring,          ///< provided-buffer ring              -> engine picks the buffer before recv
  fixed_files,       ///< registered fd table               -> plain fds
  fixed_buffers,     ///< registered buffers                -> plain buffers
  defer_taskrun,     ///< SINGLE_ISSUER|DEFER_TASKRUN       -> COOP_TASKRUN, then none
  splice,            ///< IORING_OP_SPLICE / splice(2)      -> copy through a pool buffer
  msg_ring,          ///< IORING_OP_MSG_RING doorbell between engines -> eventfd write(2)

  /// Multishot accept straight into the fixed-file table (IORING_FILE_INDEX_ALLOC,
  /// kernel >= 6.0; native_handle() needs IORING_OP_FIXED_FD_INSTALL, 6.8): an
  /// accepted connection and its close cost no io_uring_register call. The upper
  /// half of the fd slots is then the kernel's to allocate for accepted
  /// connections, the lower half holds everything else. Fallback: accept a
  /// plain fd and register it.
  accept_direct,
  /// IORING_RECVSEND_BUNDLE (6.10) -> one receive buffer per recv completion.
  /// Off unless asked for (EngineOptions::disabled starts with it): a bundle
  /// takes as many buffers as its socket has bytes queued, so one flooding
  /// socket can take the whole shared ring in one turn (measured, 6.18).
  recv_bundle,
  buf_ring_inc,      ///< IOU_PBUF_RING_INC (6.12)          -> every recv completion takes a whole buffer
  count_  ///< not a feature: the number of features
};
/// How many Feature values there are.
inline constexpr int feature_count = static_cast<int>(Feature::count_);

/// The feature's name, as RINGXFER_DISABLE spells it ("send_zc").
std::string_view to_string(Feature f) noexcept;

/// A set of Features (one bit per Feature; nothing else shares the word).
class FeatureSet {
 public:
  /// The empty set.
  constexpr FeatureSet() noexcept = default;
  /// Every feature.
  static constexpr FeatureSet all() noexcept {
    FeatureSet s;
    s.bits_ = (1u << feature_count) - 1;
    return s;
  }
  /// True if `f` is in the set.
  constexpr bool has(Feature f) const noexcept { return (bits_ >> bit(f)) & 1u; }
  /// Adds `f`.
  constexpr FeatureSet& add(Feature f) noexcept { bits_ |= 1u << bit(f); return *this; }
  /// Removes `f`.
  constexpr FeatureSet& remove(Feature f) noexcept { bits_ &= ~(1u << bit(f)); return *this; }
  /// True if no feature is in the set.
  constexpr bool empty() const noexcept { return bits_ == 0; }
  /// Same features.
  friend constexpr bool operator==(FeatureSet, FeatureSet) = default;

 private:
  static constexpr unsigned bit(Feature f) noexcept { return static_cast<unsigned>(f); }
  std::uint32_t bits_ = 0;
};

/// Parses a comma list of feature names ("send_zc,splice", "all", "" = none).
/// Unknown names are an error naming the bad word.
std::error_code parse_features(std::string_view text, FeatureSet& out, std::string* bad_word = nullptr);
/// The set as a comma list that parse_features() reads back ("" when empty).
std::string to_string(FeatureSet set);

/// Whether the kernel supports one io_uring opcode or setup flag.
struct OpcodeSupport {
  std::string name;        ///< "IORING_OP_SEND_ZC", "IORING_SETUP_DEFER_TASKRUN" ...
  bool supported = false;  ///< what the kernel said
};

/// What `ringxfer probe` prints: the backend chosen and why, the kernel's
/// io_uring support, and which Features are active (Engine::features()).
struct Features {
  BackendKind backend = BackendKind::automatic;  ///< the backend in use (never automatic after start)
  std::string why;                               ///< why this backend: "io_uring probe ok", "io_uring_setup: EPERM" ...
  std::string kernel_release;                    ///< uname -r
  std::string liburing_version;                  ///< the liburing the engine was built with
  bool io_uring_usable = false;                  ///< io_uring_setup succeeded on this kernel
  std::string io_uring_error;                    ///< why not, when it is not usable
  std::vector<OpcodeSupport> opcodes;            ///< opcodes the engine uses, from IORING_REGISTER_PROBE
  std::vector<OpcodeSupport> setup_flags;        ///< setup flags the engine tries, and whether the kernel took them
  std::string setup_mode;                        ///< "single_issuer|defer_taskrun", "coop_taskrun", "plain"
  bool registered_ring_fd = false;               ///< the ring fd is registered (IORING_REGISTER_RING_FDS)
  bool sqpoll = false;                           ///< the ring runs with a kernel SQ polling thread
  FeatureSet disabled;                           ///< asked off by options or RINGXFER_DISABLE
  FeatureSet active;                             ///< available and not disabled
  bool buffers_registered = false;               ///< BufferPool registered as fixed buffers
  std::string buffers_note;                      ///< why not, e.g. RLIMIT_MEMLOCK
  std::uint64_t memlock_limit_bytes = 0;         ///< RLIMIT_MEMLOCK soft limit (UINT64_MAX = unlimited)

  /// True if `f` is active (available and not disabled).
  bool has(Feature f) const noexcept { return active.has(f); }
};

/// The human-readable report of `ringxfer probe`.
std::ostream& operator<<(std::ostream& os, const Features& f);

}  // namespace ringxfer
