#include "http/mime.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "http/chars.hpp"

namespace ringxfer::http {
namespace {

using detail::to_lower;

constexpr std::size_t max_extension_bytes = 32;

struct Builtin {
  std::string_view extension;
  std::string_view type;
};

// Common static-site types (IANA names; the ones browsers care about).
constexpr Builtin builtin_types[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"mjs", "text/javascript"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"txt", "text/plain"},
    {"md", "text/markdown"},
    {"csv", "text/csv"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"bmp", "image/bmp"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
};

bool valid_type(std::string_view t) noexcept {
  std::size_t slash = t.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == t.size()) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i == slash) continue;
    if (!detail::is_tchar(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

// A token; inner dots are allowed (/etc/mime.types has "cwl.json").
bool valid_extension(std::string_view e) noexcept {
  if (e.empty() || e.size() > max_extension_bytes || e.front() == '.' || e.back() == '.') return false;
  for (char c : e) {
    if (!detail::is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

}  // namespace

std::string with_charset(std::string_view type) {
  std::string t(type);
  if (type.find(';') != std::string_view::npos) return t;
  std::string l = lower(type);
  bool text = l.starts_with("text/") || l == "application/json" || l == "application/javascript" ||
              l == "application/xml" || l.ends_with("+json") || l.ends_with("+xml");
  if (text) t += "; charset=utf-8";
  return t;
}

MimeTable::MimeTable() {
  for (const Builtin& b : builtin_types) set(b.extension, b.type);
}

void MimeTable::set(std::string_view extension, std::string_view type) {
  std::string ext = lower(extension);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), ext,
                             [](const Entry& e, const std::string& x) { return e.extension < x; });
  if (it != entries_.end() && it->extension == ext) {
    it->type = with_charset(type);
  } else {
    entries_.insert(it, Entry{std::move(ext), with_charset(type)});
  }
}

std::string_view MimeTable::lookup(std::string_view path) const noexcept {
  std::size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  // The longest known extension wins: "a.cwl.json" tries "cwl.json", then
  // "json". A leading dot is part of the name (".bashrc" has no extension).
  for (std::size_t dot = name.find('.', 1); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
    std::string_view ext = name.substr(dot + 1);
    if (ext.empty() || ext.size() > max_extension_bytes) continue;
    char key[max_extension_bytes];
    for (std::size_t i = 0; i < ext.size(); ++i) key[i] = to_lower(ext[i]);
    std::string_view k(key, ext.size());
    auto it = std::lower_bound(entries_.begin(), entries_.end(), k,
                               [](const Entry& e, std::string_view x) { return std::string_view(e.extension) < x; });
    if (it != entries_.end() && it->extension == k) return it->type;
  }
  return default_mime_type;
}

bool MimeTable::add_mime_types(std::string_view text, std::string& error) {
  // Parse everything first, apply only if every line is good.
  std::vector<std::pair<std::string_view, std::string_view>> pending;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    std::size_t lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text = lf == std::string_view::npos ? std::string_view{} : text.substr(lf + 1);
    line = line.substr(0, line.find('#'));

    auto next_word = [&line]() {
      std::size_t b = line.find_first_not_of(" \t\r\f\v");
      if (b == std::string_view::npos) {
        line = {};
        return std::string_view{};
      }
      line.remove_prefix(b);
      std::size_t e = line.find_first_of(" \t\r\f\v");
      std::string_view w = line.substr(0, e);
      line = e == std::string_view::npos ? std::string_view{} : line.substr(e);
      return w;
    };
    std::string_view type = next_word();
    if (type.empty()) continue;
    if (!valid_type(type)) {
      error = "line " + std::to_string(line_number) + ": '" + std::string(type) + "' is not a type/subtype";
      return false;
    }
    for (std::string_view ext = next_word(); !ext.empty(); ext = next_word()) {
      if (!valid_extension(ext)) {
        error = "line " + std::to_string(line_number) + ": '" + std::string(ext) + "' is not a file extension";
        return false;
      }
      pending.emplace_back(ext, type);
    }
  }
  for (auto& [ext, type] : pending) set(ext, type);
  return true;
}

bool MimeTable::load_mime_types(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  std::string content;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + ": " + (S_ISDIR(st.st_mode) ? std::string("is a directory") : std::string("not a regular file"));
    ::close(fd);
    return false;
  }
  // /etc/mime.types is about 60 KiB; anything far larger is the wrong file.
  constexpr off_t max_bytes = 16 << 20;
  if (st.st_size > max_bytes) {
    error = path + ": larger than 16 MiB, not a mime.types file";
    ::close(fd);
    return false;
  }
  char chunk[16384];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = path + ": read: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    content.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::string parse_error;
  if (!add_mime_types(content, parse_error)) {
    error = path + ": " + parse_error;
    return false;
  }
  return true;
}

}  // namespace ringxfer::http
