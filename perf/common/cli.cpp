#include "cli.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace ringxfer::perf {
namespace {

[[noreturn]] void bad_value(std::string_view flag, std::string_view text, std::string_view expected) {
  throw UsageError(std::string(flag) + ": bad value '" + std::string(text) + "' (expected " +
                   std::string(expected) + ")");
}

// Splits "123abc" into the number and the suffix.
bool split_number(std::string_view text, double& number, std::string_view& suffix) {
  std::string copy(text);
  char* end = nullptr;
  errno = 0;
  number = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str() || errno != 0 || !std::isfinite(number)) return false;
  suffix = text.substr(static_cast<std::size_t>(end - copy.c_str()));
  return true;
}

}  // namespace

std::uint64_t parse_size_bytes(std::string_view flag, std::string_view text) {
  double number = 0;
  std::string_view suffix;
  constexpr std::string_view expected = "bytes such as 64, 4K, 4KiB, 1M";
  if (!split_number(text, number, suffix) || number < 0) bad_value(flag, text, expected);
  double scale = 1;
  if (suffix.empty() || suffix == "B") {
    scale = 1;
  } else if (suffix == "K" || suffix == "k" || suffix == "KiB") {
    scale = 1024.0;
  } else if (suffix == "M" || suffix == "MiB") {
    scale = 1024.0 * 1024;
  } else if (suffix == "G" || suffix == "GiB") {
    scale = 1024.0 * 1024 * 1024;
  } else {
    bad_value(flag, text, expected);
  }
  double bytes = number * scale;
  if (bytes != std::floor(bytes) || bytes > 1e18) bad_value(flag, text, expected);
  return static_cast<std::uint64_t>(bytes);
}

std::uint64_t parse_count(std::string_view flag, std::string_view text) {
  double number = 0;
  std::string_view suffix;
  constexpr std::string_view expected = "a count such as 64, 10k, 1m";
  if (!split_number(text, number, suffix) || number < 0) bad_value(flag, text, expected);
  if (suffix == "k" || suffix == "K") {
    number *= 1e3;
  } else if (suffix == "m" || suffix == "M") {
    number *= 1e6;
  } else if (!suffix.empty()) {
    bad_value(flag, text, expected);
  }
  if (number != std::floor(number) || number > 1e18) bad_value(flag, text, expected);
  return static_cast<std::uint64_t>(number);
}

double parse_duration_s(std::string_view flag, std::string_view text) {
  double number = 0;
  std::string_view suffix;
  constexpr std::string_view expected = "a duration such as 5, 5s, 500ms, 2m";
  if (!split_number(text, number, suffix) || number < 0) bad_value(flag, text, expected);
  if (suffix.empty() || suffix == "s") return number;
  if (suffix == "ms") return number / 1e3;
  if (suffix == "us") return number / 1e6;
  if (suffix == "m") return number * 60;
  bad_value(flag, text, expected);
}

double parse_number(std::string_view flag, std::string_view text) {
  double number = 0;
  std::string_view suffix;
  if (!split_number(text, number, suffix) || !suffix.empty() || number <= 0) {
    bad_value(flag, text, "a positive number");
  }
  return number;
}

bool ArgReader::next() {
  if (started_) ++index_;
  started_ = true;
  if (index_ >= args_.size()) return false;
  std::string_view arg = args_[index_];
  has_inline_ = false;
  flag_ = arg;
  if (arg.starts_with("--")) {
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      flag_ = arg.substr(0, eq);
      inline_value_ = arg.substr(eq + 1);
      has_inline_ = true;
    }
  }
  return true;
}

std::string_view ArgReader::value() {
  if (has_inline_) return inline_value_;
  if (index_ + 1 >= args_.size()) throw UsageError(std::string(flag_) + ": missing value");
  return args_[++index_];
}

void ArgReader::no_value() const {
  if (has_inline_) throw UsageError(std::string(flag_) + ": takes no value");
}

void ArgReader::unknown() const {
  if (flag_.starts_with('-')) throw UsageError("unknown option '" + std::string(flag_) + "'");
  throw UsageError("unexpected argument '" + std::string(flag_) + "'");
}

std::string Endpoint::text() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Endpoint parse_endpoint(std::string_view flag, std::string_view text, bool allow_port_zero) {
  constexpr std::string_view expected = "HOST:PORT, [IPV6]:PORT or PORT";
  Endpoint ep;
  std::string_view port_text = text;
  if (text.starts_with('[')) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) bad_value(flag, text, expected);
    ep.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    ep.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535 ||
      (port == 0 && !allow_port_zero) || ep.host.empty()) {
    bad_value(flag, text, expected);
  }
  ep.port = static_cast<std::uint16_t>(port);
  return ep;
}

}  // namespace ringxfer::perf
