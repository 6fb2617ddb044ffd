// `get`: HTTP/1.1 keep-alive GET load, for machines without wrk. Each
// connection sends `GET PATH` again as soon as a response has been read
// (or keeps --in-flight requests pipelined); every response must be 200
// with a Content-Length, and exactly that many body bytes must follow.
#include <cctype>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "request_loop_cli.hpp"

namespace ringxfer::perf {
namespace {

constexpr std::string_view get_usage_head =
    "usage: ringxfer-load-neutral get --target HOST:PORT [--path /PATH] [options]\n"
    "\n"
    "HTTP/1.1 keep-alive GET load. Each response must be `200` with a Content-Length\n"
    "(chunked encoding is not read), and that many body bytes must follow.\n"
    "\n"
    "options:\n"
    "  --path PATH           the request target (default /)\n"
    "  --host NAME           the Host header (default: the --target text)\n"
    "  --expect-length BYTES fail unless every Content-Length is exactly this\n";

// A streaming response reader: no header buffer, one pass over each byte
// of the status line and headers, the body skipped in bulk.
class HttpProtocol {
 public:
  struct State {
    enum class Phase : std::uint8_t { status_line, header_line, body } phase = Phase::status_line;
    std::uint32_t line_position = 0;
    std::uint32_t status = 0;
    bool name_matches = true;  // this header line so far reads "content-length:"
    bool in_length = false;
    bool have_length = false;
    std::uint64_t content_length = 0;
    std::uint64_t body_left = 0;
    const char* error = "";
  };

  HttpProtocol(std::string request, std::uint64_t expect_length) : request_size_(request.size()), expect_length_(expect_length) {
    // Many copies back to back, so a window of several pipelined requests is
    // one contiguous send.
    std::size_t copies = std::max<std::size_t>(64, 65536 / request.size());
    for (std::size_t i = 0; i < copies; ++i) requests_ += request;
  }

  State make_state(std::uint32_t) const { return State{}; }
  std::uint64_t request_size_bytes() const { return request_size_; }
  std::span<const char> send_window(const State&, std::uint64_t offset, std::uint64_t max) const {
    std::size_t start = static_cast<std::size_t>(offset % request_size_);
    std::size_t length = std::min<std::uint64_t>(max, requests_.size() - start);
    return {requests_.data() + start, length};
  }

  template <class OnResponse>
  bool consume(State& s, const char* data, std::size_t size, OnResponse&& on_response) const {
    std::size_t i = 0;
    while (i < size) {
      if (s.phase == State::Phase::body) {
        std::uint64_t take = std::min<std::uint64_t>(s.body_left, size - i);
        s.body_left -= take;
        i += static_cast<std::size_t>(take);
        if (s.body_left == 0) {
          s = State{};
          on_response();
        }
        continue;
      }
      if (!header_byte(s, data[i++])) return false;
      if (s.phase == State::Phase::body && s.body_left == 0) {
        s = State{};
        on_response();
      }
    }
    return true;
  }
  const char* error_text(const State& s) const { return s.error; }

 private:
  static constexpr std::string_view length_name = "content-length:";

  bool fail(State& s, const char* why) const {
    s.error = why;
    return false;
  }

  bool header_byte(State& s, char c) const {
    if (c == '\r') return true;
    if (s.phase == State::Phase::status_line) {
      if (c == '\n') {
        if (s.line_position < 12) return fail(s, "a short status line");
        if (s.status != 200) return fail(s, "a status other than 200");
        s.phase = State::Phase::header_line;
        s.line_position = 0;
        return true;
      }
      std::uint32_t p = s.line_position++;
      if (p < 5 && c != "HTTP/"[p]) return fail(s, "a response that does not start with HTTP/");
      if (p >= 9 && p < 12) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return fail(s, "a status code that is not 3 digits");
        s.status = s.status * 10 + static_cast<std::uint32_t>(c - '0');
      }
      return true;
    }
    // A header line.
    if (c == '\n') {
      if (s.line_position == 0) {  // the empty line: headers end
        if (!s.have_length) return fail(s, "a response without Content-Length");
        if (expect_length_ != UINT64_MAX && s.content_length != expect_length_) {
          return fail(s, "a Content-Length other than --expect-length");
        }
        s.phase = State::Phase::body;
        s.body_left = s.content_length;
        return true;
      }
      s.line_position = 0;
      s.name_matches = true;
      s.in_length = false;
      return true;
    }
    std::uint32_t p = s.line_position++;
    if (s.in_length) {
      if (std::isdigit(static_cast<unsigned char>(c))) {
        if (s.content_length > (UINT64_MAX - 9) / 10) return fail(s, "a Content-Length too large");
        s.content_length = s.content_length * 10 + static_cast<std::uint64_t>(c - '0');
        s.have_length = true;
      } else if (c != ' ' && c != '\t') {
        return fail(s, "a Content-Length that is not a number");
      }
    } else if (s.name_matches && p < length_name.size()) {
      if (std::tolower(static_cast<unsigned char>(c)) != length_name[p]) {
        s.name_matches = false;
      } else if (p + 1 == length_name.size()) {
        if (s.have_length) return fail(s, "two Content-Length headers");
        s.in_length = true;
      }
    }
    return true;
  }

  std::string requests_;
  std::uint64_t request_size_;
  std::uint64_t expect_length_;
};

}  // namespace

int get_command(std::span<const std::string_view> args) {
  RequestLoopOptions options;
  std::string path = "/";
  std::string host;
  std::uint64_t expect_length = UINT64_MAX;
  bool json = false;
  bool target_given = false;
  ArgReader reader(args);
  while (reader.next()) {
    std::string_view f = reader.flag();
    if (f == "-h" || f == "--help") {
      std::cout << get_usage_head << request_loop_flags_help;
      return exit_ok;
    }
    if (f == "--path") {
      path = std::string(reader.value());
      if (!path.starts_with('/') || path.find_first_of(" \r\n") != std::string::npos) {
        throw UsageError("--path: must start with / and contain no spaces or line breaks");
      }
      continue;
    }
    if (f == "--host") {
      host = std::string(reader.value());
      if (host.empty() || host.find_first_of(" \r\n") != std::string::npos) throw UsageError("--host: bad name");
      continue;
    }
    if (f == "--expect-length") {
      expect_length = parse_size_bytes(f, reader.value());
      continue;
    }
    if (f == "--target") target_given = true;
    if (!take_request_loop_flag(reader, options, json)) reader.unknown();
  }
  check_request_loop_options(options, target_given);
  if (host.empty()) host = options.target.text();

  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: ringxfer-load-neutral\r\n\r\n";
  HttpProtocol protocol(request, expect_length);
  RequestLoopResult result = run_request_loop(protocol, options);

  double body_bytes = result.responses > 0 ? static_cast<double>(result.rx_bytes) / static_cast<double>(result.responses) : 0.0;
  if (json) {
    JsonObject out;
    out.field("tool", "ringxfer-load-neutral").field("mode", "get").field("path", path);
    add_request_loop_fields(out, options, result, body_bytes);
    std::cout << out.finish();
  } else {
    print_request_loop(std::cout, "get", options, result);
  }
  return request_loop_exit_code("ringxfer-load-neutral get", result);
}

}  // namespace ringxfer::perf
