#include "text.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <ostream>

namespace ringxfer::cli {

std::string human_bytes(std::uint64_t bytes) {
  if (bytes == std::numeric_limits<std::uint64_t>::max()) return "unlimited";
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  char text[64];
  // Exact multiples print without decimals ("8 MiB"); others with one ("1.5 GiB").
  std::uint64_t scale = std::uint64_t(1) << (10 * unit);
  if (bytes % scale == 0) {
    std::snprintf(text, sizeof text, "%llu %s", static_cast<unsigned long long>(bytes / scale), units[unit]);
  } else {
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  }
  return text;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", c);
          out += esc;
        } else {
          // Bytes >= 0x80 pass through: kernel strings are UTF-8 or ASCII.
          out += ch;
        }
    }
  }
  out += '"';
}

void Table::row(std::string label, std::string value, int indent) {
  rows_.push_back({std::move(label), std::move(value), indent});
}

void Table::print(std::ostream& os) const {
  std::size_t width = 0;
  for (const Row& r : rows_) width = std::max(width, r.label.size() + 2 * std::size_t(r.indent));
  width += 2;
  for (const Row& r : rows_) {
    std::string line(2 * std::size_t(r.indent), ' ');
    line += r.label;
    if (!r.value.empty()) {
      line.resize(width, ' ');
      line += r.value;
    }
    os << line << '\n';
  }
}

JsonWriter::JsonWriter() : out_(1, '{') {}

void JsonWriter::key(std::string_view k) {
  out_ += first_ ? "\n" : ",\n";
  first_ = false;
  out_.append(2 * std::size_t(depth_), ' ');
  append_json_string(out_, k);
  out_ += ": ";
}

void JsonWriter::key_string(std::string_view k, std::string_view value) {
  key(k);
  append_json_string(out_, value);
}

void JsonWriter::key_bool(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
}

void JsonWriter::key_uint(std::string_view k, std::uint64_t value) {
  key(k);
  out_ += std::to_string(value);
}

void JsonWriter::key_double(std::string_view k, double value, int precision) {
  key(k);
  char text[64];
  std::snprintf(text, sizeof text, "%.*g", precision, value);
  out_ += text;
}

void JsonWriter::key_null(std::string_view k) {
  key(k);
  out_ += "null";
}

void JsonWriter::key_string_array(std::string_view k, const std::vector<std::string>& values) {
  key(k);
  out_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out_ += ", ";
    append_json_string(out_, values[i]);
  }
  out_ += ']';
}

void JsonWriter::begin_object(std::string_view k) {
  key(k);
  out_ += '{';
  ++depth_;
  first_ = true;
}

void JsonWriter::end_object() {
  --depth_;
  if (!first_) {
    out_ += '\n';
    out_.append(2 * std::size_t(depth_), ' ');
  }
  out_ += '}';
  first_ = false;
}

std::string JsonWriter::finish() {
  while (depth_ > 1) end_object();
  out_ += first_ ? "}\n" : "\n}\n";
  return std::move(out_);
}

}  // namespace ringxfer::cli
