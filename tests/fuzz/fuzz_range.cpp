// libFuzzer target: the value parsers of conditional and range requests
// (tools/http/range.hpp, date.hpp, conditional.hpp).
//
// Input: 8 bytes of file size (little-endian; the first byte's low bit picks
// a small size instead, so both ends of the size range are reached), then
// the field value. Invariants:
// - a satisfiable range lies inside the file; an unsatisfiable one has a
//   reason (a first-pos at or past the end, or a zero suffix);
// - an accepted HTTP-date formats back to an IMF-fixdate that parses to the
//   same instant;
// - the ETag matchers agree with themselves (a tag matches itself).
#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "fuzz_check.hpp"
#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/range.hpp"

using namespace ringxfer::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t file_size = 0;
  std::memcpy(&file_size, data, 8);
  if (data[0] & 1) file_size = data[1];
  std::string_view value(reinterpret_cast<const char*>(data + 8), size - 8);

  ByteRange r = parse_range(value, file_size);
  if (r.outcome == RangeOutcome::satisfiable) {
    FUZZ_CHECK(r.first <= r.last);
    FUZZ_CHECK(r.last < file_size);
    FUZZ_CHECK(r.length() >= 1 && r.length() <= file_size);
  }
  // The same header against a file one byte larger never turns a satisfiable
  // range unsatisfiable.
  if (r.outcome == RangeOutcome::satisfiable && file_size < UINT64_MAX) {
    FUZZ_CHECK(parse_range(value, file_size + 1).outcome == RangeOutcome::satisfiable);
  }

  std::int64_t t = 0;
  if (parse_http_date(value, t)) {
    // Any accepted date is a real calendar instant in years 0000-9999.
    FUZZ_CHECK(t >= days_from_civil(0, 1, 1) * 86400);
    FUZZ_CHECK(t < days_from_civil(10000, 1, 1) * 86400);
    std::array<char, http_date_bytes> text;
    std::int64_t back = -1;
    FUZZ_CHECK(parse_http_date(format_http_date(t, text), back));
    FUZZ_CHECK(back == t);  // (a leap second :60 was folded onto :59 already)
    FUZZ_CHECK(if_range_matches(format_http_date(t, text), "\"x\"", t));
  }

  ETag tag = ETag::from(file_size, static_cast<std::int64_t>(file_size >> 3));
  FUZZ_CHECK(if_none_match_matches(tag.view(), tag.view()));
  FUZZ_CHECK(strong_etag_equal(tag.view(), tag.view()));
  (void)if_none_match_matches(value, tag.view());
  (void)if_range_matches(value, tag.view(), 784111777);
  // If the value is exactly our tag, both matchers must say so.
  if (value == tag.view()) {
    FUZZ_CHECK(if_none_match_matches(value, tag.view()));
    FUZZ_CHECK(if_range_matches(value, tag.view(), 0));
  }
  return 0;
}
