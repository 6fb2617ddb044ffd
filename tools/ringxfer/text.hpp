#pragma once
// Small output helpers shared by the subcommands: a two-column text table and
// a hand-written JSON writer (the only JSON the CLI needs is flat objects,
// string/bool/number values, arrays of strings and one level of nesting).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace ringxfer::cli {

// "8 MiB", "1.5 GiB", "512 B"; UINT64_MAX is "unlimited".
std::string human_bytes(std::uint64_t bytes);

// Appends `text` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view text);

// Rows print as `label` padded to one shared width, then `value`. A row with
// indent 1 is a member of the section row above it.
class Table {
 public:
  void row(std::string label, std::string value, int indent = 0);
  void section(std::string label) { row(std::move(label), {}, 0); }
  void print(std::ostream& os) const;

 private:
  struct Row {
    std::string label;
    std::string value;
    int indent;
  };
  std::vector<Row> rows_;
};

// Builds one JSON object with two-space indentation. Keys and string values
// are escaped; call order is output order.
class JsonWriter {
 public:
  JsonWriter();
  void key_string(std::string_view key, std::string_view value);
  void key_bool(std::string_view key, bool value);
  void key_uint(std::string_view key, std::uint64_t value);
  // Printed with `precision` significant digits (%.*g).
  void key_double(std::string_view key, double value, int precision = 6);
  void key_null(std::string_view key);
  void key_string_array(std::string_view key, const std::vector<std::string>& values);
  void begin_object(std::string_view key);
  void end_object();
  // Closes every open object and returns the text (with a trailing newline).
  std::string finish();

 private:
  void key(std::string_view key);
  std::string out_;
  int depth_ = 1;
  bool first_ = true;
};

}  // namespace ringxfer::cli
