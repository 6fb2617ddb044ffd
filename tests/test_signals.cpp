// signals(): signalfd on both backends, signals sent from other threads.
#include <pthread.h>

#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

struct SignalLog : FinalCall {
  std::vector<int> seen;
  auto handler() {
    return [self = this](std::error_code ec, int signo) {
      if (self->note_call(ec)) self->seen.push_back(signo);
    };
  }
  int count(int signo) const { return int(std::count(seen.begin(), seen.end(), signo)); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(signals)

BOOST_FIXTURE_TEST_CASE(delivered_from_another_thread, EngineFixture) {
  SignalLog& log = state<SignalLog>();
  OpId id = engine().signals({SIGUSR1, SIGUSR2}, log.handler());
  BOOST_REQUIRE(id);
  // Blocked in this thread now (and so in threads started from here on).
  sigset_t mask;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  BOOST_CHECK(sigismember(&mask, SIGUSR1) == 1);
  BOOST_CHECK(sigismember(&mask, SIGUSR2) == 1);

  // Process-directed: kill(getpid()) from another thread.
  std::thread([] { ::kill(::getpid(), SIGUSR1); }).join();
  RX_REQUIRE_UNTIL(engine(), log.count(SIGUSR1) == 1, short_deadline);
  // Thread-directed: pthread_kill to the engine's thread. Under SQPOLL the
  // kernel's poller cannot see those (engine.hpp): checked elsewhere.
  if (variant() != Variant::io_uring_sqpoll) {
    const pthread_t engine_thread = ::pthread_self();
    std::thread([engine_thread] { ::pthread_kill(engine_thread, SIGUSR2); }).join();
    RX_REQUIRE_UNTIL(engine(), log.count(SIGUSR2) == 1, short_deadline);
  }
  // Again: the watch is multishot.
  std::thread([] { ::kill(::getpid(), SIGUSR2); }).join();
  RX_REQUIRE_UNTIL(engine(), log.count(SIGUSR2) >= 1 + (variant() != Variant::io_uring_sqpoll), short_deadline);
  BOOST_CHECK(!log.done());
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), log.done(), short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(log.final_error), describe(log.final_error));
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(log.final_calls, 1);
  BOOST_CHECK_EQUAL(log.calls_after_final, 0);
}

BOOST_FIXTURE_TEST_CASE(every_pending_signal_once_realtime_ones_queued, EngineFixture) {
  SignalLog& log = state<SignalLog>();
  const int rt = SIGRTMIN + 1;
  OpId id = engine().signals({SIGUSR1, rt}, log.handler());
  BOOST_REQUIRE(id);
  // All pending before the loop runs: one wake-up reads them all.
  ::kill(::getpid(), SIGUSR1);
  for (int i = 0; i < 3; ++i) {
    sigval v{};
    v.sival_int = i;
    ::sigqueue(::getpid(), rt, v);  // realtime signals queue; SIGUSR1 would merge
  }
  RX_REQUIRE_UNTIL(engine(), log.seen.size() == 4, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(log.count(SIGUSR1), 1);
  BOOST_CHECK_EQUAL(log.count(rt), 3);
  BOOST_CHECK_EQUAL(log.seen.size(), 4u);
  engine().cancel(id);
  RX_REQUIRE_UNTIL(engine(), log.done(), short_deadline);
}

BOOST_FIXTURE_TEST_CASE(cancel_from_the_handler_and_slot_freed, EngineFixture) {
  const auto slots_before = engine().slot_usage().fd_slots_in_use;
  struct Self : SignalLog {
    Engine* e = nullptr;
    OpId id;
  };
  Self& s = state<Self>();
  s.e = &engine();
  s.id = engine().signals({SIGUSR1}, [self = &s](std::error_code ec, int signo) {
    if (self->note_call(ec)) {
      self->seen.push_back(signo);
      self->e->cancel(self->id);
    }
  });
  BOOST_REQUIRE(s.id);
  BOOST_CHECK_EQUAL(engine().slot_usage().fd_slots_in_use, slots_before + 1);  // the signalfd
  std::thread([] { ::kill(::getpid(), SIGUSR1); }).join();
  RX_REQUIRE_UNTIL(engine(), s.done(), short_deadline);
  BOOST_CHECK_EQUAL(s.seen.size(), 1u);
  BOOST_CHECK_MESSAGE(is_canceled(s.final_error), describe(s.final_error));
  RX_REQUIRE_UNTIL(engine(), engine().slot_usage().fd_slots_in_use == slots_before, short_deadline);
}

BOOST_FIXTURE_TEST_CASE(bad_signal_sets_and_destruction, EngineFixture) {
  SignalLog& kill_log = state<SignalLog>();
  BOOST_REQUIRE(engine().signals({SIGKILL}, kill_log.handler()));
  SignalLog& empty_log = state<SignalLog>();
  BOOST_REQUIRE(engine().signals({}, empty_log.handler()));
  SignalLog& bad_log = state<SignalLog>();
  BOOST_REQUIRE(engine().signals({SIGUSR1, 4096}, bad_log.handler()));
  RX_REQUIRE_UNTIL(engine(), kill_log.done() && empty_log.done() && bad_log.done(), short_deadline);
  RX_CHECK_EC(kill_log.final_error, std::errc::invalid_argument);
  RX_CHECK_EC(empty_log.final_error, std::errc::invalid_argument);
  RX_CHECK_EC(bad_log.final_error, std::errc::invalid_argument);
  // ~Engine ends a running watch with operation_canceled.
  SignalLog& log = state<SignalLog>();
  BOOST_REQUIRE(engine().signals({SIGUSR2}, log.handler()));
  run_for(engine(), 10ms);
  destroy_engine();
  BOOST_CHECK(log.done());
  BOOST_CHECK_MESSAGE(is_canceled(log.final_error), describe(log.final_error));
  reset(variant_options());
}

BOOST_AUTO_TEST_SUITE_END()
