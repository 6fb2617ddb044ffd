#pragma once
// Request path -> a relative path below the served root.
//
// The input is Request::path (percent-encoded, starts with '/', no query). The
// result is written to a caller-provided buffer: no allocation. Rules:
//   400  malformed percent-encoding ("%4", "%zz"), a NUL or other control
//        byte, raw or encoded ("%00", "%0a"); a path that does not start
//        with '/'.
//   403  a ".." segment, also encoded ("%2e%2e", ".%2E"); an encoded slash
//        ("%2f": a file name cannot contain '/', and decoding it would let a
//        segment check be bypassed); a backslash, raw or "%5c" (Windows-style
//        separators mean traversal to some other component).
//   404  a segment longer than NAME_MAX (255): no such file can exist.
//   414  the decoded path does not fit in the buffer.
// Empty segments ("//") and "." segments are dropped. The root is ".". A
// trailing slash (or a final "." segment) sets `directory`: the client named a
// directory (serve then looks for index.html, and sends 301 to "path/" when a
// directory was named without it). Decoded bytes >= 0x80 (UTF-8 names) pass.
//
// This is the first fence, not the only one: serve opens the result with
// openat2(RESOLVE_BENEATH) so that symlinks cannot leave the root either.
#include <span>
#include <string_view>

#include "http/status.hpp"

namespace ringxfer::http {

struct PathResult {
  Status status = Status::ok;     // ok, or the status to send
  std::string_view relative;      // into the caller's buffer: "a/b.txt", "." for the root
  bool directory = false;
};

inline constexpr std::size_t max_segment_bytes = 255;  // NAME_MAX

PathResult normalize_path(std::string_view path, std::span<char> out) noexcept;

// The Location of the 301 for a directory named without its trailing slash:
// Request::path + "/" + ("?" query, if the request had one: a query view
// with data() != nullptr, as Request::query), into `out`;
// empty if it does not fit. The path is sent back as the client encoded it
// (the parser admits only visible ASCII there, so no header can be injected).
std::string_view directory_location(std::string_view path, std::string_view query, std::span<char> out) noexcept;

}  // namespace ringxfer::http
