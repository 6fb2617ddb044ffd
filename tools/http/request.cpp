#include "http/request.hpp"

#include <algorithm>

#include "http/chars.hpp"

namespace ringxfer::http {
namespace {

using namespace detail;

// Longer than any method we know: stop waiting for the SP.
constexpr std::size_t max_method_bytes = 32;
// "HTTP/1.1" is 8 bytes.
constexpr std::size_t version_bytes = 8;

// Methods of RFC 9110 section 9 (and PATCH, RFC 5789) that serve knows but
// does not allow on a static file: 405 rather than 501.
constexpr std::string_view known_not_allowed[] = {"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

// Host = uri-host [ ":" port ]; uri-host = IP-literal / IPv4address / reg-name.
// The characters of all three (unreserved, pct-encoded, sub-delims, ':', '[',
// ']'); anything else (SP, '/', '@', '"', ...) is not a host.
bool is_host_char(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case '%':
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
    case ':': case '[': case ']':
      return true;
    default:
      return false;
  }
}

// request-target bytes: visible ASCII.
constexpr bool is_target_char(unsigned char c) noexcept { return c > 0x20 && c < 0x7f; }

bool valid_host(std::string_view host) noexcept {
  for (char c : host) {
    if (!is_host_char(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Content-Length = 1*DIGIT, possibly as a list of equal values ("42, 42").
// `seen` carries the value across repeated fields.
bool merge_content_length(std::string_view value, bool& seen, std::uint64_t& length) noexcept {
  std::string_view rest = value;
  bool any = false;
  while (rest.data() != nullptr) {
    std::string_view element = next_list_element(rest);
    std::uint64_t v = 0;
    // Over INT64_MAX is not a length anyone can send; it is an attack or a bug.
    if (!parse_u64(element, v) || v > static_cast<std::uint64_t>(INT64_MAX)) return false;
    if (seen && v != length) return false;
    seen = true;
    length = v;
    any = true;
  }
  return any;
}

// Connection = #connection-option; only "close" and "keep-alive" matter.
void apply_connection(std::string_view value, bool& saw_close, bool& saw_keep_alive) noexcept {
  std::string_view rest = value;
  while (rest.data() != nullptr) {
    std::string_view option = next_list_element(rest);
    if (iequals(option, "close")) saw_close = true;
    if (iequals(option, "keep-alive")) saw_keep_alive = true;
  }
}

void keep_first(std::string_view& slot, std::string_view value) noexcept {
  if (slot.data() == nullptr) slot = value;
}

}  // namespace

RequestParser::RequestParser(Limits limits) noexcept : limits_(limits) {
  if (limits_.max_header_count > max_header_slots) limits_.max_header_count = max_header_slots;
}

void RequestParser::reset() noexcept {
  scan_ = Scan::blank;
  pos_ = line_start_ = method_end_ = target_end_ = line_end_ = fields_start_ = field_count_ = 0;
}

ParseResult RequestParser::fail(Status s) noexcept {
  reset();
  return ParseResult{ParseState::error, 0, s};
}

ParseResult RequestParser::parse(std::string_view input, Request& out) noexcept {
  const std::size_t n = input.size();
  std::size_t pos = pos_;
  while (pos < n) {
    const auto c = static_cast<unsigned char>(input[pos]);
    switch (scan_) {
      case Scan::blank:
        if (c == '\r') {
          scan_ = Scan::blank_cr;
        } else if (c != '\n') {
          line_start_ = pos;
          scan_ = Scan::method;
          continue;  // the byte is the first of the method
        }
        // Blank lines are tolerated, not a way to keep a connection busy.
        if (pos >= limits_.max_head_bytes) return fail(Status::bad_request);
        break;
      case Scan::blank_cr:
        if (c != '\n') return fail(Status::bad_request);
        scan_ = Scan::blank;
        break;
      case Scan::method:
        if (c == ' ') {
          if (pos == line_start_) return fail(Status::bad_request);
          method_end_ = pos;
          scan_ = Scan::target;
          break;
        }
        // A TLS ClientHello (0x16 ...) or any binary protocol fails on its
        // first byte: it is not a token.
        if (!is_tchar(c)) return fail(Status::bad_request);
        if (pos - line_start_ >= max_method_bytes) return fail(Status::not_implemented);
        break;
      case Scan::target: {
        if (c == ' ') {
          if (pos == method_end_ + 1) return fail(Status::bad_request);
          target_end_ = pos;
          scan_ = Scan::version;
          break;
        }
        // Only visible ASCII: no CTL, no second SP, no obs-text; a line end
        // here is an HTTP/0.9 request, which we do not speak.
        if (!is_target_char(c)) return fail(Status::bad_request);
        // The rest of the target's ordinary bytes in a tight loop, not one
        // switch per byte; never further than one byte past the limit.
        const std::size_t target_start = method_end_ + 1;
        const std::size_t stop = std::min(n, target_start + limits_.max_uri_bytes + 1);
        std::size_t end = pos + 1;
        while (end < stop && is_target_char(static_cast<unsigned char>(input[end]))) ++end;
        if (end - target_start > limits_.max_uri_bytes) return fail(Status::uri_too_long);
        pos = end;
        continue;
      }
      case Scan::version:
        if (c == '\r' || c == '\n') {
          line_end_ = pos;
          if (c == '\r') {
            scan_ = Scan::line_cr;
            break;
          }
          fields_start_ = pos + 1;
          scan_ = Scan::field_start;
          if (ParseResult r = check_request_line(input); r.state == ParseState::error) return r;
          break;
        }
        if (pos - target_end_ > version_bytes) return fail(Status::bad_request);
        break;
      case Scan::line_cr:
        if (c != '\n') return fail(Status::bad_request);
        fields_start_ = pos + 1;
        scan_ = Scan::field_start;
        if (ParseResult r = check_request_line(input); r.state == ParseState::error) return r;
        break;
      case Scan::field_start:
        if (c == '\r') {
          scan_ = Scan::end_cr;
          break;
        }
        if (c == '\n') {
          return finish(input, pos + 1, out);
        }
        // obs-fold, or whitespace between the request line and the first
        // field (RFC 9112 2.2, 5.2): both rejected.
        if (is_ows(c)) return fail(Status::bad_request);
        if (++field_count_ > limits_.max_header_count) return fail(Status::header_fields_too_large);
        scan_ = Scan::field;
        continue;  // the byte is the first of the name
      case Scan::field:
        if (c == '\r') {
          scan_ = Scan::field_cr;
        } else if (c == '\n') {
          scan_ = Scan::field_start;
        } else if (!is_field_value_char(c)) {
          // NUL, DEL or another control byte: invalid in a name and in a
          // value (RFC 9110 5.5), so refused here, as soon as it arrives.
          return fail(Status::bad_request);
        } else {
          // The rest of the line's ordinary bytes at once, never further
          // than one byte past the limit.
          const std::size_t stop = std::min(n, fields_start_ + limits_.max_head_bytes + 1);
          std::size_t end = pos + 1;
          while (end < stop && is_field_value_char(static_cast<unsigned char>(input[end]))) ++end;
          pos = end;
          if (pos - fields_start_ > limits_.max_head_bytes) return fail(Status::header_fields_too_large);
          continue;
        }
        break;
      case Scan::field_cr:
        if (c != '\n') return fail(Status::bad_request);  // a bare CR
        scan_ = Scan::field_start;
        break;
      case Scan::end_cr:
        if (c != '\n') return fail(Status::bad_request);
        return finish(input, pos + 1, out);
    }
    ++pos;
    if (scan_ >= Scan::field_start && pos - fields_start_ > limits_.max_head_bytes) {
      return fail(Status::header_fields_too_large);
    }
  }
  pos_ = pos;
  return ParseResult{ParseState::need_more, 0, Status::ok};
}

// The request line is complete: judge it now, without waiting for the fields.
ParseResult RequestParser::check_request_line(std::string_view input) noexcept {
  std::string_view method = input.substr(line_start_, method_end_ - line_start_);
  std::string_view target = input.substr(method_end_ + 1, target_end_ - method_end_ - 1);
  std::string_view version = input.substr(target_end_ + 1, line_end_ - target_end_ - 1);

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
  if (version.size() != version_bytes || !version.starts_with("HTTP/") || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return fail(Status::bad_request);
  }
  // The HTTP/2 connection preface on a plain HTTP/1 port: a client that got
  // the wrong port, not a version to negotiate.
  if (method == "PRI" && target == "*" && version == "HTTP/2.0") return fail(Status::bad_request);
  if (version[5] != '1') return fail(Status::version_not_supported);

  if (method != "GET" && method != "HEAD") {
    for (std::string_view known : known_not_allowed) {
      if (method == known) return fail(Status::method_not_allowed);
    }
    return fail(Status::not_implemented);
  }
  if (target.front() != '/') {
    // absolute-form needs a scheme ("http://"); "*" and "host:port" do not
    // name a file.
    std::size_t colon = target.find("://");
    if (colon == std::string_view::npos) return fail(Status::bad_request);
    std::string_view scheme = target.substr(0, colon);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return fail(Status::bad_request);
  }
  if (target.find('#') != std::string_view::npos) return fail(Status::bad_request);
  return ParseResult{ParseState::need_more, 0, Status::ok};
}

ParseResult RequestParser::finish(std::string_view input, std::size_t end, Request& out) noexcept {
  // The offsets are read before fail()/reset() clear them.
  const std::string_view method = input.substr(line_start_, method_end_ - line_start_);
  const std::string_view target = input.substr(method_end_ + 1, target_end_ - method_end_ - 1);
  const unsigned version_digit = static_cast<unsigned>(input[line_end_ - 1] - '0');
  const std::string_view request_line = input.substr(line_start_, line_end_ - line_start_);
  const std::string_view fields = input.substr(fields_start_, end - fields_start_);

  out.method = method == "HEAD" ? Method::head : Method::get;
  out.version_minor = version_digit == 0 ? 0 : 1;
  out.request_line = request_line;
  out.method_text = method;
  out.target = target;
  out.host = {};
  out.has_host = false;
  out.content_length = 0;
  out.range = out.if_range = out.if_modified_since = out.if_none_match = out.user_agent = out.referer = {};
  out.range_ignored = false;
  out.header_count = 0;

  // Target: origin-form, or absolute-form (checked for its scheme already).
  std::string_view path_and_query = target;
  bool absolute_form = target.front() != '/';
  if (absolute_form) {
    std::string_view rest = target.substr(target.find("://") + 3);
    std::size_t authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    // userinfo ("user:pass@host") is deprecated and a classic source of
    // confusion about which host is meant.
    if (authority.empty() || authority.find('@') != std::string_view::npos || !valid_host(authority)) {
      return fail(Status::bad_request);
    }
    out.host = authority;
    out.has_host = true;
    path_and_query = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  }
  std::size_t question = path_and_query.find('?');
  out.path = path_and_query.substr(0, question);
  out.query = question == std::string_view::npos ? std::string_view{} : path_and_query.substr(question + 1);
  if (out.path.empty()) out.path = "/";  // "http://host" or "http://host?q"

  std::size_t host_fields = 0;
  bool saw_content_length = false;
  bool saw_transfer_encoding = false;
  bool saw_close = false;
  bool saw_keep_alive = false;
  std::size_t range_fields = 0;
  std::size_t if_range_fields = 0;
  std::uint64_t content_length = 0;

  std::string_view rest = fields;
  while (!rest.empty()) {
    std::size_t lf = rest.find('\n');  // the scan guarantees one per line
    std::string_view line = rest.substr(0, lf);
    rest.remove_prefix(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the final empty line

    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(Status::bad_request);
    std::string_view name = line.substr(0, colon);
    // No whitespace between the name and the colon (RFC 9112 5.1): a token
    // check covers it.
    for (char ch : name) {
      if (!is_tchar(static_cast<unsigned char>(ch))) return fail(Status::bad_request);
    }
    // The scan refused every control byte of the line already.
    std::string_view value = trim_ows(line.substr(colon + 1));
    out.headers[out.header_count++] = Header{name, value};

    if (iequals(name, "host")) {
      ++host_fields;
      if (!valid_host(value)) return fail(Status::bad_request);
      // The authority of an absolute-form target wins (RFC 9112 3.2.2).
      if (!absolute_form) {
        out.host = value;
        out.has_host = true;
      }
    } else if (iequals(name, "content-length")) {
      if (!merge_content_length(value, saw_content_length, content_length)) return fail(Status::bad_request);
    } else if (iequals(name, "transfer-encoding")) {
      saw_transfer_encoding = true;
    } else if (iequals(name, "connection")) {
      apply_connection(value, saw_close, saw_keep_alive);
    } else if (iequals(name, "range")) {
      ++range_fields;
      keep_first(out.range, value);
    } else if (iequals(name, "if-range")) {
      ++if_range_fields;
      keep_first(out.if_range, value);
    } else if (iequals(name, "if-modified-since")) {
      keep_first(out.if_modified_since, value);
    } else if (iequals(name, "if-none-match")) {
      keep_first(out.if_none_match, value);
    } else if (iequals(name, "user-agent")) {
      keep_first(out.user_agent, value);
    } else if (iequals(name, "referer")) {
      keep_first(out.referer, value);
    }
  }

  // Request smuggling: a length and a coding disagree about where the body
  // ends; a coding alone is one we do not decode. Either way, close.
  if (saw_transfer_encoding) return fail(saw_content_length ? Status::bad_request : Status::not_implemented);
  if (host_fields > 1) return fail(Status::bad_request);
  // RFC 9112 3.2: every HTTP/1.1 request carries Host, also with an
  // absolute-form target (whose authority is then used instead).
  if (out.version_minor == 1 && host_fields == 0) return fail(Status::bad_request);
  if (content_length > 0) return fail(Status::content_too_large);

  out.range_ignored = range_fields > 1 || if_range_fields > 1;
  out.keep_alive = out.version_minor == 1 ? !saw_close : (saw_keep_alive && !saw_close);
  reset();
  return ParseResult{ParseState::complete, end, Status::ok};
}

}  // namespace ringxfer::http
