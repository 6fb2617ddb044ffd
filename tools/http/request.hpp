#pragma once
// HTTP/1.1 request parser (RFC 9112): incremental, allocation-free.
//
// The caller keeps the bytes it has received in one contiguous buffer and
// calls parse() with the part that starts at the current request, as often as
// bytes arrive. The parser remembers how far it has scanned, so a request that
// dribbles in one byte at a time is scanned once, not once per byte. The
// answer is one of:
//   need_more  the head is incomplete; call again with the same start and more
//              bytes (the buffer may have moved: only offsets are remembered);
//   complete   `consumed` bytes (leading blank lines + request line + fields +
//              the empty line) form one request; `out` holds views into the
//              input, valid while those bytes are. Pipelined requests: call
//              again with input.substr(consumed);
//   error      send `status` and close the connection (the framing can no
//              longer be trusted). Errors are reported as early as the bytes
//              allow: a TLS ClientHello or an HTTP/2 preface fails at once,
//              a request line as soon as it is complete, a limit the moment it
//              is crossed.
// After complete or error the parser is ready for the next request.
//
// Policy (what serve answers; each is a test in tests/http):
// - GET and HEAD are served. Other methods of RFC 9110 (POST, PUT, DELETE,
//   CONNECT, OPTIONS, TRACE) and PATCH: 405 (send Allow: GET, HEAD). Any other
//   token, including lower-case "get" (methods are case-sensitive): 501.
// - HTTP/1.0 and HTTP/1.1 (HTTP/1.x with x > 1 is treated as 1.1, RFC 9110
//   2.5). Any other well-formed version (HTTP/2.0, HTTP/0.9): 505. A
//   malformed version or a request line without one: 400. The HTTP/2 preface
//   ("PRI * HTTP/2.0"): 400.
// - request-target: origin-form; absolute-form with an http or https scheme
//   (the path is taken and the authority replaces Host, RFC 9112 3.2.2);
//   asterisk-form, authority-form, userinfo ("user@host") or a fragment: 400.
//   Longer than Limits::max_uri_bytes: 414.
// - Lines end in CRLF; a bare LF is accepted too (RFC 9112 2.2), a bare CR is
//   400. Blank lines before the request line are skipped (RFC 9112 2.2).
// - Fields: a token name, no whitespace before the colon (400), no obs-fold
//   (a line that starts with SP or HTAB: 400), no control bytes in a value
//   (NUL, CR, DEL...: 400). Head bytes over Limits::max_head_bytes or more
//   than Limits::max_header_count fields: 431.
// - HTTP/1.1 needs exactly one Host field (missing or repeated: 400).
// - Content-Length: digits only; a list or repeated fields must all agree
//   (RFC 9110 8.6); anything else, or a value over 2^63 - 1: 400.
// - A body on GET or HEAD (Content-Length > 0): 413, and the connection is
//   closed. serve has nothing that accepts content, and refusing is simpler
//   and safer than skipping bytes it would then have to trust the length of.
// - Transfer-Encoding (request smuggling): with Content-Length 400, alone 501
//   (no request transfer coding is implemented). Either way: close.
// - Keep-alive: HTTP/1.1 keeps the connection unless "Connection: close";
//   HTTP/1.0 closes unless "Connection: keep-alive".
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/status.hpp"

namespace ringxfer::http {

enum class Method : std::uint8_t {
  get,
  head,
};

struct Header {
  std::string_view name;
  std::string_view value;  // OWS trimmed
};

// The fixed header array of a Request: Limits::max_header_count cannot go
// above it.
inline constexpr std::size_t max_header_slots = 100;

struct Limits {
  std::size_t max_uri_bytes = 8192;      // request-target; over it: 414
  std::size_t max_head_bytes = 16384;    // field lines incl. line ends; over it: 431
  std::size_t max_header_count = 64;     // field lines; over it: 431 (<= max_header_slots)
};

struct Request {
  Method method = Method::get;
  unsigned version_minor = 1;         // HTTP/1.<version_minor>: 0 or 1
  std::string_view request_line;      // "GET /a?b HTTP/1.1", for the access log
  std::string_view method_text;
  std::string_view target;            // as sent
  std::string_view path;              // percent-encoded, no query; starts with '/'
  std::string_view query;             // after '?', without it; data() == nullptr if no '?'
  std::string_view host;              // Host field, or the authority of an absolute-form target
  bool has_host = false;
  bool keep_alive = true;
  std::uint64_t content_length = 0;   // always 0 in a complete request (a body is refused)

  // The fields serve needs. An absent field is a view with data() == nullptr;
  // use present(). Where a field is repeated the first one is kept: for
  // If-None-Match a later line could only turn a 200 into a 304, so ignoring it
  // is safe; a repeated Range or If-Range is not allowed (RFC 9110) and makes
  // the range ignored (range_ignored).
  std::string_view range;
  std::string_view if_range;
  std::string_view if_modified_since;
  std::string_view if_none_match;
  std::string_view user_agent;
  std::string_view referer;
  bool range_ignored = false;

  std::array<Header, max_header_slots> headers;
  std::size_t header_count = 0;

  static constexpr bool present(std::string_view v) noexcept { return v.data() != nullptr; }
};

enum class ParseState : std::uint8_t { need_more, complete, error };

struct ParseResult {
  ParseState state = ParseState::need_more;
  std::size_t consumed = 0;       // complete: bytes of this request
  Status status = Status::ok;     // error: what to send (then close)
};

class RequestParser {
 public:
  explicit RequestParser(Limits limits = {}) noexcept;

  // `input` starts at the first byte of the current request (the same first
  // byte on every call until complete or error).
  ParseResult parse(std::string_view input, Request& out) noexcept;

  // Forget a partly scanned request (e.g. the caller dropped its bytes).
  void reset() noexcept;

  const Limits& limits() const noexcept { return limits_; }

 private:
  // The order matters: from field_start on, scanned bytes count against
  // Limits::max_head_bytes.
  enum class Scan : std::uint8_t {
    blank,        // before the request line: skipping CRLF / LF
    blank_cr,     // a CR seen before the request line
    method,
    target,
    version,
    line_cr,      // CR after the version
    field_start,  // at the start of a field line (or the final empty line)
    field,
    field_cr,
    end_cr,       // CR of the final empty line
  };

  ParseResult fail(Status s) noexcept;
  ParseResult check_request_line(std::string_view input) noexcept;
  ParseResult finish(std::string_view input, std::size_t end, Request& out) noexcept;

  Limits limits_;
  Scan scan_ = Scan::blank;
  std::size_t pos_ = 0;            // bytes scanned so far
  std::size_t line_start_ = 0;     // request line start (after blank lines)
  std::size_t method_end_ = 0;
  std::size_t target_end_ = 0;
  std::size_t line_end_ = 0;       // end of the request line content (before CR/LF)
  std::size_t fields_start_ = 0;   // first byte after the request line
  std::size_t field_count_ = 0;
};

}  // namespace ringxfer::http
