#include "args.hpp"

#include <charconv>
#include <cmath>
#include <iostream>

#include "command.hpp"

namespace ringxfer::cli {

FlagParser::FlagParser(std::string_view command, std::string_view usage)
    : command_(command), usage_(usage) {}

void FlagParser::flag(std::string_view name, bool& out) { flags_.push_back({std::string(name), &out, {}}); }

void FlagParser::option(std::string_view name, ValueParser parse) {
  flags_.push_back({std::string(name), nullptr, std::move(parse)});
}

void FlagParser::require(std::string_view name) {
  if (Flag* f = find(name)) f->required = true;
}

void FlagParser::positional(std::function<std::string(std::string_view)> sink) { positional_ = std::move(sink); }

FlagParser::Flag* FlagParser::find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool FlagParser::given(std::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return f.given;
  }
  return false;
}

int FlagParser::fail(std::string_view message) const {
  std::cerr << "ringxfer " << command_ << ": " << message << " (see `ringxfer " << command_ << " --help`)\n";
  return exit_usage;
}

int FlagParser::parse(std::span<const std::string_view> args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_;
      return exit_ok;
    }
    if (!arg.starts_with("--") || arg == "--") {
      if (arg.starts_with('-') && arg.size() > 1) return fail("unknown option '" + std::string(arg) + "'");
      if (!positional_) return fail("unexpected argument '" + std::string(arg) + "'");
      if (std::string why = positional_(arg); !why.empty()) return fail(why);
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    Flag* f = find(name);
    if (f == nullptr) return fail("unknown option '" + std::string(name) + "'");
    if (f->out != nullptr) {
      if (value) return fail("option '" + std::string(name) + "' takes no value");
      *f->out = true;
    } else {
      if (!value) {
        if (i + 1 >= args.size()) return fail("option '" + std::string(name) + "' needs a value");
        value = args[++i];
      }
      if (std::string why = f->parse(*value); !why.empty()) {
        return fail(std::string(name) + ": " + why + ", got '" + std::string(*value) + "'");
      }
    }
    f->given = true;
  }
  for (const Flag& f : flags_) {
    if (f.required && !f.given) return fail("option '" + f.name + "' is required");
  }
  return -1;
}

// ------------------------------------------------------------ value parsers --

std::string parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  std::string range = "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return range;
  out = v;
  return {};
}

std::string parse_uint(std::string_view text, std::uint32_t min, std::uint32_t max, std::uint32_t& out) {
  std::uint64_t v = 0;
  std::string why = parse_uint(text, std::uint64_t(min), std::uint64_t(max), v);
  if (why.empty()) out = std::uint32_t(v);
  return why;
}

namespace {

// A non-negative decimal ("12", "0.25") and whatever follows it.
bool split_number(std::string_view text, double& value, std::string_view& unit) {
  std::size_t n = 0;
  while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
  if (n == 0) return false;
  std::string digits(text.substr(0, n));
  char* end = nullptr;
  value = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size() || !std::isfinite(value)) return false;
  unit = text.substr(n);
  return true;
}

}  // namespace

std::string parse_bytes(std::string_view text, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
  std::string want = "expected a size in bytes from " + std::to_string(min) + " to " + std::to_string(max) +
                     " (suffixes k, m, g)";
  double value = 0;
  std::string_view unit;
  if (!split_number(text, value, unit)) return want;
  double scale = 1;
  if (unit.empty() || unit == "b" || unit == "B") scale = 1;
  else if (unit == "k" || unit == "K" || unit == "KiB") scale = 1024.0;
  else if (unit == "m" || unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else return want;
  double bytes = value * scale;
  if (bytes != std::floor(bytes) || bytes < double(min) || bytes > double(max)) return want;
  out = std::uint64_t(bytes);
  return {};
}

std::string parse_seconds(std::string_view text, std::chrono::nanoseconds& out) {
  std::string want = "expected seconds (\"5\", \"0.5\", \"250ms\")";
  double value = 0;
  std::string_view unit;
  if (!split_number(text, value, unit)) return want;
  double ns = 0;
  if (unit.empty() || unit == "s") ns = value * 1e9;
  else if (unit == "ms") ns = value * 1e6;
  else if (unit == "us") ns = value * 1e3;
  else return want;
  if (ns > 1e18) return want;
  out = std::chrono::nanoseconds(std::int64_t(ns));
  return {};
}

std::string parse_positive_number(std::string_view text, double& out) {
  double value = 0;
  std::string_view unit;
  if (!split_number(text, value, unit) || !unit.empty() || value <= 0) return "expected a number above 0";
  out = value;
  return {};
}

std::string parse_address(std::string_view text, Address& out) {
  if (Address::parse(text, out)) return "expected host:port or [v6]:port with a numeric host";
  return {};
}

std::string parse_cpu_list(std::string_view text, std::vector<int>& out) {
  out.clear();
  if (text == "none") return {};
  std::string want = "expected CPU numbers (\"0,2\", \"0-3\") or \"none\"";
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    std::size_t dash = item.find('-');
    std::uint32_t first = 0, last = 0;
    if (!parse_uint(item.substr(0, dash), 0u, 4095u, first).empty()) return want;
    last = first;
    if (dash != std::string_view::npos && !parse_uint(item.substr(dash + 1), first, 4095u, last).empty()) return want;
    for (std::uint32_t c = first; c <= last; ++c) out.push_back(int(c));
    if (comma != std::string_view::npos && text.empty()) return want;
  }
  if (out.empty()) return want;
  return {};
}

// ------------------------------------------------------------ shared groups --

void add_common_flags(FlagParser& parser, CommonOptions& options) {
  parser.option("--backend", [&options](std::string_view v) -> std::string {
    if (parse_backend(v, options.backend)) return "expected auto, io_uring or epoll";
    return {};
  });
  parser.option("--threads", [&options](std::string_view v) { return parse_uint(v, 1u, 1024u, options.threads); });
  parser.option("--cpus", [&options](std::string_view v) {
    std::vector<int> cpus;
    std::string why = parse_cpu_list(v, cpus);
    if (why.empty()) options.cpus = std::move(cpus);
    return why;
  });
  parser.flag("--stats", options.stats);
}

void add_server_flags(FlagParser& parser, ServerOptions& options) {
  parser.option("--listen", [&options](std::string_view v) { return parse_address(v, options.listen); });
  parser.require("--listen");
  parser.option("--metrics", [&options](std::string_view v) {
    Address a;
    std::string why = parse_address(v, a);
    if (why.empty()) options.metrics = a;
    return why;
  });
  parser.option("--drain-timeout", [&options](std::string_view v) { return parse_seconds(v, options.drain_timeout); });
}

void add_client_flags(FlagParser& parser, ClientOptions& options) {
  parser.option("--to", [&options](std::string_view v) { return parse_address(v, options.to); });
  parser.require("--to");
}

}  // namespace ringxfer::cli
