// The request parser: framing, limits, smuggling, keep-alive, pipelining.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "http/request.hpp"
#include "support.hpp"

using namespace ringxfer::http;
using httptest::outcome;
using httptest::parse;

namespace {

const std::string ok_get = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";

std::string with_header(const std::string& field) { return "GET / HTTP/1.1\r\nHost: h\r\n" + field + "\r\n\r\n"; }

// Feeds `text` to one parser in pieces of `step` bytes (the buffer grows as a
// connection's would) and returns the first non-need_more result.
ParseResult feed(const std::string& text, std::size_t step, Request& req, std::size_t* calls = nullptr) {
  RequestParser parser;
  ParseResult r;
  std::size_t n = 0;
  for (std::size_t have = std::min(step, text.size());; have = std::min(have + step, text.size())) {
    ++n;
    r = parser.parse(std::string_view(text).substr(0, have), req);
    if (r.state != ParseState::need_more || have == text.size()) break;
  }
  if (calls) *calls = n;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request_parser)

BOOST_AUTO_TEST_CASE(simple_get) {
  auto p = parse(ok_get + "leftover");
  BOOST_TEST(p.result.state == ParseState::complete);
  BOOST_TEST(p.result.consumed == ok_get.size());
  const Request& r = *p.request;
  BOOST_TEST(r.method == Method::get);
  BOOST_TEST(r.version_minor == 1u);
  BOOST_TEST(r.request_line == "GET /index.html HTTP/1.1");
  BOOST_TEST(r.path == "/index.html");
  BOOST_TEST(r.query.empty());
  BOOST_TEST(r.host == "example.com");
  BOOST_TEST(r.keep_alive);
  BOOST_TEST(r.header_count == 1u);
  BOOST_TEST(r.headers[0].name == "Host");
  BOOST_TEST(!Request::present(r.range));
}

BOOST_AUTO_TEST_CASE(head_and_query) {
  auto p = parse("HEAD /a/b.txt?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  BOOST_TEST(p.request->method == Method::head);
  BOOST_TEST(p.request->path == "/a/b.txt");
  BOOST_TEST(p.request->query == "x=1&y=%20");
  BOOST_TEST(p.request->target == "/a/b.txt?x=1&y=%20");
}

BOOST_AUTO_TEST_CASE(fields_serve_needs) {
  auto p = parse(
      "GET /f HTTP/1.1\r\nHost: h:8080\r\nRange: bytes=0-9\r\nIf-Range: \"abc\"\r\n"
      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nIf-None-Match:  W/\"x\", \"y\"  \r\n"
      "User-Agent: curl/7.88\r\nReferer: http://r/\r\nX-Other: \xff obs-text ok\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  const Request& r = *p.request;
  BOOST_TEST(r.host == "h:8080");
  BOOST_TEST(r.range == "bytes=0-9");
  BOOST_TEST(r.if_range == "\"abc\"");
  BOOST_TEST(r.if_modified_since == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(r.if_none_match == "W/\"x\", \"y\"");  // OWS trimmed
  BOOST_TEST(r.user_agent == "curl/7.88");
  BOOST_TEST(r.referer == "http://r/");
  BOOST_TEST(r.header_count == 8u);
  BOOST_TEST(!r.range_ignored);
}

BOOST_AUTO_TEST_CASE(field_names_case_insensitive) {
  auto p = parse("GET / HTTP/1.1\r\nhOsT: h\r\nRANGE: bytes=1-\r\nconnection: CLOSE\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  BOOST_TEST(p.request->host == "h");
  BOOST_TEST(p.request->range == "bytes=1-");
  BOOST_TEST(!p.request->keep_alive);
}

BOOST_AUTO_TEST_CASE(duplicate_range_is_ignored) {
  auto p = parse("GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nRange: bytes=5-9\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  BOOST_TEST(p.request->range_ignored);
}

BOOST_AUTO_TEST_CASE(incomplete_needs_more) {
  for (std::size_t n = 0; n < ok_get.size(); ++n) {
    BOOST_TEST_CONTEXT("prefix " << n) { BOOST_TEST(outcome(ok_get.substr(0, n)) == 0u); }
  }
}

BOOST_AUTO_TEST_CASE(byte_by_byte_equals_whole) {
  const std::string text =
      "\r\nGET /x?q HTTP/1.1\r\nHost: h\r\nRange: bytes=-5\r\nConnection: close\r\n\r\nGET";
  for (std::size_t step : {1u, 2u, 3u, 7u, 100u}) {
    Request req;
    std::size_t calls = 0;
    ParseResult r = feed(text, step, req, &calls);
    BOOST_TEST_CONTEXT("step " << step) {
      BOOST_TEST(r.state == ParseState::complete);
      BOOST_TEST(r.consumed == text.size() - 3);
      BOOST_TEST(req.path == "/x");
      BOOST_TEST(req.range == "bytes=-5");
      BOOST_TEST(!req.keep_alive);
    }
  }
}

BOOST_AUTO_TEST_CASE(buffer_may_move_between_calls) {
  // The parser keeps offsets, not pointers: a caller may compact or grow its
  // buffer between calls.
  RequestParser parser;
  Request req;
  std::string first = ok_get.substr(0, 20);
  BOOST_TEST(parser.parse(first, req).state == ParseState::need_more);
  std::string moved = ok_get;  // a different allocation with the same bytes
  ParseResult r = parser.parse(moved, req);
  BOOST_TEST(r.state == ParseState::complete);
  const void* path = req.path.data();
  BOOST_TEST(path == static_cast<const void*>(moved.data() + 4));
  BOOST_TEST(req.path == "/index.html");
}

BOOST_AUTO_TEST_CASE(pipelined_500_in_one_buffer) {
  std::string all;
  for (int i = 0; i < 500; ++i) {
    all += "GET /f" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
  }
  RequestParser parser;
  Request req;
  std::size_t offset = 0;
  int count = 0;
  for (;;) {
    ParseResult r = parser.parse(std::string_view(all).substr(offset), req);
    if (r.state != ParseState::complete) {
      BOOST_TEST(r.state == ParseState::need_more);
      break;
    }
    BOOST_TEST(req.path == "/f" + std::to_string(count));
    offset += r.consumed;
    ++count;
  }
  BOOST_TEST(count == 500);
  BOOST_TEST(offset == all.size());
}

BOOST_AUTO_TEST_CASE(leading_blank_lines_skipped) {
  auto p = parse("\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  BOOST_TEST(p.result.consumed == p.text.size());
  BOOST_TEST(p.request->request_line == "GET / HTTP/1.1");
  // ...but not without end.
  BOOST_TEST(outcome(std::string(20000, '\n')) == 400u);
}

BOOST_AUTO_TEST_CASE(line_ends) {
  BOOST_TEST(outcome("GET / HTTP/1.1\nHost: h\n\n") == 200u);      // bare LF accepted (RFC 9112 2.2)
  BOOST_TEST(outcome("GET / HTTP/1.1\rHost: h\r\n\r\n") == 400u);  // bare CR
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\n\rX") == 400u);
  BOOST_TEST(outcome("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
}

BOOST_AUTO_TEST_CASE(methods) {
  BOOST_TEST(outcome("get / HTTP/1.1\r\nHost: h\r\n\r\n") == 501u);  // case-sensitive
  BOOST_TEST(outcome("Get / HTTP/1.1\r\nHost: h\r\n\r\n") == 501u);
  BOOST_TEST(outcome("BREW / HTTP/1.1\r\nHost: h\r\n\r\n") == 501u);
  for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"}) {
    BOOST_TEST_CONTEXT(m) { BOOST_TEST(outcome(std::string(m) + " / HTTP/1.1\r\nHost: h\r\n\r\n") == 405u); }
  }
  // Judged when the request line ends, before the fields arrive.
  BOOST_TEST(outcome("POST /upload HTTP/1.1\r\n") == 405u);
  // A token longer than any method: no need to wait for its end.
  BOOST_TEST(outcome(std::string(40, 'G')) == 501u);
  BOOST_TEST(outcome(" GET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
  BOOST_TEST(outcome("G(T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
}

BOOST_AUTO_TEST_CASE(versions) {
  BOOST_TEST(outcome("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505u);
  BOOST_TEST(outcome("GET / HTTP/3.0\r\n") == 505u);
  BOOST_TEST(outcome("GET / HTTP/0.9\r\n") == 505u);
  BOOST_TEST(outcome("GET / http/1.1\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1x\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/11\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1 \r\n") == 400u);
  BOOST_TEST(outcome("GET /\r\n\r\n") == 400u);  // HTTP/0.9 simple request
  BOOST_TEST(outcome("GET  / HTTP/1.1\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1GARBAGEGARBAGE") == 400u);  // too long, no line end needed
  auto p = parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n");  // a later 1.x minor is served as 1.1
  BOOST_TEST(p.result.state == ParseState::complete);
  BOOST_TEST(p.request->version_minor == 1u);
  auto q = parse("GET / HTTP/1.0\r\n\r\n");
  BOOST_TEST(q.result.state == ParseState::complete);
  BOOST_TEST(q.request->version_minor == 0u);
  BOOST_TEST(!q.request->keep_alive);
}

BOOST_AUTO_TEST_CASE(http2_preface_fails_at_once) {
  // The preface is "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": 400 as soon as its
  // request line is in, not after waiting for more.
  BOOST_TEST(outcome("PRI * HTTP/2.0\r\n") == 400u);
  BOOST_TEST(outcome("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 400u);
}

BOOST_AUTO_TEST_CASE(tls_client_hello_fails_at_once) {
  const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
  BOOST_TEST(outcome(std::string(reinterpret_cast<const char*>(hello), 1)) == 400u);
  BOOST_TEST(outcome(std::string(reinterpret_cast<const char*>(hello), sizeof hello)) == 400u);
  BOOST_TEST(outcome(std::string("\0GET", 4)) == 400u);
}

BOOST_AUTO_TEST_CASE(request_targets) {
  BOOST_TEST(outcome("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);  // asterisk-form
  BOOST_TEST(outcome("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n") == 405u);
  BOOST_TEST(outcome("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);  // authority-form
  BOOST_TEST(outcome("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n") == 400u);  // raw UTF-8: must be encoded

  auto p = parse("GET HTTP://Other.example:8080/p/q?x HTTP/1.1\r\nHost: ignored\r\n\r\n");
  BOOST_REQUIRE(p.result.state == ParseState::complete);
  BOOST_TEST(p.request->path == "/p/q");
  BOOST_TEST(p.request->query == "x");
  BOOST_TEST(p.request->host == "Other.example:8080");  // RFC 9112 3.2.2: the target's authority wins
  auto q = parse("GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n");
  BOOST_REQUIRE(q.result.state == ParseState::complete);
  BOOST_TEST(q.request->path == "/");
  BOOST_TEST(q.request->query == "x");
}

BOOST_AUTO_TEST_CASE(uri_too_long_fails_early) {
  Limits limits;
  limits.max_uri_bytes = 100;
  BOOST_TEST(outcome("GET /" + std::string(99, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits) == 200u);
  BOOST_TEST(outcome("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits) == 414u);
  // No line end yet: the limit alone decides.
  BOOST_TEST(outcome("GET /" + std::string(200, 'a'), limits) == 414u);
  BOOST_TEST(outcome("GET /" + std::string(100000, 'a')) == 414u);
}

BOOST_AUTO_TEST_CASE(field_syntax) {
  BOOST_TEST(outcome(with_header("X-Ok: a b\tc")) == 200u);
  BOOST_TEST(outcome(with_header("X-Empty:")) == 200u);
  BOOST_TEST(outcome(with_header("Host : h")) == 400u);  // whitespace before the colon
  BOOST_TEST(outcome(with_header("X-A\t: b")) == 400u);
  BOOST_TEST(outcome(with_header(": nameless")) == 400u);
  BOOST_TEST(outcome(with_header("no colon here")) == 400u);
  BOOST_TEST(outcome(with_header("X(y): b")) == 400u);
  BOOST_TEST(outcome(with_header(std::string("X-Nul: a\0b", 10))) == 400u);
  BOOST_TEST(outcome(with_header("X-Ctl: a\x01" "b")) == 400u);
  BOOST_TEST(outcome(with_header("X-Del: a\x7f")) == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n b\r\n\r\n") == 400u);   // obs-fold
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n\tb\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == 400u);  // whitespace before the first field
  // A fold fails when its first byte arrives, not when the head is complete.
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b") == 400u);
  // A NUL fails before the head is complete.
  BOOST_TEST(outcome(std::string("GET / HTTP/1.1\r\nX: \0", 21)) == 400u);
}

BOOST_AUTO_TEST_CASE(head_size_limits) {
  Limits limits;
  limits.max_head_bytes = 1000;
  limits.max_header_count = 10;
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(960, 'v') + "\r\n\r\n";
  BOOST_TEST(outcome(big, limits) == 200u);
  std::string too_big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(1000, 'v') + "\r\n\r\n";
  BOOST_TEST(outcome(too_big, limits) == 431u);
  // Unterminated: 431 as soon as the limit is crossed.
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nX: " + std::string(5000, 'v'), limits) == 431u);
  // Many small lines.
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 9; ++i) many += "X: y\r\n";
  BOOST_TEST(outcome(many + "\r\n", limits) == 200u);
  BOOST_TEST(outcome(many + "X: z\r\n\r\n", limits) == 431u);
  BOOST_TEST(outcome(many + "X: z\r\n", limits) == 431u);  // without waiting for the end
  // The default limits: 64 fields, 16 KiB.
  std::string hundred = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 100; ++i) hundred += "X-" + std::to_string(i) + ": y\r\n";
  BOOST_TEST(outcome(hundred + "\r\n") == 431u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(20000, 'c') + "\r\n\r\n") == 431u);
}

BOOST_AUTO_TEST_CASE(header_count_cannot_exceed_slots) {
  Limits limits;
  limits.max_header_count = 1000;  // clamped to max_header_slots
  limits.max_head_bytes = 100000;
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 0; i < max_header_slots; ++i) many += "X: y\r\n";
  BOOST_TEST(outcome(many + "\r\n", limits) == 431u);
}

BOOST_AUTO_TEST_CASE(host_rules) {
  BOOST_TEST(outcome("GET / HTTP/1.1\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.0\r\n\r\n") == 200u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n") == 200u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost:\r\n\r\n") == 200u);  // empty is allowed (RFC 9112 3.2)
  BOOST_TEST(outcome("GET http://h/ HTTP/1.1\r\n\r\n") == 400u);     // 1.1 needs Host even then
}

BOOST_AUTO_TEST_CASE(content_length) {
  BOOST_TEST(outcome(with_header("Content-Length: 0")) == 200u);
  BOOST_TEST(outcome(with_header("Content-Length: 0, 0")) == 200u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n") == 200u);
  for (const char* bad : {"abc", "-1", "+5", "", " ", "1 2", "0x10", "1.0", "99999999999999999999",
                          "9223372036854775808", "5, 6", "5,", ",5"}) {
    BOOST_TEST_CONTEXT("Content-Length: '" << bad << "'") {
      BOOST_TEST(outcome(with_header(std::string("Content-Length: ") + bad)) == 400u);
    }
  }
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") == 400u);
  // A body on GET/HEAD is refused (413, close), also when repeated consistently.
  BOOST_TEST(outcome(with_header("Content-Length: 5") + "hello") == 413u);
  BOOST_TEST(outcome(with_header("Content-Length: 5, 5")) == 413u);
  BOOST_TEST(outcome(with_header("Content-Length: 9223372036854775807")) == 413u);
  BOOST_TEST(outcome("HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx") == 413u);
}

BOOST_AUTO_TEST_CASE(transfer_encoding_smuggling) {
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n") == 400u);
  BOOST_TEST(outcome(with_header("Transfer-Encoding: chunked") + "0\r\n\r\n") == 501u);
  BOOST_TEST(outcome(with_header("Transfer-Encoding: identity")) == 501u);
  BOOST_TEST(outcome(with_header("transfer-encoding: gzip, chunked")) == 501u);
  BOOST_TEST(outcome("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 501u);
  // Obfuscations are refused too, not read as some other field.
  BOOST_TEST(outcome(with_header("Transfer-Encoding : chunked")) == 400u);
  BOOST_TEST(outcome("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n") == 400u);
}

BOOST_AUTO_TEST_CASE(keep_alive) {
  auto ka = [](const std::string& text) {
    auto p = parse(text);
    BOOST_REQUIRE(p.result.state == ParseState::complete);
    return p.request->keep_alive;
  };
  BOOST_TEST(ka("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  BOOST_TEST(!ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  BOOST_TEST(!ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"));
  BOOST_TEST(!ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"));
  BOOST_TEST(ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"));
  BOOST_TEST(!ka("GET / HTTP/1.0\r\n\r\n"));
  BOOST_TEST(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  BOOST_TEST(ka("GET / HTTP/1.0\r\nConnection: TE, Keep-Alive\r\n\r\n"));
  BOOST_TEST(!ka("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
}

BOOST_AUTO_TEST_CASE(parser_is_reusable_after_error) {
  RequestParser parser;
  Request req;
  std::string bad = "GET / HTTP/1.1\r\nHost : h\r\n\r\n";
  BOOST_TEST(parser.parse(bad, req).state == ParseState::error);
  BOOST_TEST(parser.parse(ok_get, req).state == ParseState::complete);
  BOOST_TEST(parser.parse("GET / HT", req).state == ParseState::need_more);
  parser.reset();
  BOOST_TEST(parser.parse(ok_get, req).state == ParseState::complete);
}

BOOST_AUTO_TEST_CASE(split_between_cr_and_lf) {
  Request req;
  for (std::size_t step : {1u, 15u, 16u, 17u}) {
    BOOST_TEST(feed(ok_get, step, req).state == ParseState::complete);
  }
}

BOOST_AUTO_TEST_SUITE_END()
