// Range parsing, HTTP-dates, ETags and the conditional request order.
#include <boost/test/unit_test.hpp>

#include <array>
#include <string>

#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/range.hpp"
#include "support.hpp"

using namespace ringxfer::http;

namespace ringxfer::http {
std::ostream& operator<<(std::ostream& os, RangeOutcome o) {
  return os << (o == RangeOutcome::ignore ? "ignore" : o == RangeOutcome::satisfiable ? "satisfiable" : "unsatisfiable");
}
}  // namespace ringxfer::http

namespace {

void expect_range(std::string_view value, std::uint64_t size, std::uint64_t first, std::uint64_t last) {
  ByteRange r = parse_range(value, size);
  BOOST_TEST_CONTEXT("'" << value << "' size " << size) {
    BOOST_TEST(r.outcome == RangeOutcome::satisfiable);
    BOOST_TEST(r.first == first);
    BOOST_TEST(r.last == last);
  }
}

RangeOutcome outcome(std::string_view value, std::uint64_t size) { return parse_range(value, size).outcome; }

}  // namespace

BOOST_AUTO_TEST_SUITE(range)

BOOST_AUTO_TEST_CASE(single_ranges) {
  expect_range("bytes=0-0", 100, 0, 0);
  expect_range("bytes=0-99", 100, 0, 99);
  expect_range("bytes=10-19", 100, 10, 19);
  expect_range("bytes=10-1000", 100, 10, 99);  // last clamped
  expect_range("bytes=90-", 100, 90, 99);
  expect_range("bytes=0-", 100, 0, 99);
  expect_range("bytes=-10", 100, 90, 99);
  expect_range("bytes=-100", 100, 0, 99);
  expect_range("bytes=-1000", 100, 0, 99);  // suffix longer than the file: all of it
  expect_range("BYTES=1-2", 100, 1, 2);     // the unit is case-insensitive
  expect_range("bytes=1-2,", 100, 1, 2);    // empty list elements are skipped
  expect_range("bytes= 1-2 ", 100, 1, 2);
  BOOST_TEST(parse_range("bytes=10-19", 100).length() == 10u);
}

BOOST_AUTO_TEST_CASE(unsatisfiable) {
  BOOST_TEST(outcome("bytes=100-", 100) == RangeOutcome::unsatisfiable);
  BOOST_TEST(outcome("bytes=100-200", 100) == RangeOutcome::unsatisfiable);
  BOOST_TEST(outcome("bytes=0-0", 0) == RangeOutcome::unsatisfiable);
  BOOST_TEST(outcome("bytes=-0", 100) == RangeOutcome::unsatisfiable);
}

BOOST_AUTO_TEST_CASE(ignored) {
  for (const char* v : {"", "bytes", "bytes=", "bytes=,", "bytes=-", "bytes=a-b", "bytes=1-a", "bytes=5-4",
                        "bytes=0-1,5-6", "bytes=0-1, 0-1", "items=0-1", "bytes 0-1", "bytes=1", "bytes=--1",
                        "bytes=-1-2", "bytes=+1-2", "bytes=1 -2", "bytes=0x10-"}) {
    BOOST_TEST_CONTEXT("'" << v << "'") { BOOST_TEST(outcome(v, 100) == RangeOutcome::ignore); }
  }
  BOOST_TEST(outcome("bytes=-5", 0) == RangeOutcome::ignore);  // an empty file: nothing to select
}

