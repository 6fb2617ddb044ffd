#include "http/date.hpp"

#include "http/chars.hpp"

namespace ringxfer::http {
namespace {

using detail::is_digit;

constexpr std::string_view long_weekday_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                    "Thursday", "Friday", "Saturday"};

// A cursor over the text: each take_* consumes exactly what it names or fails.
struct Cursor {
  std::string_view s;
  bool ok = true;

  bool literal(std::string_view lit) noexcept {
    if (!ok || !s.starts_with(lit)) return ok = false;
    s.remove_prefix(lit.size());
    return true;
  }
  // Exactly n digits.
  unsigned digits(std::size_t n) noexcept {
    if (!ok || s.size() < n) {
      ok = false;
      return 0;
    }
    unsigned v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!is_digit(static_cast<unsigned char>(s[i]))) {
        ok = false;
        return 0;
      }
      v = v * 10 + unsigned(s[i] - '0');
    }
    s.remove_prefix(n);
    return v;
  }
  unsigned month() noexcept {
    for (unsigned m = 0; m < 12; ++m) {
      if (ok && s.starts_with(month_names[m])) {
        s.remove_prefix(3);
        return m + 1;
      }
    }
    ok = false;
    return 0;
  }
  void weekday(std::span<const std::string_view> names) noexcept {
    for (std::string_view name : names) {
      if (ok && s.starts_with(name)) {
        s.remove_prefix(name.size());
        return;
      }
    }
    ok = false;
  }
  // "HH:MM:SS"
  void time_of_day(unsigned& h, unsigned& m, unsigned& sec) noexcept {
    h = digits(2);
    literal(":");
    m = digits(2);
    literal(":");
    sec = digits(2);
  }
};

bool is_leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool to_unix(std::int64_t y, unsigned mon, unsigned d, unsigned h, unsigned mi, unsigned s,
             std::int64_t& out) noexcept {
  // second 60: a leap second is allowed by the grammar (time-of-day, RFC 9110
  // 5.6.7); it is the same instant as :59 for our purpose.
  if (mon < 1 || mon > 12 || d < 1 || d > days_in_month(y, mon) || h > 23 || mi > 59 || s > 60) return false;
  if (s == 60) s = 59;
  out = days_from_civil(y, mon, d) * 86400 + std::int64_t(h) * 3600 + std::int64_t(mi) * 60 + s;
  return true;
}

void put2(char* p, unsigned v) noexcept {
  p[0] = char('0' + v / 10 % 10);
  p[1] = char('0' + v % 10);
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

CivilTime civil_from_unix(std::int64_t t) noexcept {
  std::int64_t days = t / 86400;
  std::int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  CivilTime c{};
  c.hour = unsigned(secs / 3600);
  c.minute = unsigned(secs / 60 % 60);
  c.second = unsigned(secs % 60);
  c.weekday = unsigned(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = static_cast<std::int64_t>(yoe) + era * 400 + (c.month <= 2);
  return c;
}

bool parse_http_date(std::string_view text, std::int64_t& unix_seconds) noexcept {
  unsigned h = 0, mi = 0, s = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.size() == http_date_bytes && text[3] == ',') {
    Cursor c{text};
    c.weekday(weekday_names);
    c.literal(", ");
    unsigned d = c.digits(2);
    c.literal(" ");
    unsigned mon = c.month();
    c.literal(" ");
    unsigned y = c.digits(4);
    c.literal(" ");
    c.time_of_day(h, mi, s);
    c.literal(" GMT");
    return c.ok && c.s.empty() && to_unix(y, mon, d, h, mi, s, unix_seconds);
  }
  // asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space)
  if (text.size() == 24 && text[3] == ' ') {
    Cursor c{text};
    c.weekday(weekday_names);
    c.literal(" ");
    unsigned mon = c.month();
    c.literal(" ");
    unsigned d = 0;
    if (c.ok && !c.s.empty() && c.s.front() == ' ') {
      c.s.remove_prefix(1);
      d = c.digits(1);
    } else {
      d = c.digits(2);
    }
    c.literal(" ");
    c.time_of_day(h, mi, s);
    c.literal(" ");
    unsigned y = c.digits(4);
    return c.ok && c.s.empty() && to_unix(y, mon, d, h, mi, s, unix_seconds);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  Cursor c{text};
  c.weekday(long_weekday_names);
  c.literal(", ");
  unsigned d = c.digits(2);
  c.literal("-");
  unsigned mon = c.month();
  c.literal("-");
  unsigned yy = c.digits(2);
  c.literal(" ");
  c.time_of_day(h, mi, s);
  c.literal(" GMT");
  std::int64_t y = yy >= 70 ? 1900 + yy : 2000 + yy;
  return c.ok && c.s.empty() && to_unix(y, mon, d, h, mi, s, unix_seconds);
}

std::string_view format_http_date(std::int64_t unix_seconds, std::span<char, http_date_bytes> out) noexcept {
  CivilTime c = civil_from_unix(unix_seconds);
  std::int64_t y = c.year < 0 ? 0 : (c.year > 9999 ? 9999 : c.year);
  char* p = out.data();
  // "Www, DD Mmm YYYY HH:MM:SS GMT"
  std::string_view wd = weekday_names[c.weekday];
  std::string_view mn = month_names[c.month - 1];
  p[0] = wd[0], p[1] = wd[1], p[2] = wd[2], p[3] = ',', p[4] = ' ';
  put2(p + 5, c.day);
  p[7] = ' ';
  p[8] = mn[0], p[9] = mn[1], p[10] = mn[2], p[11] = ' ';
  put2(p + 12, unsigned(y / 100));
  put2(p + 14, unsigned(y % 100));
  p[16] = ' ';
  put2(p + 17, c.hour);
  p[19] = ':';
  put2(p + 20, c.minute);
  p[22] = ':';
  put2(p + 23, c.second);
  p[25] = ' ', p[26] = 'G', p[27] = 'M', p[28] = 'T';
  return std::string_view(out.data(), http_date_bytes);
}

std::string_view DateCache::at(std::int64_t unix_seconds) noexcept {
  if (unix_seconds != second_) {
    format_http_date(unix_seconds, text_);
    second_ = unix_seconds;
  }
  return std::string_view(text_, http_date_bytes);
}

}  // namespace ringxfer::http
