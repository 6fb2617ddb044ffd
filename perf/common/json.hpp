#pragma once
// A flat JSON object writer for the perf programs' --json reports: keys in
// call order, numbers, strings, booleans, one level of nested objects.
#include <cstdint>
#include <string>
#include <string_view>

namespace ringxfer::perf {

class JsonObject {
 public:
  JsonObject& field(std::string_view key, std::string_view value);
  JsonObject& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  JsonObject& field(std::string_view key, bool value);
  JsonObject& field(std::string_view key, std::uint64_t value);
  JsonObject& field(std::string_view key, std::uint32_t value) { return field(key, std::uint64_t{value}); }
  JsonObject& field(std::string_view key, int value) { return field(key, static_cast<double>(value)); }
  // Doubles are written with enough digits to be useful (%.6g), never NaN/inf
  // (those become null: JSON has no spelling for them).
  JsonObject& field(std::string_view key, double value);
  JsonObject& begin_object(std::string_view key);
  JsonObject& end_object();
  // Closes open objects; the text ends with a newline.
  std::string finish();

 private:
  void key(std::string_view key);
  std::string out_ = "{";
  int depth_ = 1;
  bool first_ = true;
};

}  // namespace ringxfer::perf
