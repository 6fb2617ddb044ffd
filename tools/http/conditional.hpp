#pragma once
// Validators and conditional requests (RFC 9110 8.8, 13).
//
// ETag: "\"<hex mtime seconds>-<hex size>\"" (a strong tag: the same bytes
// have the same size and mtime; a file rewritten within one second with the
// same size is the known blind spot, shared with nginx's tags).
//
// select_response() evaluates, in the order of RFC 9110 13.2.2:
//   1. If-None-Match present: a match (weak comparison, "*" matches any file)
//      -> 304; otherwise If-Modified-Since is not looked at.
//   2. else If-Modified-Since, a valid HTTP-date: mtime <= date -> 304.
//   3. Range, GET only (RFC 9110 14.2: HEAD and others ignore it): with
//      If-Range, only when it matches (strong ETag comparison, or the exact
//      Last-Modified date); then 206, 416, or 200 for an ignored range.
//   4. 200.
// (If-Match and If-Unmodified-Since are not evaluated: they guard writes, and
// serve has none; RFC 9110 allows a server to ignore them on GET.)
#include <cstdint>
#include <string_view>

#include "http/range.hpp"
#include "http/request.hpp"
#include "http/status.hpp"

namespace ringxfer::http {

class ETag {
 public:
  static ETag from(std::uint64_t size, std::int64_t mtime_seconds) noexcept;
  std::string_view view() const noexcept { return std::string_view(data_, size_); }

 private:
  char data_[40] = {};  // 2 quotes + 16 + '-' + 16 hex digits
  std::uint8_t size_ = 0;
};

// If-None-Match: "*" or a list of entity-tags; true if one matches `etag`
// under weak comparison (W/ ignored on both). A malformed list matches
// nothing (the field is ignored).
bool if_none_match_matches(std::string_view field, std::string_view etag) noexcept;

// Strong comparison: both tags strong and equal (If-Range, RFC 9110 13.1.5).
bool strong_etag_equal(std::string_view a, std::string_view b) noexcept;

// If-Range: an entity-tag (strong comparison) or an HTTP-date (exactly the
// Last-Modified second). A weak tag or garbage never matches.
bool if_range_matches(std::string_view field, std::string_view etag, std::int64_t mtime_seconds) noexcept;

struct Representation {
  std::uint64_t size = 0;
  std::int64_t mtime_seconds = 0;
  std::string_view etag;
};

struct Selection {
  Status status = Status::ok;  // ok, partial_content, not_modified, range_not_satisfiable
  ByteRange range;             // partial_content: the bytes to send
};

Selection select_response(const Request& request, const Representation& file) noexcept;

}  // namespace ringxfer::http
