#include "http/response.hpp"

#include <charconv>
#include <cstring>

#include "http/date.hpp"

namespace ringxfer::http {
namespace {

// Appends to a fixed buffer; remembers overflow instead of checking each call.
class Writer {
 public:
  explicit Writer(std::span<char> out) noexcept : out_(out) {}

  Writer& put(std::string_view s) noexcept {
    if (s.size() > out_.size() - size_) {
      overflow_ = true;
      return *this;
    }
    std::memcpy(out_.data() + size_, s.data(), s.size());
    size_ += s.size();
    return *this;
  }
  Writer& put(std::uint64_t v) noexcept {
    char digits[20];
    auto r = std::to_chars(digits, digits + sizeof digits, v);
    return put(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  }
  Writer& field(std::string_view name, std::string_view value) noexcept {
    return put(name).put(": ").put(value).put("\r\n");
  }
  std::size_t result() const noexcept { return overflow_ ? 0 : size_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

constexpr std::string_view body_open = "<!DOCTYPE html>\n<html><head><title>";
constexpr std::string_view body_middle = "</title></head><body><h1>";
constexpr std::string_view body_close = "</h1></body></html>\n";

// "404 Not Found"
std::size_t status_text_bytes(Status s) noexcept { return 4 + reason_phrase(s).size(); }

Writer& put_status_text(Writer& w, Status s) noexcept {
  return w.put(std::uint64_t(code(s))).put(" ").put(reason_phrase(s));
}

}  // namespace

std::size_t write_response_head(const ResponseHead& head, std::span<char> out) noexcept {
  Writer w(out);
  w.put("HTTP/1.1 ");
  put_status_text(w, head.status).put("\r\n");
  if (!head.date.empty()) w.field("Date", head.date);
  if (!head.server.empty()) w.field("Server", head.server);
  if (!head.location.empty()) w.field("Location", head.location);
  if (head.status == Status::method_not_allowed) w.field("Allow", allowed_methods);
  if (!head.content_type.empty()) w.field("Content-Type", head.content_type);
  // A 304 carries no content, and a Content-Length there would have to be the
  // 200's (RFC 9110 8.6): leave it out.
  if (head.status != Status::not_modified) w.put("Content-Length: ").put(head.content_length).put("\r\n");
  if (head.status == Status::partial_content) {
    w.put("Content-Range: bytes ").put(head.range.first).put("-").put(head.range.last).put("/");
    w.put(head.complete_length).put("\r\n");
  } else if (head.status == Status::range_not_satisfiable) {
    w.put("Content-Range: bytes */").put(head.complete_length).put("\r\n");
  }
  if (head.last_modified >= 0) {
    char date[http_date_bytes];
    w.field("Last-Modified", format_http_date(head.last_modified, date));
  }
  if (!head.etag.empty()) w.field("ETag", head.etag);
  if (head.accept_ranges) w.field("Accept-Ranges", "bytes");
  w.field("Connection", head.keep_alive ? "keep-alive" : "close");
  w.put("\r\n");
  return w.result();
}

std::size_t write_status_response(const ResponseHead& head, bool head_only, std::span<char> out) noexcept {
  ResponseHead h = head;
  const bool has_body = h.status != Status::not_modified;
  if (has_body) {
    h.content_type = "text/html; charset=utf-8";
    h.content_length = body_open.size() + body_middle.size() + body_close.size() + 2 * status_text_bytes(h.status);
  } else {
    h.content_type = {};
  }
  std::size_t n = write_response_head(h, out);
  if (n == 0 || !has_body || head_only) return n;
  Writer w(out.subspan(n));
  w.put(body_open);
  put_status_text(w, h.status).put(body_middle);
  put_status_text(w, h.status).put(body_close);
  std::size_t body = w.result();
  return body == 0 ? 0 : n + body;
}

}  // namespace ringxfer::http
