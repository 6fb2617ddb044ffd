// MIME table, response heads, status bodies and access-log lines.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <string>

#include "http/access_log.hpp"
#include "http/conditional.hpp"
#include "http/mime.hpp"
#include "http/response.hpp"
#include "support.hpp"

using namespace ringxfer::http;

BOOST_AUTO_TEST_SUITE(mime)

BOOST_AUTO_TEST_CASE(builtin_types) {
  MimeTable t;
  BOOST_TEST(t.lookup("index.html") == "text/html; charset=utf-8");
  BOOST_TEST(t.lookup("a/b/STYLE.CSS") == "text/css; charset=utf-8");
  BOOST_TEST(t.lookup("app.js") == "text/javascript; charset=utf-8");
  BOOST_TEST(t.lookup("data.json") == "application/json; charset=utf-8");
  BOOST_TEST(t.lookup("notes.txt") == "text/plain; charset=utf-8");
  BOOST_TEST(t.lookup("logo.svg") == "image/svg+xml; charset=utf-8");
  BOOST_TEST(t.lookup("a.png") == "image/png");
  BOOST_TEST(t.lookup("a.jpg") == "image/jpeg");
  BOOST_TEST(t.lookup("a.jpeg") == "image/jpeg");
  BOOST_TEST(t.lookup("a.gif") == "image/gif");
  BOOST_TEST(t.lookup("a.webp") == "image/webp");
  BOOST_TEST(t.lookup("favicon.ico") == "image/vnd.microsoft.icon");
  BOOST_TEST(t.lookup("m.wasm") == "application/wasm");
  BOOST_TEST(t.lookup("doc.pdf") == "application/pdf");
  BOOST_TEST(t.lookup("v.mp4") == "video/mp4");
  BOOST_TEST(t.lookup("f.woff2") == "font/woff2");
  BOOST_TEST(t.lookup("archive.tar.gz") == "application/gzip");
}

BOOST_AUTO_TEST_CASE(no_or_unknown_extension) {
  MimeTable t;
  BOOST_TEST(t.lookup("README") == default_mime_type);
  BOOST_TEST(t.lookup(".bashrc") == default_mime_type);
  BOOST_TEST(t.lookup("dir.d/file") == default_mime_type);
  BOOST_TEST(t.lookup("x.") == default_mime_type);
  BOOST_TEST(t.lookup("x.unknownext") == default_mime_type);
  BOOST_TEST(t.lookup("x." + std::string(100, 'a')) == default_mime_type);
  BOOST_TEST(t.lookup("") == default_mime_type);
}

BOOST_AUTO_TEST_CASE(mime_types_format) {
  MimeTable t;
  std::string error;
  BOOST_TEST(t.add_mime_types("# comment\n\ntext/x-custom\tcst  CST2 # trailing\r\n"
                              "application/x-only-type\n"
                              "image/png\tpng apng\n"
                              "application/octet-stream html\n",
                              error));
  BOOST_TEST(error.empty());
  BOOST_TEST(t.lookup("a.cst") == "text/x-custom; charset=utf-8");
  BOOST_TEST(t.lookup("a.cst2") == "text/x-custom; charset=utf-8");
  BOOST_TEST(t.lookup("a.apng") == "image/png");
  BOOST_TEST(t.lookup("a.html") == "application/octet-stream");  // overrides the built-in
}

BOOST_AUTO_TEST_CASE(dotted_extensions) {
  MimeTable t;
  std::string error;
  BOOST_TEST(t.add_mime_types("application/cwl+json cwl.json\n", error), error);
  BOOST_TEST(t.lookup("tool.cwl.json") == "application/cwl+json; charset=utf-8");
  BOOST_TEST(t.lookup("other.json") == "application/json; charset=utf-8");
  BOOST_TEST(t.lookup("x.y.json") == "application/json; charset=utf-8");
  BOOST_TEST(!t.add_mime_types("text/a .x\n", error));
  BOOST_TEST(!t.add_mime_types("text/a x.\n", error));
}

BOOST_AUTO_TEST_CASE(mime_types_errors_apply_nothing) {
  MimeTable t;
  std::size_t before = t.size();
  std::string error;
  BOOST_TEST(!t.add_mime_types("text/a aa\nnot-a-type x\n", error));
  BOOST_TEST(error == "line 2: 'not-a-type' is not a type/subtype");
  BOOST_TEST(t.size() == before);
  BOOST_TEST(t.lookup("a.aa") == default_mime_type);
  BOOST_TEST(!t.add_mime_types("text/a a/b\n", error));
  BOOST_TEST(error == "line 1: 'a/b' is not a file extension");
}

