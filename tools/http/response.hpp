#pragma once
// Response heads (and the small bodies of status responses) written into a
// caller-provided buffer: no allocation. A write that does not fit returns 0
// and the buffer's content is unspecified; 1 KiB holds any head serve sends
// unless Location or Content-Type are unusually long.
#include <cstdint>
#include <span>
#include <string_view>

#include "http/range.hpp"
#include "http/status.hpp"

namespace ringxfer::http {

inline constexpr std::string_view default_server_name = "ringxfer";
inline constexpr std::string_view allowed_methods = "GET, HEAD";

struct ResponseHead {
  Status status = Status::ok;
  bool keep_alive = true;             // Connection: keep-alive / close
  std::string_view date;              // DateCache::at(now); empty: no Date field
  std::string_view server = default_server_name;
  std::string_view content_type;      // empty: none
  std::uint64_t content_length = 0;   // sent for every status except 304
  // 206: Content-Range: bytes first-last/complete_length.
  // 416: Content-Range: bytes */complete_length.
  ByteRange range;
  std::uint64_t complete_length = 0;
  std::int64_t last_modified = -1;    // unix seconds; < 0: no Last-Modified
  std::string_view etag;              // empty: none
  bool accept_ranges = false;         // Accept-Ranges: bytes
  std::string_view location;          // 301: Location (as is: must already be a valid URI reference)
};

// Status line and fields, ending with the empty line. 405 always gets
// Allow: GET, HEAD. Returns the bytes written, 0 if out is too small.
std::size_t write_response_head(const ResponseHead& head, std::span<char> out) noexcept;

// A complete response for a status without a file: head.status, keep_alive,
// date, server, location and (416) complete_length are used; the body is a
// short HTML page naming the status ("404 Not Found"), Content-Type
// text/html, Content-Length its size. head_only (HEAD requests): the same
// head, no body. 304 has neither body nor Content-Length.
std::size_t write_status_response(const ResponseHead& head, bool head_only, std::span<char> out) noexcept;

}  // namespace ringxfer::http
