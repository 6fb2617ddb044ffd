#include "http/path.hpp"

namespace ringxfer::http {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

PathResult refuse(Status s) noexcept { return PathResult{s, {}, false}; }

}  // namespace

PathResult normalize_path(std::string_view path, std::span<char> out) noexcept {
  if (path.empty() || path.front() != '/') return refuse(Status::bad_request);
  // Defensive: Request::path never holds a query, but a caller might pass a
  // target.
  path = path.substr(0, path.find('?'));

  std::size_t size = 0;           // bytes written to out
  std::size_t segment_start = 0;  // where the current segment begins in out
  bool directory = true;          // "/" names the root directory

  // Ends the segment out[segment_start, size): drops "" and ".", refuses "..".
  auto close_segment = [&]() -> Status {
    std::string_view segment(out.data() + segment_start, size - segment_start);
    if (segment.empty() || segment == ".") {
      size = segment_start;
      // Remove the separator written before the dropped segment.
      if (size > 0) --size;
      directory = true;
      return Status::ok;
    }
    if (segment == "..") return Status::forbidden;
    if (segment.size() > max_segment_bytes) return Status::not_found;
    directory = false;
    return Status::ok;
  };

  std::size_t i = 1;  // past the leading '/'
  while (i <= path.size()) {
    if (i == path.size() || path[i] == '/') {
      if (Status s = close_segment(); s != Status::ok) return refuse(s);
      if (i == path.size()) break;
      // A separator before the next segment (not at the start of out).
      if (size > 0) {
        if (size >= out.size()) return refuse(Status::uri_too_long);
        out[size++] = '/';
      }
      segment_start = size;
      ++i;
      continue;
    }
    char c = path[i];
    if (c == '%') {
      if (path.size() - i < 3) return refuse(Status::bad_request);
      int hi = hex_value(path[i + 1]);
      int lo = hex_value(path[i + 2]);
      if (hi < 0 || lo < 0) return refuse(Status::bad_request);
      c = static_cast<char>(hi * 16 + lo);
      if (c == '/') return refuse(Status::forbidden);
      i += 3;
    } else {
      ++i;
    }
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return refuse(Status::bad_request);
    if (c == '\\') return refuse(Status::forbidden);
    if (size >= out.size()) return refuse(Status::uri_too_long);
    out[size++] = c;
  }
  if (size == 0) {
    if (out.empty()) return refuse(Status::uri_too_long);
    out[0] = '.';
    return PathResult{Status::ok, std::string_view(out.data(), 1), true};
  }
  return PathResult{Status::ok, std::string_view(out.data(), size), directory};
}

std::string_view directory_location(std::string_view path, std::string_view query, std::span<char> out) noexcept {
  const bool has_query = query.data() != nullptr;
  const std::size_t need = path.size() + 1 + (has_query ? 1 + query.size() : 0);
  if (need > out.size()) return {};
  char* p = out.data();
  path.copy(p, path.size());
  p += path.size();
  *p++ = '/';
  if (has_query) {
    *p++ = '?';
    query.copy(p, query.size());
  }
  return std::string_view(out.data(), need);
}

}  // namespace ringxfer::http