BOOST_AUTO_TEST_CASE(load_file) {
  MimeTable t;
  std::string error;
  BOOST_TEST(!t.load_mime_types("/nonexistent/mime.types", error));
  BOOST_TEST(error == "/nonexistent/mime.types: No such file or directory");
  BOOST_TEST(!t.load_mime_types("/tmp", error));
  BOOST_TEST(error == "/tmp: is a directory");

  char path[] = "/tmp/ringxfer-mime-XXXXXX";
  int fd = ::mkstemp(path);
  BOOST_REQUIRE(fd >= 0);
  std::string content = "text/x-test tst\n";
  BOOST_REQUIRE(::write(fd, content.data(), content.size()) == ssize_t(content.size()));
  ::close(fd);
  BOOST_TEST(t.load_mime_types(path, error));
  BOOST_TEST(t.lookup("x.tst") == "text/x-test; charset=utf-8");
  if (::geteuid() != 0) {  // root reads anything
    ::chmod(path, 0);
    BOOST_TEST(!t.load_mime_types(path, error));
    BOOST_TEST(error == std::string(path) + ": Permission denied");
  }
  ::unlink(path);
  // A file that opens but cannot be read (also as root): reading address 0
  // of our own memory fails with EIO.
  BOOST_TEST(!t.load_mime_types("/proc/self/mem", error));
  BOOST_TEST(error.starts_with("/proc/self/mem: read: "), error);
  // The real one, where installed (Debian: media-types / mime-support).
  if (::access("/etc/mime.types", R_OK) == 0) {
    MimeTable sys;
    BOOST_TEST(sys.load_mime_types("/etc/mime.types", error), error);
    BOOST_TEST(sys.size() > 100u);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(response)

BOOST_AUTO_TEST_CASE(file_200_head) {
  std::array<char, 1024> buf{};
  ETag tag = ETag::from(1234, 784111777);
  ResponseHead h;
  h.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  h.content_type = "text/html; charset=utf-8";
  h.content_length = 1234;
  h.last_modified = 784111777;
  h.etag = tag.view();
  h.accept_ranges = true;
  std::size_t n = write_response_head(h, buf);
  BOOST_TEST(std::string_view(buf.data(), n) ==
             "HTTP/1.1 200 OK\r\n"
             "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
             "Server: ringxfer\r\n"
             "Content-Type: text/html; charset=utf-8\r\n"
             "Content-Length: 1234\r\n"
             "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
             "ETag: \"2ebc98a1-4d2\"\r\n"
             "Accept-Ranges: bytes\r\n"
             "Connection: keep-alive\r\n"
             "\r\n");
}

BOOST_AUTO_TEST_CASE(partial_and_unsatisfiable) {
  std::array<char, 1024> buf{};
  ResponseHead h;
  h.status = Status::partial_content;
  h.range = ByteRange{RangeOutcome::satisfiable, 10, 19};
  h.complete_length = 100;
  h.content_length = 10;
  h.keep_alive = false;
  std::string_view s(buf.data(), write_response_head(h, buf));
  BOOST_TEST(s.starts_with("HTTP/1.1 206 Partial Content\r\n"));
  BOOST_TEST(s.find("Content-Range: bytes 10-19/100\r\n") != std::string_view::npos);
  BOOST_TEST(s.find("Content-Length: 10\r\n") != std::string_view::npos);
  BOOST_TEST(s.find("Connection: close\r\n") != std::string_view::npos);
  BOOST_TEST(s.find("Date:") == std::string_view::npos);

  ResponseHead u;
  u.status = Status::range_not_satisfiable;
  u.complete_length = 100;
  std::string_view t(buf.data(), write_status_response(u, false, buf));
  BOOST_TEST(t.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"));
  BOOST_TEST(t.find("Content-Range: bytes */100\r\n") != std::string_view::npos);
}

BOOST_AUTO_TEST_CASE(status_responses) {
  std::array<char, 1024> buf{};
  ResponseHead h;
  h.status = Status::not_found;
  std::string_view full(buf.data(), write_status_response(h, false, buf));
  std::size_t head_end = full.find("\r\n\r\n") + 4;
  std::string_view body = full.substr(head_end);
  BOOST_TEST(body.find("<h1>404 Not Found</h1>") != std::string_view::npos);
  BOOST_TEST(full.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string_view::npos);
  BOOST_TEST(full.find("Content-Type: text/html; charset=utf-8\r\n") != std::string_view::npos);

  std::string head_only(buf.data(), write_status_response(h, true, buf));
  BOOST_TEST(head_only == std::string(full.substr(0, head_end)));  // same head, no body

  h.status = Status::method_not_allowed;
  std::string_view m(buf.data(), write_status_response(h, false, buf));
  BOOST_TEST(m.find("Allow: GET, HEAD\r\n") != std::string_view::npos);

  h.status = Status::moved_permanently;
  h.location = "/docs/";
  std::string_view r(buf.data(), write_status_response(h, false, buf));
  BOOST_TEST(r.find("Location: /docs/\r\n") != std::string_view::npos);

  ResponseHead nm;
  nm.status = Status::not_modified;
  nm.etag = "\"a\"";
  std::string_view n304(buf.data(), write_status_response(nm, false, buf));
  BOOST_TEST(n304.ends_with("\r\n\r\n"));
  BOOST_TEST(n304.find("Content-Length") == std::string_view::npos);
  BOOST_TEST(n304.find("Content-Type") == std::string_view::npos);
  BOOST_TEST(n304.find("ETag: \"a\"\r\n") != std::string_view::npos);

  // Every status has its reason phrase.
  for (Status s : {Status::bad_request, Status::forbidden, Status::request_timeout, Status::content_too_large,
                   Status::uri_too_long, Status::header_fields_too_large, Status::not_implemented,
                   Status::version_not_supported, Status::internal_server_error, Status::service_unavailable}) {
    h.status = s;
    h.location = {};
    std::string_view e(buf.data(), write_status_response(h, false, buf));
    std::string first = "HTTP/1.1 " + std::to_string(code(s)) + " " + std::string(reason_phrase(s)) + "\r\n";
    BOOST_TEST(e.starts_with(first));
    BOOST_TEST(reason_phrase(s) != "Unknown");
  }
}

BOOST_AUTO_TEST_CASE(too_small_buffer_writes_nothing) {
  ResponseHead h;
  h.status = Status::not_found;
  std::array<char, 1024> buf{};
  std::size_t need = write_status_response(h, false, buf);
  BOOST_REQUIRE(need > 0u);
  for (std::size_t cap : {std::size_t(0), std::size_t(10), need - 1}) {
    BOOST_TEST(write_status_response(h, false, std::span<char>(buf.data(), cap)) == 0u);
  }
  BOOST_TEST(write_status_response(h, false, std::span<char>(buf.data(), need)) == need);
  std::size_t head = write_response_head(h, buf);
  BOOST_TEST(write_response_head(h, std::span<char>(buf.data(), head - 1)) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(access_log)

BOOST_AUTO_TEST_CASE(combined_format) {
  std::array<char, 512> buf{};
  AccessLogEntry e;
  e.remote = "127.0.0.1";
  e.time_seconds = 784111777;
  e.request_line = "GET /index.html HTTP/1.1";
  e.status = 200;
  e.body_bytes = 612;
  e.user_agent = "curl/7.88.1";
  std::size_t n = append_access_log(e, buf);
  BOOST_TEST(std::string_view(buf.data(), n) ==
             "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /index.html HTTP/1.1\" 200 612 \"-\" \"curl/7.88.1\"\n");
}

BOOST_AUTO_TEST_CASE(hostile_bytes_escaped) {
  std::array<char, 512> buf{};
  AccessLogEntry e;
  e.remote = "::1";
  e.time_seconds = 0;
  e.status = 400;
  e.request_line = {};
  e.referer = "x\" 200 1 \"forged";
  e.user_agent = std::string_view("a\nb\\c\0\xff", 7);
  std::string_view line(buf.data(), append_access_log(e, buf));
  BOOST_TEST(line == "::1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 0 \"x\\x22 200 1 \\x22forged\" \"a\\x0Ab\\x5Cc\\x00\\xFF\"\n");
  BOOST_TEST(line.find('\n') == line.size() - 1);  // one line, whatever the client sent
}

BOOST_AUTO_TEST_CASE(appends_and_reports_full) {
  std::array<char, 100> buf{};
  AccessLogEntry e;
  e.remote = "127.0.0.1";
  e.request_line = "GET / HTTP/1.1";
  e.status = 200;
  std::size_t used = 0;
  std::size_t lines = 0;
  while (std::size_t n = append_access_log(e, std::span<char>(buf).subspan(used))) {
    used += n;
    ++lines;
  }
  BOOST_TEST(lines == 1u);  // a 70-byte line fits once in 100 bytes
  BOOST_TEST(std::string_view(buf.data(), used).ends_with("\"-\" \"-\"\n"));
}

BOOST_AUTO_TEST_SUITE_END()
