#pragma once
// Range: bytes=... (RFC 9110 14.1, 14.2) against a file of a known size.
//
//   "bytes=a-b"  a..min(b, size-1)        satisfiable if a < size
//   "bytes=a-"   a..size-1                satisfiable if a < size
//   "bytes=-n"   the last n bytes (all of them if n >= size); "-0": 416
// Outcomes:
//   satisfiable    send 206 with Content-Range: bytes first-last/size
//   unsatisfiable  send 416 with Content-Range: bytes */size
//   ignore         send the whole file, 200: a malformed value, another unit,
//                  b < a, or more than one range. serve sends single ranges
//                  only; a multipart/byteranges answer is not worth its
//                  complexity for a static file server, and RFC 9110 14.2
//                  allows ignoring the field. Also for an empty file with a
//                  suffix range (nothing to select, nothing to refuse).
// Numbers of any length are safe: a first-pos beyond 2^64 is simply >= size
// (416), a last-pos or suffix beyond it covers the file.
#include <cstdint>
#include <string_view>

namespace ringxfer::http {

enum class RangeOutcome : std::uint8_t { ignore, satisfiable, unsatisfiable };

struct ByteRange {
  RangeOutcome outcome = RangeOutcome::ignore;
  std::uint64_t first = 0;  // satisfiable: first and last byte, inclusive
  std::uint64_t last = 0;
  std::uint64_t length() const noexcept { return last - first + 1; }
};

ByteRange parse_range(std::string_view value, std::uint64_t size) noexcept;

}  // namespace ringxfer::http
