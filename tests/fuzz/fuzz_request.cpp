// libFuzzer target: the HTTP/1.1 request parser (tools/http/request.hpp) and
// what serve does next with a parsed request (path normalization, the
// conditional/range selection).
//
// Invariants checked on every input:
// - a pipelined parse of the whole buffer never reads outside it, every
//   complete request consumes > 0 bytes, its views lie inside the input;
// - feeding the same bytes in small pieces gives exactly the same sequence of
//   results (the incremental scan agrees with the one-shot scan);
// - a normalized path never escapes: no "..", no leading '/', no NUL or
//   backslash, and fits its buffer;
// - a selected 206 range lies inside the file.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "http/conditional.hpp"
#include "http/path.hpp"
#include "http/request.hpp"

using namespace ringxfer::http;

namespace {

// Small limits so the fuzzer reaches them quickly.
Limits fuzz_limits() {
  Limits l;
  l.max_uri_bytes = 256;
  l.max_head_bytes = 1024;
  l.max_header_count = 12;
  return l;
}

struct Outcome {
  ParseState state;
  std::size_t consumed;
  Status status;
  std::string_view request_line, path, host, range;
  bool keep_alive;
  std::size_t header_count;
  bool operator==(const Outcome&) const = default;
};

bool inside(std::string_view part, std::string_view whole) {
  if (part.data() == nullptr || part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_path(std::string_view path) {
  std::array<char, 512> buffer;
  PathResult p = normalize_path(path, buffer);
  if (p.status != Status::ok) return;
  std::string_view rel = p.relative;
  FUZZ_CHECK(!rel.empty() && rel.size() <= buffer.size());
  FUZZ_CHECK(rel.front() != '/');
  FUZZ_CHECK(rel.find('\0') == std::string_view::npos);
  FUZZ_CHECK(rel.find('\\') == std::string_view::npos);
  FUZZ_CHECK(rel.find("//") == std::string_view::npos);
  // No ".." segment anywhere.
  std::string_view rest = rel;
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    FUZZ_CHECK(segment != "..");
    FUZZ_CHECK(!segment.empty());
    FUZZ_CHECK(segment != "." || rel == ".");
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
}

void check_request(const Request& r, std::string_view input, std::size_t size) {
  FUZZ_CHECK(inside(r.request_line, input) && inside(r.target, input) && inside(r.host, input));
  FUZZ_CHECK(inside(r.range, input) && inside(r.if_none_match, input) && inside(r.user_agent, input));
  FUZZ_CHECK(!r.path.empty() && r.path.front() == '/');
  FUZZ_CHECK(r.header_count <= fuzz_limits().max_header_count);
  FUZZ_CHECK(r.version_minor <= 1);
  FUZZ_CHECK(r.content_length == 0);
  FUZZ_CHECK(r.version_minor == 0 || r.has_host);
  for (std::size_t i = 0; i < r.header_count; ++i) {
    FUZZ_CHECK(inside(r.headers[i].name, input) && inside(r.headers[i].value, input));
    FUZZ_CHECK(!r.headers[i].name.empty());
  }
  check_path(r.path);
  ETag tag = ETag::from(size, 784111777);
  Selection s = select_response(r, Representation{size, 784111777, tag.view()});
  if (s.status == Status::partial_content) FUZZ_CHECK(s.range.first <= s.range.last && s.range.last < size);
}

// Pipelined parse of `input`, `step` new bytes per call (0: all at once).
std::vector<Outcome> run(std::string_view input, std::size_t step, Request& req) {
  std::vector<Outcome> out;
  RequestParser parser(fuzz_limits());
  std::size_t offset = 0;
  std::size_t have = step == 0 ? input.size() : std::min(input.size(), step);
  while (out.size() < 64) {
    ParseResult r = parser.parse(input.substr(offset, have - offset), req);
    if (r.state == ParseState::need_more && have < input.size()) {
      have = step == 0 ? input.size() : std::min(input.size(), have + step);
      continue;
    }
    Outcome o{r.state, r.consumed, r.status, {}, {}, {}, {}, false, 0};
    if (r.state == ParseState::complete) {
      FUZZ_CHECK(r.consumed > 0 && offset + r.consumed <= have);
      check_request(req, input, input.size());
      o = Outcome{r.state, r.consumed, r.status, req.request_line, req.path, req.host, req.range, req.keep_alive,
                  req.header_count};
      offset += r.consumed;
      if (have < offset) have = offset;
    }
    out.push_back(o);
    if (r.state != ParseState::complete) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static Request req;  // 3 KiB: not on the stack per call
  std::vector<Outcome> whole = run(input, 0, req);
  // One byte at a time is the hardest case for the resumable scan; a prime
  // step crosses CRLFs at varying offsets.
  FUZZ_CHECK(run(input, 1, req) == whole);
  FUZZ_CHECK(run(input, 7, req) == whole);
  // The raw input as a path too: the normalizer must hold on any bytes.
  if (!input.empty() && input.front() == '/') check_path(input);
  return 0;
}
