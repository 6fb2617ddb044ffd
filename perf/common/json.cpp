#include "json.hpp"

#include <cmath>
#include <cstdio>

namespace ringxfer::perf {
namespace {

void append_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

void JsonObject::key(std::string_view key) {
  if (!first_) out_ += ',';
  out_ += '\n';
  out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
  append_string(out_, key);
  out_ += ": ";
  first_ = false;
}

JsonObject& JsonObject::field(std::string_view k, std::string_view value) {
  key(k);
  append_string(out_, value);
  return *this;
}

JsonObject& JsonObject::field(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::field(std::string_view k, std::uint64_t value) {
  key(k);
  out_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::field(std::string_view k, double value) {
  key(k);
  if (!std::isfinite(value)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  out_ += buf;
  return *this;
}

JsonObject& JsonObject::begin_object(std::string_view k) {
  key(k);
  out_ += '{';
  ++depth_;
  first_ = true;
  return *this;
}

JsonObject& JsonObject::end_object() {
  --depth_;
  out_ += '\n';
  out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
  out_ += '}';
  first_ = false;
  return *this;
}

std::string JsonObject::finish() {
  while (depth_ > 1) end_object();
  out_ += "\n}\n";
  depth_ = 0;
  return out_;
}

}  // namespace ringxfer::perf
