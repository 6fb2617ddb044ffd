// Path normalization: traversal in every spelling is refused.
#include <boost/test/unit_test.hpp>

#include <array>
#include <string>

#include "http/path.hpp"
#include "support.hpp"

using namespace ringxfer::http;

namespace {

struct Normalized {
  std::array<char, 4096> buffer;
  PathResult result;
};

Normalized norm(std::string_view path) {
  Normalized n{};
  n.result = normalize_path(path, n.buffer);
  return n;
}

unsigned status_of(std::string_view path) { return code(norm(path).result.status); }

}  // namespace

BOOST_AUTO_TEST_SUITE(path)

BOOST_AUTO_TEST_CASE(plain_paths) {
  auto a = norm("/index.html");
  BOOST_TEST(a.result.status == Status::ok);
  BOOST_TEST(a.result.relative == "index.html");
  BOOST_TEST(!a.result.directory);
  auto b = norm("/a/b/c.txt");
  BOOST_TEST(b.result.relative == "a/b/c.txt");
  auto root = norm("/");
  BOOST_TEST(root.result.relative == ".");
  BOOST_TEST(root.result.directory);
}

BOOST_AUTO_TEST_CASE(trailing_slash_means_directory) {
  auto d = norm("/docs/");
  BOOST_TEST(d.result.relative == "docs");
  BOOST_TEST(d.result.directory);
  auto dot = norm("/docs/.");
  BOOST_TEST(dot.result.relative == "docs");
  BOOST_TEST(dot.result.directory);
  BOOST_TEST(!norm("/docs").result.directory);
}

BOOST_AUTO_TEST_CASE(empty_and_dot_segments_dropped) {
  BOOST_TEST(norm("//a///b//").result.relative == "a/b");
  BOOST_TEST(norm("/./a/./b").result.relative == "a/b");
  BOOST_TEST(norm("/%2e/a").result.relative == "a");
  BOOST_TEST(norm("//").result.relative == ".");
  BOOST_TEST(norm("/./").result.relative == ".");
  BOOST_TEST(norm("/...").result.relative == "...");  // a legal name
  BOOST_TEST(norm("/..a").result.relative == "..a");
  BOOST_TEST(norm("/a..").result.relative == "a..");
}

BOOST_AUTO_TEST_CASE(percent_decoding) {
  BOOST_TEST(norm("/a%20b").result.relative == "a b");
  BOOST_TEST(norm("/%C3%A9t%c3%a9.txt").result.relative == "\xc3\xa9t\xc3\xa9.txt");
  BOOST_TEST(norm("/100%25").result.relative == "100%");
  BOOST_TEST(norm("/%252e%252e/").result.relative == "%2e%2e");  // decoded once, not twice
  for (const char* bad : {"/%", "/%2", "/%zz", "/%g0", "/a%2", "/%%30"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(status_of(bad) == 400u); }
  }
}

BOOST_AUTO_TEST_CASE(traversal_refused) {
  for (const char* bad : {"/..", "/../", "/../etc/passwd", "/a/../../etc/passwd", "/a/..", "/a/../b",
                          "/%2e%2e/etc/passwd", "/%2E%2E/", "/.%2e/", "/%2e./x", "/a/%2e%2e", "//../x",
                          "/./../x"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(status_of(bad) == 403u); }
  }
}

BOOST_AUTO_TEST_CASE(encoded_slash_and_backslash_refused) {
  for (const char* bad : {"/a%2fb", "/a%2Fb", "/..%2fetc%2fpasswd", "/%2f", "/a\\b", "/..\\..\\x", "/a%5cb",
                          "/%5c..%5c"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(status_of(bad) == 403u); }
  }
}

BOOST_AUTO_TEST_CASE(nul_and_controls_refused) {
  BOOST_TEST(status_of("/a%00.html") == 400u);
  BOOST_TEST(status_of("/a%00/../../x") == 400u);
  BOOST_TEST(status_of(std::string_view("/a\0b", 4)) == 400u);
  BOOST_TEST(status_of("/a%0d%0aSet-Cookie:x") == 400u);
  BOOST_TEST(status_of("/a%7f") == 400u);
  BOOST_TEST(status_of("/a%1f") == 400u);
}

BOOST_AUTO_TEST_CASE(not_absolute_refused) {
  BOOST_TEST(status_of("") == 400u);
  BOOST_TEST(status_of("a/b") == 400u);
  BOOST_TEST(status_of("*") == 400u);
}

BOOST_AUTO_TEST_CASE(query_stripped) {
  BOOST_TEST(norm("/a.txt?x=../../y").result.relative == "a.txt");
  BOOST_TEST(norm("/d/?q").result.directory);
}

BOOST_AUTO_TEST_CASE(length_limits) {
  std::array<char, 16> small{};
  BOOST_TEST(normalize_path("/0123456789abcdef", small).status == Status::ok);
  BOOST_TEST(normalize_path("/0123456789abcdefg", small).status == Status::uri_too_long);
  BOOST_TEST(normalize_path("/01234567/9abcdefg", small).status == Status::uri_too_long);
  BOOST_TEST(normalize_path("/", std::span<char>()).status == Status::uri_too_long);
  BOOST_TEST(status_of("/" + std::string(255, 'n')) == 200u);
  BOOST_TEST(status_of("/" + std::string(256, 'n')) == 404u);
  BOOST_TEST(status_of("/" + std::string(5000, 'n')) == 414u);
}

BOOST_AUTO_TEST_CASE(directory_redirect_location) {
  std::array<char, 64> buf{};
  auto p = httptest::parse("GET /docs%20x?a=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  BOOST_TEST(directory_location(p.request->path, p.request->query, buf) == "/docs%20x/?a=1");
  auto q = httptest::parse("GET /docs? HTTP/1.1\r\nHost: h\r\n\r\n");
  BOOST_REQUIRE(q.result.state == ParseState::complete);
  BOOST_TEST(directory_location(q.request->path, q.request->query, buf) == "/docs/?");
  auto r = httptest::parse("GET /docs HTTP/1.1\r\nHost: h\r\n\r\n");
  BOOST_REQUIRE(r.result.state == ParseState::complete);
  BOOST_TEST(directory_location(r.request->path, r.request->query, buf) == "/docs/");
  BOOST_TEST(directory_location(r.request->path, r.request->query, std::span<char>(buf.data(), 5)).empty());
}

BOOST_AUTO_TEST_SUITE_END()
