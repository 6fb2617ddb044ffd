#include "http/conditional.hpp"

#include "http/chars.hpp"
#include "http/date.hpp"

namespace ringxfer::http {
namespace {

using namespace detail;

// etagc = "!" / %x23-7E / obs-text
bool is_etagc(unsigned char c) noexcept { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, at the start of `s`. On success
// `tag` is the opaque-tag (with its quotes), `weak` set, `s` advanced.
bool take_entity_tag(std::string_view& s, std::string_view& tag, bool& weak) noexcept {
  weak = s.starts_with("W/");
  std::string_view t = weak ? s.substr(2) : s;
  if (t.empty() || t.front() != '"') return false;
  std::size_t i = 1;
  while (i < t.size() && t[i] != '"') {
    if (!is_etagc(static_cast<unsigned char>(t[i]))) return false;
    ++i;
  }
  if (i >= t.size()) return false;  // no closing quote
  tag = t.substr(0, i + 1);
  s = t.substr(i + 1);
  return true;
}

// Our own tag, split the same way.
bool split_own(std::string_view etag, std::string_view& opaque, bool& weak) noexcept {
  std::string_view s = etag;
  return take_entity_tag(s, opaque, weak) && s.empty();
}

char hex_digit(unsigned v) noexcept { return "0123456789abcdef"[v & 15]; }

std::size_t put_hex(char* p, std::uint64_t v) noexcept {
  char tmp[16];
  std::size_t n = 0;
  do {
    tmp[n++] = hex_digit(unsigned(v & 15));
    v >>= 4;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) p[i] = tmp[n - 1 - i];
  return n;
}

}  // namespace

ETag ETag::from(std::uint64_t size, std::int64_t mtime_seconds) noexcept {
  ETag e;
  char* p = e.data_;
  std::size_t n = 0;
  p[n++] = '"';
  n += put_hex(p + n, static_cast<std::uint64_t>(mtime_seconds));
  p[n++] = '-';
  n += put_hex(p + n, size);
  p[n++] = '"';
  e.size_ = static_cast<std::uint8_t>(n);
  return e;
}

bool if_none_match_matches(std::string_view field, std::string_view etag) noexcept {
  std::string_view own;
  bool own_weak = false;
  if (!split_own(etag, own, own_weak)) return false;
  std::string_view s = trim_ows(field);
  if (s == "*") return true;  // any current representation: the file exists
  // #entity-tag; commas may appear inside a quoted tag, so walk tag by tag.
  bool matched = false;
  while (!s.empty()) {
    if (s.front() == ',' || is_ows(static_cast<unsigned char>(s.front()))) {
      s.remove_prefix(1);
      continue;
    }
    std::string_view tag;
    bool weak = false;
    if (!take_entity_tag(s, tag, weak)) return false;  // malformed: ignore the field
    if (tag == own) matched = true;
    s = trim_ows(s);
    if (!s.empty() && s.front() != ',') return false;
  }
  return matched;
}

bool strong_etag_equal(std::string_view a, std::string_view b) noexcept {
  std::string_view ta, tb;
  bool wa = false, wb = false;
  return split_own(a, ta, wa) && split_own(b, tb, wb) && !wa && !wb && ta == tb;
}

bool if_range_matches(std::string_view field, std::string_view etag, std::int64_t mtime_seconds) noexcept {
  field = trim_ows(field);
  if (field.starts_with('"') || field.starts_with("W/")) return strong_etag_equal(field, etag);
  std::int64_t date = 0;
  return parse_http_date(field, date) && date == mtime_seconds;
}

Selection select_response(const Request& request, const Representation& file) noexcept {
  if (Request::present(request.if_none_match)) {
    if (if_none_match_matches(request.if_none_match, file.etag)) return Selection{Status::not_modified, {}};
  } else if (Request::present(request.if_modified_since)) {
    std::int64_t since = 0;
    if (parse_http_date(request.if_modified_since, since) && file.mtime_seconds <= since) {
      return Selection{Status::not_modified, {}};
    }
  }
  if (request.method != Method::get || !Request::present(request.range) || request.range_ignored) {
    return Selection{Status::ok, {}};
  }
  if (Request::present(request.if_range) && !if_range_matches(request.if_range, file.etag, file.mtime_seconds)) {
    return Selection{Status::ok, {}};
  }
  ByteRange r = parse_range(request.range, file.size);
  switch (r.outcome) {
    case RangeOutcome::satisfiable: return Selection{Status::partial_content, r};
    case RangeOutcome::unsatisfiable: return Selection{Status::range_not_satisfiable, r};
    case RangeOutcome::ignore: break;
  }
  return Selection{Status::ok, {}};
}

}  // namespace ringxfer::http
