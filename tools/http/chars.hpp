#pragma once
// Character classes of RFC 9110 section 5.6 and small helpers shared by the
// parsers. Internal to tools/http.
#include <cstdint>
#include <string_view>

namespace ringxfer::http::detail {

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_ows(unsigned char c) noexcept { return c == ' ' || c == '\t'; }

// field-vchar / SP / HTAB: VCHAR, obs-text (0x80-0xFF), SP, HTAB. Every other
// control byte (NUL, CR, LF, DEL ...) is invalid in a field value.
constexpr bool is_field_value_char(unsigned char c) noexcept {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && is_ows(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits a comma-separated list (RFC 9110 5.6.1 `#rule`): returns the next
// element with OWS trimmed (possibly empty) and advances `rest` past it.
constexpr std::string_view next_list_element(std::string_view& rest) noexcept {
  std::size_t comma = rest.find(',');
  std::string_view element = rest.substr(0, comma);
  rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  return trim_ows(element);
}

// 1*DIGIT into a uint64; false on an empty string, a non-digit, or overflow.
constexpr bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (!is_digit(c)) return false;
    std::uint64_t d = c - '0';
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace ringxfer::http::detail
