#include "http/access_log.hpp"

#include <charconv>
#include <cstring>

#include "http/date.hpp"

namespace ringxfer::http {
namespace {

class LineWriter {
 public:
  explicit LineWriter(std::span<char> out) noexcept : out_(out) {}

  void put(std::string_view s) noexcept {
    if (s.size() > out_.size() - size_) {
      overflow_ = true;
      return;
    }
    std::memcpy(out_.data() + size_, s.data(), s.size());
    size_ += s.size();
  }
  void put(char c) noexcept { put(std::string_view(&c, 1)); }
  void put_number(std::uint64_t v, int width = 0) noexcept {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, v);
    for (int pad = width - int(r.ptr - digits); pad > 0; --pad) put('0');
    put(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  }
  // A client-chosen field, escaped; "-" when empty.
  void put_escaped(std::string_view s) noexcept {
    if (s.empty()) {
      put('-');
      return;
    }
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
        char esc[4] = {'\\', 'x', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
        put(std::string_view(esc, 4));
      } else {
        put(ch);
      }
    }
  }
  std::size_t result() const noexcept { return overflow_ ? 0 : size_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace

std::size_t append_access_log(const AccessLogEntry& e, std::span<char> out) noexcept {
  LineWriter w(out);
  // The address comes from the kernel, but stay safe if a caller passes text.
  w.put_escaped(e.remote);
  w.put(" - - [");
  CivilTime t = civil_from_unix(e.time_seconds);
  w.put_number(t.day, 2);
  w.put('/');
  w.put(month_names[t.month - 1]);
  w.put('/');
  w.put_number(static_cast<std::uint64_t>(t.year < 0 ? 0 : t.year), 4);
  w.put(':');
  w.put_number(t.hour, 2);
  w.put(':');
  w.put_number(t.minute, 2);
  w.put(':');
  w.put_number(t.second, 2);
  w.put(" +0000] \"");
  w.put_escaped(e.request_line);
  w.put("\" ");
  w.put_number(e.status, 3);
  w.put(' ');
  w.put_number(e.body_bytes);
  w.put(" \"");
  w.put_escaped(e.referer);
  w.put("\" \"");
  w.put_escaped(e.user_agent);
  w.put("\"\n");
  return w.result();
}

}  // namespace ringxfer::http
