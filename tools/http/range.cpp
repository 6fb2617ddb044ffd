#include "http/range.hpp"

#include "http/chars.hpp"

namespace ringxfer::http {
namespace {

using namespace detail;

// 1*DIGIT, saturating at UINT64_MAX; false if empty or not all digits.
bool parse_saturating(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (!is_digit(c)) return false;
    std::uint64_t d = c - '0';
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace

ByteRange parse_range(std::string_view value, std::uint64_t size) noexcept {
  const ByteRange ignore{};
  // range-unit is case-insensitive (RFC 9110 14.1).
  std::size_t eq = value.find('=');
  if (eq == std::string_view::npos || !iequals(trim_ows(value.substr(0, eq)), "bytes")) return ignore;

  // range-set = 1#range-spec: empty list elements are allowed and skipped.
  std::string_view rest = value.substr(eq + 1);
  std::string_view spec;
  std::size_t specs = 0;
  while (rest.data() != nullptr) {
    std::string_view element = next_list_element(rest);
    if (element.empty()) continue;
    if (++specs > 1) return ignore;  // single ranges only (see the header)
    spec = element;
  }
  if (specs == 0) return ignore;

  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return ignore;
  std::string_view first_text = spec.substr(0, dash);
  std::string_view last_text = spec.substr(dash + 1);

  if (first_text.empty()) {  // suffix-range "-n"
    std::uint64_t n = 0;
    if (!parse_saturating(last_text, n)) return ignore;
    if (n == 0) return ByteRange{RangeOutcome::unsatisfiable, 0, 0};
    if (size == 0) return ignore;
    std::uint64_t count = n < size ? n : size;
    return ByteRange{RangeOutcome::satisfiable, size - count, size - 1};
  }

  std::uint64_t first = 0;
  if (!parse_saturating(first_text, first)) return ignore;
  std::uint64_t last = UINT64_MAX;
  if (!last_text.empty()) {
    if (!parse_saturating(last_text, last)) return ignore;
    if (last < first) return ignore;  // invalid int-range (RFC 9110 14.1.1)
  }
  if (first >= size) return ByteRange{RangeOutcome::unsatisfiable, 0, 0};
  return ByteRange{RangeOutcome::satisfiable, first, last < size ? last : size - 1};
}

}  // namespace ringxfer::http
