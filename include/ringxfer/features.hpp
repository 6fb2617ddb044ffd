#pragma once
// What the kernel offers, what the user disabled, and what the engine chose.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ringxfer {

enum class BackendKind : std::uint8_t { automatic, io_uring, epoll };

std::string_view to_string(BackendKind kind) noexcept;
// Accepts "auto", "io_uring" (or "uring") and "epoll".
std::error_code parse_backend(std::string_view text, BackendKind& out) noexcept;

// io_uring features that each have a fallback in engine/core. Disabling one
// makes the io_uring backend take that fallback, which is how the conformance
// suite tests every fallback on a kernel that has everything.
enum class Feature : std::uint8_t {
  send_zc,           // IORING_OP_SEND_ZC / MSG_ZEROCOPY  -> plain send, buffer returned at once
  multishot_accept,  // IORING_ACCEPT_MULTISHOT           -> one accept re-armed per connection
  multishot_recv,    // IORING_RECV_MULTISHOT             -> one recv re-armed per buffer
  buf_ring,          // provided-buffer ring              -> engine picks the buffer before recv
  fixed_files,       // registered fd table               -> plain fds
  fixed_buffers,     // registered buffers                -> plain buffers
  defer_taskrun,     // SINGLE_ISSUER|DEFER_TASKRUN       -> COOP_TASKRUN, then none
  splice,            // IORING_OP_SPLICE / splice(2)      -> copy through a pool buffer
  recv_bundle,       // IORING_RECVSEND_BUNDLE (6.10)     -> one receive buffer per recv completion
                     //   Off unless asked for (EngineOptions::disabled starts with it): a bundle
                     //   takes as many buffers as its socket has bytes queued, so one flooding
                     //   socket can take the whole shared ring in one turn (measured, 6.18).
  buf_ring_inc,      // IOU_PBUF_RING_INC (6.12)          -> every recv completion takes a whole buffer
  count_
};
inline constexpr int feature_count = static_cast<int>(Feature::count_);

std::string_view to_string(Feature f) noexcept;

// A set of Features (one bit per Feature; nothing else shares the word).
class FeatureSet {
 public:
  constexpr FeatureSet() noexcept = default;
  static constexpr FeatureSet all() noexcept {
    FeatureSet s;
    s.bits_ = (1u << feature_count) - 1;
    return s;
  }
  constexpr bool has(Feature f) const noexcept { return (bits_ >> bit(f)) & 1u; }
  constexpr FeatureSet& add(Feature f) noexcept { bits_ |= 1u << bit(f); return *this; }
  constexpr FeatureSet& remove(Feature f) noexcept { bits_ &= ~(1u << bit(f)); return *this; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  friend constexpr bool operator==(FeatureSet, FeatureSet) = default;

 private:
  static constexpr unsigned bit(Feature f) noexcept { return static_cast<unsigned>(f); }
  std::uint32_t bits_ = 0;
};

// Parses a comma list of feature names ("send_zc,splice", "all", "" = none).
// Unknown names are an error naming the bad word.
std::error_code parse_features(std::string_view text, FeatureSet& out, std::string* bad_word = nullptr);
std::string to_string(FeatureSet set);

struct OpcodeSupport {
  std::string name;
  bool supported = false;
};

struct Features {
  BackendKind backend = BackendKind::automatic;  // the backend in use (never automatic after start)
  std::string why;                               // why this backend: "io_uring probe ok", "io_uring_setup: EPERM" ...
  std::string kernel_release;                    // uname -r
  std::string liburing_version;                  // the liburing the engine was built with
  bool io_uring_usable = false;                  // io_uring_setup succeeded on this kernel
  std::string io_uring_error;                    // why not, when it is not usable
  std::vector<OpcodeSupport> opcodes;            // opcodes the engine uses, from IORING_REGISTER_PROBE
  std::vector<OpcodeSupport> setup_flags;        // setup flags the engine tries, and whether the kernel took them
  std::string setup_mode;                        // "single_issuer|defer_taskrun", "coop_taskrun", "plain"
  bool registered_ring_fd = false;
  bool sqpoll = false;
  FeatureSet disabled;                           // asked off by options or RINGXFER_DISABLE
  FeatureSet active;                             // available and not disabled
  bool buffers_registered = false;               // BufferPool registered as fixed buffers
  std::string buffers_note;                      // why not, e.g. RLIMIT_MEMLOCK
  std::uint64_t memlock_limit_bytes = 0;         // RLIMIT_MEMLOCK soft limit (UINT64_MAX = unlimited)
  bool has(Feature f) const noexcept { return active.has(f); }
};

std::ostream& operator<<(std::ostream& os, const Features& f);

}  // namespace ringxfer
