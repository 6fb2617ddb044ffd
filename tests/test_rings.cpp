// The rings themselves: a burst that overflows a tiny CQ is delivered exactly
// once and counted as overflow events (not loop turns); a tiny SQ under
// SQPOLL waits for the kernel thread instead of spinning.
#include <vector>

#include "support.hpp"

using namespace rxtest;

BOOST_AUTO_TEST_SUITE(rings)

namespace {

struct Burst {
  std::vector<int> calls;
  int done = 0;
  int errors = 0;
  explicit Burst(int n) : calls(std::size_t(n), 0) {}
};

// `n` timeouts of `after` started at once: each handler runs exactly once.
void run_burst(EngineFixture& fx, Engine& e, int n, std::chrono::nanoseconds after) {
  Burst& b = fx.state<Burst>(n);
  for (int i = 0; i < n; ++i) {
    BOOST_REQUIRE(e.timeout(after, [p = &b, i](std::error_code ec) {
      ++p->calls[std::size_t(i)];
      ++p->done;
      if (ec) ++p->errors;
    }));
  }
  RX_REQUIRE_UNTIL(e, b.done >= n, short_deadline);
  run_for(e, 20ms);  // nothing more may arrive
  BOOST_CHECK_EQUAL(b.done, n);
  BOOST_CHECK_EQUAL(b.errors, 0);
  int wrong = 0;
  for (int c : b.calls) wrong += c != 1;
  BOOST_CHECK_MESSAGE(wrong == 0, wrong << " handler(s) did not run exactly once");
}

}  // namespace

// A CQ of 4 and 4096 timeouts that fire together: the kernel parks most CQEs
// in its overflow list and hands them back as the loop makes room; a loop
// turn takes at most 256 completions, so the backlog lasts 16 turns or more.
// Stats::cq_overflows counts overflow episodes, not the turns they last.
BOOST_FIXTURE_TEST_CASE(cq_overflow_counts_events_not_turns, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.ring_entries = 2;
  o.cq_factor = 2;
  o.op_slots = 4096;
  Engine& e = reset(o);
  constexpr int n = 4096;
  const std::uint64_t enters_before = e.stats().enter_calls;
  run_burst(*this, e, n, 5ms);
  const auto& s = e.stats();
  const std::uint64_t enters = s.enter_calls - enters_before;
  BOOST_TEST_MESSAGE(variant_name() << ": " << n << " timeouts through a CQ of 4: cq_overflows " << s.cq_overflows
                                    << ", enter_calls " << enters << ", sq_full " << s.sq_full);
  if (is_uring_variant()) {
    BOOST_CHECK_GE(s.cq_overflows, 1u);  // the burst did overflow
    // The backlog drains 4 CQEs per flush: about n/4 = 1024 flushes with the
    // overflow flag up, which the old count (one per look) reported.
    if (!e.features().sqpoll) {
      // Completions are posted when we enter (DEFER_TASKRUN) or at once.
      // The timers fire in the order and over the few ms they were queued
      // in (2 SQEs per submit), so the loop may drain the backlog between
      // them and a new, real episode starts: 1 to 18 seen on 6.18 — against
      // about 1 000 with the old count.
      BOOST_CHECK_LE(s.cq_overflows, std::uint64_t(n / 64));
    } else {
      // The SQ thread posts as the timers fire, spread over the time the
      // 2-entry SQ took to submit them all; our loop sometimes catches up,
      // and the next CQEs start a new, real episode (14..103 seen on 6.18).
      BOOST_CHECK_LE(s.cq_overflows, std::uint64_t(n / 16));
    }
  } else {
    BOOST_CHECK_EQUAL(s.cq_overflows, 0u);
  }
}

// SQPOLL with a 1-entry SQ: each submission waits for the kernel thread to
// take the previous entry (SQ_WAIT). Stats::sq_full counts full-SQ events, one
// per SQE at most; a busy loop around the submit would count millions.
BOOST_FIXTURE_TEST_CASE(sqpoll_tiny_sq_waits_instead_of_spinning, EngineFixture) {
  ringxfer::EngineOptions o = variant_options();
  o.ring_entries = 1;
  o.sqpoll = true;
  Engine& e = reset(o);
  BOOST_TEST_MESSAGE(variant_name() << ": setup " << e.features().setup_mode);
  constexpr int n = 256;
  const std::uint64_t sqes_before = e.stats().sqes;
  const std::uint64_t full_before = e.stats().sq_full;
  run_burst(*this, e, n, 1ms);
  // And a byte stream, so sends and receives queue behind the full SQ too.
  SocketPair p = engine_pair(e);
  constexpr std::size_t total = 1 * MiB;
  StreamSink& sink = state<StreamSink>(Pattern(91));
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  ChainSender& tx = state<ChainSender>(e, p.a, sink.pattern.make(0, total));
  tx.max_chunk = 16 * KiB;
  tx.start();
  RX_REQUIRE_UNTIL(e, tx.done() && sink.done(), big_stream_deadline);
  BOOST_CHECK(!tx.failed);
  check_sink(sink, total);
  const auto& s = e.stats();
  const std::uint64_t sqes = s.sqes - sqes_before;
  const std::uint64_t full = s.sq_full - full_before;
  BOOST_TEST_MESSAGE(variant_name() << ": sqpoll, SQ of 1: " << sqes << " SQEs, sq_full " << full << ", syscalls "
                                    << s.syscalls << ", enter_calls " << s.enter_calls);
  BOOST_CHECK_LE(full, sqes);
  close_all(e, {p.a, p.b});
}

BOOST_AUTO_TEST_SUITE_END()
