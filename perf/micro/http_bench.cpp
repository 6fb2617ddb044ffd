// ringxfer-http-bench: the per-request cost of serve's pure HTTP layer
// (tools/http), and proof that it allocates nothing per request.
//
//   http_parse/<pipelined>   parse a 14-field browser request, `pipelined`
//                            requests back to back in one buffer (as a
//                            pipelining client or a full read delivers them)
//   http_parse_dribble       the same request arriving one byte per call:
//                            the resumable scan must not rescan
//   http_request_pipeline    everything serve does per request besides I/O:
//                            parse, normalize the path, MIME lookup, ETag,
//                            conditional/range selection, response head with
//                            a cached Date, and an access-log line
//
// allocs_per_op: global operator new calls per request inside the timed loop
// (alloc_counter.cpp replaces operator new in this binary). DESIGN invariant 5
// wants 0. Not per backend: nothing here touches the engine.
#include <benchmark/benchmark.h>

#include <array>
#include <string>

#include "alloc_counter.hpp"
#include "http/access_log.hpp"
#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/mime.hpp"
#include "http/path.hpp"
#include "http/request.hpp"
#include "http/response.hpp"

namespace {

using namespace ringxfer::http;

// What Chromium sends for a stylesheet on a revisit, give or take.
const std::string browser_request =
    "GET /assets/css/site.min.css?v=3 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"119\", \"Not?A_Brand\";v=\"24\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: text/css,*/*;q=0.1\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Dest: style\r\n"
    "Referer: https://www.example.com/\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "If-None-Match: \"65a1b2c3-1f40\"\r\n"
    "\r\n";

void report(benchmark::State& state, std::uint64_t allocs, std::uint64_t requests, std::size_t bytes_per_request) {
  state.counters["allocs_per_op"] = double(allocs) / double(requests ? requests : 1);
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.SetBytesProcessed(static_cast<std::int64_t>(requests * bytes_per_request));
}

void bm_parse(benchmark::State& state) {
  const auto pipelined = static_cast<std::size_t>(state.range(0));
  std::string buffer;
  for (std::size_t i = 0; i < pipelined; ++i) buffer += browser_request;
  RequestParser parser;
  Request request;
  std::uint64_t requests = 0;
  const std::uint64_t allocs_before = ringxfer::perf::allocation_count();
  for (auto _ : state) {
    std::string_view rest = buffer;
    for (;;) {
      ParseResult r = parser.parse(rest, request);
      if (r.state != ParseState::complete) break;
      benchmark::DoNotOptimize(request.path.data());
      rest.remove_prefix(r.consumed);
      ++requests;
    }
    if (!rest.empty()) {
      state.SkipWithError("the benchmark request did not parse");
      break;
    }
  }
  report(state, ringxfer::perf::allocation_count() - allocs_before, requests, browser_request.size());
}

void bm_parse_dribble(benchmark::State& state) {
  RequestParser parser;
  Request request;
  std::uint64_t requests = 0;
  const std::uint64_t allocs_before = ringxfer::perf::allocation_count();
  for (auto _ : state) {
    ParseResult r;
    for (std::size_t have = 1; have <= browser_request.size(); ++have) {
      r = parser.parse(std::string_view(browser_request).substr(0, have), request);
      if (r.state != ParseState::need_more) break;
    }
    if (r.state != ParseState::complete) {
      state.SkipWithError("the benchmark request did not parse");
      break;
    }
    ++requests;
  }
  report(state, ringxfer::perf::allocation_count() - allocs_before, requests, browser_request.size());
}

void bm_request_pipeline(benchmark::State& state) {
  RequestParser parser;
  Request request;
  const MimeTable mime;  // built before the timed loop: start-up cost
  DateCache dates;
  std::array<char, 4096> path_buffer;
  std::array<char, 1024> head_buffer;
  std::array<char, 64 * 1024> log_buffer;
  std::size_t log_used = 0;
  std::int64_t now = 1764600000;
  std::uint64_t requests = 0;
  const std::uint64_t allocs_before = ringxfer::perf::allocation_count();
  for (auto _ : state) {
    ParseResult r = parser.parse(browser_request, request);
    PathResult path = normalize_path(request.path, path_buffer);
    if (r.state != ParseState::complete || path.status != Status::ok) {
      state.SkipWithError("the benchmark request did not parse");
      break;
    }
    // What fstat would have said.
    const std::uint64_t size = 8000;
    const std::int64_t mtime = 0x65a1b2c3;  // the If-None-Match above: a 304, as on a revisit
    ETag etag = ETag::from(size, mtime);
    Selection selection = select_response(request, Representation{size, mtime, etag.view()});
    ResponseHead head;
    head.status = selection.status;
    head.keep_alive = request.keep_alive;
    head.date = dates.at(now + std::int64_t(requests / 100000));  // a new second now and then
    head.content_type = mime.lookup(path.relative);
    head.content_length = size;
    head.last_modified = mtime;
    head.etag = etag.view();
    head.accept_ranges = true;
    std::size_t head_bytes = write_response_head(head, head_buffer);
    benchmark::DoNotOptimize(head_buffer.data());
    AccessLogEntry entry{"203.0.113.7", now, request.request_line, code(selection.status), head_bytes,
                         request.referer, request.user_agent};
    std::size_t n = append_access_log(entry, std::span<char>(log_buffer).subspan(log_used));
    if (n == 0) {  // "flush": the caller would write(2) the buffer here
      log_used = 0;
      n = append_access_log(entry, log_buffer);
    }
    log_used += n;
    ++requests;
  }
  report(state, ringxfer::perf::allocation_count() - allocs_before, requests, browser_request.size());
}

}  // namespace

BENCHMARK(bm_parse)->Name("http_parse")->Arg(1)->Arg(64);
BENCHMARK(bm_parse_dribble)->Name("http_parse_dribble");
BENCHMARK(bm_request_pipeline)->Name("http_request_pipeline");

BENCHMARK_MAIN();
