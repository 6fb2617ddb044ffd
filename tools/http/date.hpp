#pragma once
// HTTP-date (RFC 9110 5.6.7): parse all three formats, format IMF-fixdate.
// Pure arithmetic on the proleptic Gregorian calendar in UTC: no time zone
// database, no locale, no libc time calls.
#include <cstdint>
#include <span>
#include <string_view>

namespace ringxfer::http {

// "Sun, 06 Nov 1994 08:49:37 GMT" is always 29 bytes.
inline constexpr std::size_t http_date_bytes = 29;

// Accepts IMF-fixdate, and the obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37
// GMT") and asctime ("Sun Nov  6 08:49:37 1994") formats, as RFC 9110
// requires of recipients. Exact syntax, case-sensitive names, GMT only; the
// weekday name must be a weekday name but is not checked against the date.
// RFC 850 two-digit years: 70-99 -> 19yy, 00-69 -> 20yy (the POSIX %y rule;
// RFC 9110's "more than 50 years in the future" rule needs a clock and differs
// only for 70-76 until 2027). false: not an HTTP-date (the caller ignores the
// field, as RFC 9110 13.1.3 says).
bool parse_http_date(std::string_view text, std::int64_t& unix_seconds) noexcept;

// IMF-fixdate of `unix_seconds` into out (29 bytes). Years 0..9999.
std::string_view format_http_date(std::int64_t unix_seconds, std::span<char, http_date_bytes> out) noexcept;

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept;
struct CivilTime {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
  unsigned hour, minute, second;
  unsigned weekday;  // 0 = Sunday
};
CivilTime civil_from_unix(std::int64_t unix_seconds) noexcept;

inline constexpr std::string_view month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
inline constexpr std::string_view weekday_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

// The Date header of every response, formatted once per second. One per
// thread (no locking); the caller passes the clock.
class DateCache {
 public:
  std::string_view at(std::int64_t unix_seconds) noexcept;

 private:
  std::int64_t second_ = INT64_MIN;
  char text_[http_date_bytes] = {};
};

}  // namespace ringxfer::http