BOOST_AUTO_TEST_CASE(huge_numbers_are_safe) {
  const std::uint64_t max = UINT64_MAX;
  BOOST_TEST(outcome("bytes=18446744073709551616-", 100) == RangeOutcome::unsatisfiable);
  BOOST_TEST(outcome("bytes=99999999999999999999999999999999999999-", 100) == RangeOutcome::unsatisfiable);
  expect_range("bytes=0-99999999999999999999999999999999", 100, 0, 99);
  expect_range("bytes=-99999999999999999999999999999999", 100, 0, 99);
  expect_range("bytes=18446744073709551614-", max, max - 1, max - 1);
  expect_range("bytes=-1", max, max - 1, max - 1);
  BOOST_TEST(outcome("bytes=18446744073709551615-", max) == RangeOutcome::unsatisfiable);
  BOOST_TEST(outcome("bytes=" + std::string(100000, '9') + "-", 100) == RangeOutcome::unsatisfiable);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(date)

BOOST_AUTO_TEST_CASE(three_formats_same_instant) {
  const std::int64_t expected = 784111777;  // 1994-11-06 08:49:37 UTC (RFC 9110's example)
  for (const char* text : {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"}) {
    std::int64_t t = 0;
    BOOST_TEST_CONTEXT(text) {
      BOOST_TEST(parse_http_date(text, t));
      BOOST_TEST(t == expected);
    }
  }
  std::int64_t t = 0;
  BOOST_TEST(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", t));
  BOOST_TEST(t == 0);
  BOOST_TEST(parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT", t));
  BOOST_TEST(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", t));
  BOOST_TEST(t == 0);
  BOOST_TEST(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", t));
  BOOST_TEST(t == 946684800);  // 2000
  BOOST_TEST(parse_http_date("Sun Nov 16 08:49:37 1994", t));
}

BOOST_AUTO_TEST_CASE(invalid_dates) {
  for (const char* bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 gmt",
                          "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
                          "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ",
                          " Sun, 06 Nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:3x GMT",
                          "Sun, 06 Nov 19x4 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
                          "Sunday, 06-Nov-1994 08:49:37 GMT", "784111777"}) {
    std::int64_t t = 0;
    BOOST_TEST_CONTEXT("'" << bad << "'") { BOOST_TEST(!parse_http_date(bad, t)); }
  }
}

BOOST_AUTO_TEST_CASE(format_round_trip) {
  std::array<char, http_date_bytes> buf{};
  BOOST_TEST(format_http_date(784111777, buf) == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(format_http_date(0, buf) == "Thu, 01 Jan 1970 00:00:00 GMT");
  BOOST_TEST(format_http_date(1835526159, buf) == "Wed, 01 Mar 2028 12:22:39 GMT");
  for (std::int64_t t = -86400LL * 365 * 50; t < 86400LL * 365 * 200; t += 86400LL * 13 + 3607) {
    std::int64_t back = -1;
    std::string_view text = format_http_date(t, buf);
    BOOST_REQUIRE(parse_http_date(text, back));
    BOOST_REQUIRE_EQUAL(back, t);
  }
}

BOOST_AUTO_TEST_CASE(date_cache_changes_each_second) {
  DateCache cache;
  std::string a(cache.at(784111777));
  BOOST_TEST(a == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(cache.at(784111777) == a);
  BOOST_TEST(cache.at(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(conditional)

BOOST_AUTO_TEST_CASE(etag_format) {
  BOOST_TEST(ETag::from(0x1234, 0x5f000000).view() == "\"5f000000-1234\"");
  BOOST_TEST(ETag::from(0, 0).view() == "\"0-0\"");
  BOOST_TEST(ETag::from(UINT64_MAX, INT64_MAX).view() == "\"7fffffffffffffff-ffffffffffffffff\"");
}

BOOST_AUTO_TEST_CASE(if_none_match_lists) {
  const std::string_view tag = "\"5f-10\"";
  BOOST_TEST(if_none_match_matches("\"5f-10\"", tag));
  BOOST_TEST(if_none_match_matches("W/\"5f-10\"", tag));  // weak comparison
  BOOST_TEST(if_none_match_matches("\"a\", \"5f-10\"", tag));
  BOOST_TEST(if_none_match_matches("\"a\",W/\"5f-10\" ,\"b\"", tag));
  BOOST_TEST(if_none_match_matches("*", tag));
  BOOST_TEST(if_none_match_matches(" * ", tag));
  BOOST_TEST(if_none_match_matches("\"a,b\", \"5f-10\"", tag));  // a comma inside a tag
  BOOST_TEST(!if_none_match_matches("\"5f-11\"", tag));
  BOOST_TEST(!if_none_match_matches("5f-10", tag));            // unquoted: malformed
  BOOST_TEST(!if_none_match_matches("\"5f-10", tag));          // unterminated
  BOOST_TEST(!if_none_match_matches("\"x\" \"5f-10\"", tag));  // no comma: malformed, ignored
  BOOST_TEST(!if_none_match_matches("w/\"5f-10\"", tag));      // W/ is case-sensitive
  BOOST_TEST(!if_none_match_matches("", tag));
  BOOST_TEST(!if_none_match_matches("*, \"5f-10\"", tag));     // "*" only alone
}

BOOST_AUTO_TEST_CASE(if_range_forms) {
  const std::string_view tag = "\"5f-10\"";
  BOOST_TEST(if_range_matches("\"5f-10\"", tag, 784111777));
  BOOST_TEST(!if_range_matches("W/\"5f-10\"", tag, 784111777));  // strong comparison only
  BOOST_TEST(!if_range_matches("\"5f-11\"", tag, 784111777));
  BOOST_TEST(if_range_matches("Sun, 06 Nov 1994 08:49:37 GMT", tag, 784111777));
  BOOST_TEST(!if_range_matches("Sun, 06 Nov 1994 08:49:38 GMT", tag, 784111777));
  BOOST_TEST(!if_range_matches("Sun, 06 Nov 1994 08:49:36 GMT", tag, 784111777));
  BOOST_TEST(!if_range_matches("garbage", tag, 784111777));
  BOOST_TEST(!strong_etag_equal("W/\"a\"", "W/\"a\""));
}

namespace {

Selection select(const std::string& fields, bool head = false) {
  std::string text = std::string(head ? "HEAD" : "GET") + " /f HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n";
  auto p = httptest::parse(text);
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  ETag tag = ETag::from(1000, 784111777);
  return select_response(*p.request, Representation{1000, 784111777, tag.view()});
}

}  // namespace

BOOST_AUTO_TEST_CASE(selection_order) {
  const std::string tag = "\"2ebc98a1-3e8\"";
  const std::string mtime = "Sun, 06 Nov 1994 08:49:37 GMT";
  const std::string later = "Sun, 06 Nov 1994 08:49:38 GMT";
  const std::string earlier = "Sun, 06 Nov 1994 08:49:36 GMT";
  BOOST_TEST(ETag::from(1000, 784111777).view() == tag);

  BOOST_TEST(select("").status == Status::ok);
  BOOST_TEST(select("If-None-Match: " + tag + "\r\n").status == Status::not_modified);
  BOOST_TEST(select("If-None-Match: " + tag + "\r\n", true).status == Status::not_modified);
  BOOST_TEST(select("If-None-Match: \"other\"\r\n").status == Status::ok);
  BOOST_TEST(select("If-Modified-Since: " + mtime + "\r\n").status == Status::not_modified);
  BOOST_TEST(select("If-Modified-Since: " + later + "\r\n").status == Status::not_modified);
  BOOST_TEST(select("If-Modified-Since: " + earlier + "\r\n").status == Status::ok);
  BOOST_TEST(select("If-Modified-Since: not a date\r\n").status == Status::ok);
  // If-None-Match present: If-Modified-Since is not evaluated (RFC 9110 13.2.2).
  BOOST_TEST(select("If-None-Match: \"other\"\r\nIf-Modified-Since: " + later + "\r\n").status == Status::ok);
  // A 304 wins over a range.
  BOOST_TEST(select("If-None-Match: *\r\nRange: bytes=0-9\r\n").status == Status::not_modified);

  Selection s = select("Range: bytes=10-19\r\n");
  BOOST_TEST(s.status == Status::partial_content);
  BOOST_TEST(s.range.first == 10u);
  BOOST_TEST(s.range.last == 19u);
  BOOST_TEST(select("Range: bytes=1000-\r\n").status == Status::range_not_satisfiable);
  BOOST_TEST(select("Range: bytes=0-1,3-4\r\n").status == Status::ok);
  BOOST_TEST(select("Range: bytes=0-1\r\nRange: bytes=3-4\r\n").status == Status::ok);
  BOOST_TEST(select("Range: bytes=0-9\r\n", true).status == Status::ok);  // HEAD ignores Range
  BOOST_TEST(select("Range: bytes=0-9\r\nIf-Range: " + tag + "\r\n").status == Status::partial_content);
  BOOST_TEST(select("Range: bytes=0-9\r\nIf-Range: \"old\"\r\n").status == Status::ok);
  BOOST_TEST(select("Range: bytes=0-9\r\nIf-Range: W/" + tag + "\r\n").status == Status::ok);
  BOOST_TEST(select("Range: bytes=0-9\r\nIf-Range: " + mtime + "\r\n").status == Status::partial_content);
  BOOST_TEST(select("Range: bytes=0-9\r\nIf-Range: " + earlier + "\r\n").status == Status::ok);
  BOOST_TEST(select("If-Range: " + tag + "\r\n").status == Status::ok);  // no Range: If-Range ignored
  // A failed If-Range turns a would-be 416 into a 200 with the whole file.
  BOOST_TEST(select("Range: bytes=5000-\r\nIf-Range: \"old\"\r\n").status == Status::ok);
}

BOOST_AUTO_TEST_SUITE_END()
