// Names, parsing and printing for the public value types.
#include <cstdint>
#include <ostream>
#include <string>

#include "ringxfer/error.hpp"
#include "ringxfer/features.hpp"
#include "ringxfer/stats.hpp"

namespace ringxfer {

namespace {

constexpr std::string_view feature_names[] = {
    "send_zc", "multishot_accept", "multishot_recv", "buf_ring",
    "fixed_files", "fixed_buffers", "defer_taskrun", "splice",
    "msg_ring",
    "accept_direct",
    "recv_bundle", "buf_ring_inc",
};
static_assert(std::size(feature_names) == std::size_t(feature_count));

class ErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ringxfer"; }
  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::eof: return "end of stream";
      case error::no_free_op_slot: return "no free operation slot";
      case error::no_free_fd_slot: return "no free fd slot";
      case error::no_free_buffer: return "no free buffer";
      case error::no_free_pipe: return "no free splice pipe";
      case error::post_queue_full: return "post queue full";
      case error::transfer_incomplete: return "source ended before the requested length";
      case error::shutting_down: return "the engine is being destroyed";
      case error::receive_in_progress: return "a recv() is running on this socket";
      case error::wrong_thread:
        return "io_uring refused this thread: the Engine belongs to the thread that first ran it";
    }
    return "unknown ringxfer error";
  }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

const std::error_category& error_category() noexcept {
  static const ErrorCategory category;
  return category;
}

std::string_view to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::automatic: return "auto";
    case BackendKind::io_uring: return "io_uring";
    case BackendKind::epoll: return "epoll";
  }
  return "?";
}

std::error_code parse_backend(std::string_view text, BackendKind& out) noexcept {
  text = trim(text);
  if (text == "auto") out = BackendKind::automatic;
  else if (text == "io_uring" || text == "uring") out = BackendKind::io_uring;
  else if (text == "epoll") out = BackendKind::epoll;
  else return std::make_error_code(std::errc::invalid_argument);
  return {};
}

std::string_view to_string(Feature f) noexcept {
  int i = static_cast<int>(f);
  return i >= 0 && i < feature_count ? feature_names[i] : "?";
}

std::error_code parse_features(std::string_view text, FeatureSet& out, std::string* bad_word) {
  FeatureSet set;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view word = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (word.empty() || word == "none") continue;
    if (word == "all") {
      set = FeatureSet::all();
      continue;
    }
    bool found = false;
    for (int i = 0; i < feature_count; ++i) {
      if (word == feature_names[i]) {
        set.add(Feature(i));
        found = true;
      }
    }
    if (!found) {
      if (bad_word != nullptr) *bad_word = std::string(word);
      return std::make_error_code(std::errc::invalid_argument);
    }
  }
  out = set;
  return {};
}

std::string to_string(FeatureSet set) {
  std::string s;
  for (int i = 0; i < feature_count; ++i) {
    if (!set.has(Feature(i))) continue;
    if (!s.empty()) s += ',';
    s += feature_names[i];
  }
  return s.empty() ? "none" : s;
}

std::ostream& operator<<(std::ostream& os, const Stats& s) {
  return os << "syscalls=" << s.syscalls << " enter=" << s.enter_calls << " epoll_wait=" << s.epoll_waits
            << " sqes=" << s.sqes << " cqes=" << s.cqes << " ops=" << s.ops_started << '/' << s.ops_completed
            << " in=" << s.bytes_in << " out=" << s.bytes_out << " zc=" << s.zc_sends
            << " zc_copied=" << s.zc_copied << " short=" << s.short_sends << " fallbacks=" << s.fallbacks
            << " sq_full=" << s.sq_full << " cq_overflows=" << s.cq_overflows
            << " recv_starved=" << s.recv_starved << " pipe_waits=" << s.pipe_waits
            << " accept_pauses=" << s.accept_pauses << " accepts_refused=" << s.accepts_refused
            << " start_failures=" << s.start_failures << " sigpipe_syscalls=" << s.sigpipe_syscalls
            << " msg_ring_wakes=" << s.msg_ring_wakes;
}

std::ostream& operator<<(std::ostream& os, const Features& f) {
  os << "backend=" << to_string(f.backend) << " (" << f.why << ")";
  if (f.backend == BackendKind::io_uring) os << " setup=" << f.setup_mode;
  return os << " active=" << to_string(f.active) << " disabled=" << to_string(f.disabled);
}

}  // namespace ringxfer
