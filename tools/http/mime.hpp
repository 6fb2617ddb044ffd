#pragma once
// Content-Type by file extension: a built-in table of common types, extended
// or overridden by files in the /etc/mime.types format (`--mime-types FILE`).
// Text types get "; charset=utf-8". Built at start-up (allocates then);
// lookup() does not allocate.
#include <string>
#include <string_view>
#include <vector>

namespace ringxfer::http {

inline constexpr std::string_view default_mime_type = "application/octet-stream";

class MimeTable {
 public:
  MimeTable();  // the built-in table

  // The type for the extension of the last segment of `path` ("a/b.HTML" ->
  // "text/html; charset=utf-8"), case-insensitive; default_mime_type when
  // there is none ("README", ".bashrc") or it is unknown.
  std::string_view lookup(std::string_view path) const noexcept;

  // /etc/mime.types text: "type ext1 ext2 ..." per line, '#' starts a comment,
  // a type without extensions is allowed. Entries replace earlier ones for
  // the same extension. false with `error` ("line 3: 'foo' is not a
  // type/subtype") on a malformed line; nothing is added then.
  bool add_mime_types(std::string_view text, std::string& error);

  // Reads `path` and add_mime_types() it. false with `error` naming the file
  // and the reason ("/x/mime.types: No such file or directory").
  bool load_mime_types(const std::string& path, std::string& error);

  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    std::string extension;  // lower case, no dot
    std::string type;       // with charset where it applies
  };
  void set(std::string_view extension, std::string_view type);

  std::vector<Entry> entries_;  // sorted by extension
};

// "text/html" -> "text/html; charset=utf-8" for text/*, JSON, JavaScript, XML
// and SVG; any other type, or one that has parameters already, unchanged.
std::string with_charset(std::string_view type);

}  // namespace ringxfer::http
