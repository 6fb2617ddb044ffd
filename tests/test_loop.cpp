// The loop: variant sanity, timeouts, run/run_once/poll/stop, post/wake from
// other threads.
#include <algorithm>
#include <thread>

#include "support.hpp"

using namespace rxtest;
using ringxfer::BackendKind;
using ringxfer::Feature;
using ringxfer::FeatureSet;

BOOST_AUTO_TEST_SUITE(loop)

BOOST_FIXTURE_TEST_CASE(variant_is_what_was_asked, EngineFixture) {
  const ringxfer::Features& f = engine().features();
  BOOST_TEST_MESSAGE("variant " << variant_name() << ": " << f);
  switch (variant()) {
    case Variant::io_uring_sqpoll:
      BOOST_CHECK_MESSAGE(f.sqpoll, "SQPOLL not set up: " << f.setup_mode);
      [[fallthrough]];
    case Variant::io_uring:
      BOOST_CHECK(f.backend == BackendKind::io_uring);
      BOOST_CHECK(f.disabled == ringxfer::EngineOptions{}.disabled);  // the defaults: recv_bundle is opt-in
      // Kernel 6.x offers all of these; the io_uring variant must use them, or
      // the suite would silently test fallbacks only.
      BOOST_CHECK_MESSAGE(f.has(Feature::send_zc), "send_zc not active: " << ringxfer::to_string(f.active));
      BOOST_CHECK_MESSAGE(f.has(Feature::multishot_recv), "multishot_recv not active");
      BOOST_CHECK_MESSAGE(f.has(Feature::multishot_accept), "multishot_accept not active");
      BOOST_CHECK_MESSAGE(f.has(Feature::buf_ring), "buf_ring not active");
      BOOST_CHECK_MESSAGE(f.has(Feature::buf_ring_inc), "buf_ring_inc not active");
      BOOST_CHECK_MESSAGE(!f.has(Feature::recv_bundle), "recv_bundle active although not asked for");
      BOOST_CHECK_MESSAGE(f.has(Feature::splice), "splice not active");
      break;
    case Variant::epoll:
      BOOST_CHECK(f.backend == BackendKind::epoll);
      break;
    case Variant::io_uring_nofeatures:
      BOOST_CHECK(f.backend == BackendKind::io_uring);
      BOOST_CHECK(f.disabled == FeatureSet::all());
      BOOST_CHECK_MESSAGE(f.active.empty(), "features active although all are disabled: "
                                                << ringxfer::to_string(f.active));
      break;
  }
  BOOST_CHECK(f.backend != BackendKind::automatic);
  BOOST_CHECK_EQUAL(engine().in_flight(), 0u);
}

BOOST_FIXTURE_TEST_CASE(timeout_fires_not_early, EngineFixture) {
  struct St {
    int calls = 0;
    std::error_code ec;
    Clock::time_point fired;
  };
  St& st = state<St>();
  const auto start = Clock::now();
  OpId id = engine().timeout(50ms, [s = &st](std::error_code ec) {
    ++s->calls;
    s->ec = ec;
    s->fired = Clock::now();
  });
  BOOST_REQUIRE(id);
  BOOST_CHECK_EQUAL(st.calls, 0);  // handlers never run inside the starting call
  BOOST_CHECK_EQUAL(engine().in_flight(), 1u);
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(st.fired - start);
  BOOST_CHECK_MESSAGE(elapsed >= 50ms, "timeout fired after " << elapsed.count() << " us, asked 50 ms");
  BOOST_CHECK_MESSAGE(elapsed < 2s, "timeout fired after " << elapsed.count() << " us, asked 50 ms");
  RX_CHECK_OK(st.ec);
  run_for(engine(), 30ms);
  BOOST_CHECK_EQUAL(st.calls, 1);
  BOOST_CHECK_EQUAL(engine().in_flight(), 0u);
  BOOST_CHECK(!engine().cancel(id));  // completed: nothing to cancel
}

BOOST_FIXTURE_TEST_CASE(zero_timeout_fires, EngineFixture) {
  Once& st = state<Once>();
  BOOST_REQUIRE(engine().timeout(0ns, record(st)));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  RX_CHECK_OK(st.ec);
  BOOST_CHECK_EQUAL(st.calls, 1);
}

BOOST_FIXTURE_TEST_CASE(timeouts_fire_in_deadline_order, EngineFixture) {
  struct St {
    std::vector<int> order;
    std::vector<Clock::duration> at;
    std::vector<int> calls = std::vector<int>(5, 0);
    std::error_code first_error;
    Clock::time_point start;
  };
  St& st = state<St>();
  const int delays_ms[5] = {60, 20, 100, 40, 80};  // 20 ms apart
  st.start = Clock::now();
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(engine().timeout(std::chrono::milliseconds(delays_ms[i]), [s = &st, i](std::error_code ec) {
      s->order.push_back(i);
      s->at.push_back(Clock::now() - s->start);
      ++s->calls[std::size_t(i)];
      if (ec && !s->first_error) s->first_error = ec;
    }));
  }
  BOOST_CHECK_EQUAL(engine().in_flight(), 5u);
  RX_REQUIRE_UNTIL(engine(), st.order.size() == 5, short_deadline);
  RX_CHECK_OK(st.first_error);
  const std::vector<int> expected{1, 3, 0, 4, 2};
  BOOST_CHECK_EQUAL_COLLECTIONS(st.order.begin(), st.order.end(), expected.begin(), expected.end());
  for (std::size_t k = 0; k < st.order.size(); ++k) {
    auto want = std::chrono::milliseconds(delays_ms[st.order[k]]);
    BOOST_CHECK_MESSAGE(st.at[k] >= want, "timeout " << st.order[k] << " fired early: "
                                                     << std::chrono::duration_cast<std::chrono::microseconds>(st.at[k]).count()
                                                     << " us < " << want.count() << " ms");
  }
  for (int c : st.calls) BOOST_CHECK_EQUAL(c, 1);
}

BOOST_FIXTURE_TEST_CASE(timeout_cancel, EngineFixture) {
  Once& st = state<Once>();
  const auto start = Clock::now();
  OpId id = engine().timeout(10s, record(st));
  BOOST_REQUIRE(id);
  engine().poll();  // let it be submitted
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(st.ec), "cancelled timeout ended with " << describe(st.ec));
  BOOST_CHECK(Clock::now() - start < 5s);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(st.calls, 1);
  BOOST_CHECK(!engine().cancel(id));  // no longer in flight
  BOOST_CHECK_EQUAL(engine().in_flight(), 0u);
}

BOOST_FIXTURE_TEST_CASE(cancel_before_first_loop_turn, EngineFixture) {
  // Cancelling an op that was started but never submitted (no loop turn yet).
  Once& st = state<Once>();
  OpId id = engine().timeout(10s, record(st));
  BOOST_REQUIRE(id);
  BOOST_CHECK(engine().cancel(id));
  BOOST_CHECK_EQUAL(st.calls, 0);  // not inline
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
  BOOST_CHECK_MESSAGE(is_canceled(st.ec), "ended with " << describe(st.ec));
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(st.calls, 1);
}

BOOST_FIXTURE_TEST_CASE(cancel_of_empty_or_bogus_id_is_false, EngineFixture) {
  BOOST_CHECK(!engine().cancel(OpId{}));
  OpId bogus;
  bogus.slot = 12345678;
  bogus.generation = 99;
  BOOST_CHECK(!engine().cancel(bogus));
}

BOOST_FIXTURE_TEST_CASE(cancel_from_inside_a_handler, EngineFixture) {
  struct St {
    OpId long_id;
    Once a, b;
    bool cancel_result = false;
    Engine* e = nullptr;
  };
  St& st = state<St>();
  st.e = &engine();
  st.long_id = engine().timeout(10s, record(st.b));
  BOOST_REQUIRE(engine().timeout(10ms, [s = &st](std::error_code ec) {
    s->a.record(ec);
    s->cancel_result = s->e->cancel(s->long_id);
  }));
  RX_REQUIRE_UNTIL(engine(), st.b.calls > 0, short_deadline);
  BOOST_CHECK_EQUAL(st.a.calls, 1);
  RX_CHECK_OK(st.a.ec);
  BOOST_CHECK(st.cancel_result);
  BOOST_CHECK_MESSAGE(is_canceled(st.b.ec), "ended with " << describe(st.b.ec));
  BOOST_CHECK_EQUAL(st.b.calls, 1);
}

BOOST_FIXTURE_TEST_CASE(op_started_from_handler, EngineFixture) {
  // A chain of 20 timeouts, each started by the previous handler.
  struct St {
    Engine* e = nullptr;
    int fired = 0;
    std::error_code first_error;
    void next() {
      engine_start();
    }
    void engine_start() {
      e->timeout(1ms, [s = this](std::error_code ec) {
        ++s->fired;
        if (ec && !s->first_error) s->first_error = ec;
        if (s->fired < 20) s->engine_start();
      });
    }
  };
  St& st = state<St>();
  st.e = &engine();
  st.next();
  RX_REQUIRE_UNTIL(engine(), st.fired == 20, short_deadline);
  RX_CHECK_OK(st.first_error);
  RX_REQUIRE_UNTIL(engine(), engine().in_flight() == 0, short_deadline);
}

BOOST_FIXTURE_TEST_CASE(in_flight_counts_started_ops, EngineFixture) {
  struct St {
    int calls = 0;
  };
  St& st = state<St>();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(engine().timeout(std::chrono::milliseconds(5 + i), [s = &st](std::error_code) { ++s->calls; }));
  BOOST_CHECK_EQUAL(engine().in_flight(), 3u);
  RX_REQUIRE_UNTIL(engine(), st.calls == 3, short_deadline);
  BOOST_CHECK_EQUAL(engine().in_flight(), 0u);
}

BOOST_FIXTURE_TEST_CASE(poll_does_not_block, EngineFixture) {
  Once& st = state<Once>();
  OpId id = engine().timeout(10s, record(st));
  BOOST_REQUIRE(id);
  const auto start = Clock::now();
  for (int i = 0; i < 10; ++i) engine().poll();
  BOOST_CHECK_MESSAGE(Clock::now() - start < 500ms, "poll() blocked");
  BOOST_CHECK_EQUAL(st.calls, 0);
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
}

BOOST_FIXTURE_TEST_CASE(run_once_waits_at_most_its_timeout, EngineFixture) {
  Once& st = state<Once>();
  OpId id = engine().timeout(10s, record(st));
  BOOST_REQUIRE(id);
  const auto start = Clock::now();
  std::size_t n = engine().run_once(50ms);
  const auto elapsed = Clock::now() - start;
  BOOST_CHECK_EQUAL(n, 0u);
  BOOST_CHECK_MESSAGE(elapsed < 2s, "run_once(50ms) took "
                                        << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                        << " ms");
  BOOST_CHECK(engine().cancel(id));
  RX_REQUIRE_UNTIL(engine(), st.calls > 0, short_deadline);
}

// A watchdog for run(): posts stop() after `limit` unless disarmed, so a run()
// that never returns cannot hang the suite.
struct Watchdog {
  Engine& engine;
  std::atomic<bool> disarm{false};
  std::atomic<bool> fired{false};
  std::thread t;
  Watchdog(Engine& e, std::chrono::milliseconds limit) : engine(e) {
    t = std::thread([this, limit] {
      auto deadline = Clock::now() + limit;
      while (!disarm.load() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
      if (!disarm.load()) {
        fired = true;
        engine.post([e = &engine] { e->stop(); });
      }
    });
  }
  ~Watchdog() {
    disarm = true;
    t.join();
  }
};

BOOST_FIXTURE_TEST_CASE(run_returns_when_nothing_in_flight, EngineFixture) {
  struct St {
    int calls = 0;
  };
  St& st = state<St>();
  BOOST_REQUIRE(engine().timeout(20ms, [s = &st](std::error_code) { ++s->calls; }));
  BOOST_REQUIRE(engine().timeout(40ms, [s = &st](std::error_code) { ++s->calls; }));
  {
    Watchdog dog(engine(), 5000ms);
    engine().run();
    BOOST_CHECK_MESSAGE(!dog.fired.load(), "run() did not return after its ops completed");
  }
  BOOST_CHECK_EQUAL(st.calls, 2);
  BOOST_CHECK_EQUAL(engine().in_flight(), 0u);
}

BOOST_FIXTURE_TEST_CASE(stop_from_handler_ends_run, EngineFixture) {
  struct St {
    Engine* e = nullptr;
    Once quick, slow;
    bool stopped_after_stop = false;
  };
  St& st = state<St>();
  st.e = &engine();
  OpId slow = engine().timeout(10s, record(st.slow));
  BOOST_REQUIRE(slow);
  BOOST_REQUIRE(engine().timeout(10ms, [s = &st](std::error_code ec) {
    s->quick.record(ec);
    s->e->stop();
    s->stopped_after_stop = s->e->stopped();
  }));
  {
    Watchdog dog(engine(), 5000ms);
    engine().run();
    BOOST_CHECK_MESSAGE(!dog.fired.load(), "run() did not return after stop()");
  }
  // stopped() is true once stop() was called (run() clears it when it returns,
  // so that run() can be called again).
  BOOST_CHECK(st.stopped_after_stop);
  BOOST_CHECK_EQUAL(st.quick.calls, 1);
  BOOST_CHECK_EQUAL(st.slow.calls, 0);
  // The slow timeout is still pending: destroying the engine completes it.
  destroy_engine();
  BOOST_CHECK_EQUAL(st.slow.calls, 1);
  BOOST_CHECK_MESSAGE(is_canceled(st.slow.ec), "pending op at engine destruction ended with " << describe(st.slow.ec));
}

BOOST_FIXTURE_TEST_CASE(post_from_other_thread_wakes_run_once, EngineFixture) {
  struct St {
    std::atomic<bool> ran{false};
    std::thread::id ran_on;
    std::error_code post_result;
  };
  St& st = state<St>();
  Engine& e = engine();
  std::thread poster([&st, &e] {
    std::this_thread::sleep_for(100ms);
    st.post_result = e.post([s = &st] {
      s->ran_on = std::this_thread::get_id();
      s->ran = true;
    });
  });
  const auto start = Clock::now();
  // Nothing is in flight: without a wakeup each run_once would sleep 5 s.
  while (!st.ran.load() && Clock::now() - start < 3s) e.run_once(5000ms);
  const auto elapsed = Clock::now() - start;
  poster.join();
  RX_CHECK_OK(st.post_result);
  BOOST_REQUIRE_MESSAGE(st.ran.load(), "posted task did not run");
  BOOST_CHECK_MESSAGE(elapsed < 2s, "run_once was not woken by post(): took "
                                        << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                        << " ms");
  BOOST_CHECK(st.ran_on == std::this_thread::get_id());
}

BOOST_FIXTURE_TEST_CASE(wake_from_other_thread_returns_run_once, EngineFixture) {
  Engine& e = engine();
  std::thread waker([&e] {
    std::this_thread::sleep_for(100ms);
    e.wake();
  });
  const auto start = Clock::now();
  e.run_once(5000ms);
  const auto elapsed = Clock::now() - start;
  waker.join();
  BOOST_CHECK_MESSAGE(elapsed < 3s, "wake() did not end a blocked run_once: took "
                                        << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                        << " ms");
}

BOOST_FIXTURE_TEST_CASE(posts_from_many_threads_run_exactly_once, EngineFixture) {
  constexpr int threads = 2;
  constexpr int per_thread = 2000;
  struct St {
    std::vector<int> ran = std::vector<int>(threads * per_thread, 0);
    std::atomic<int> accepted{0};
    std::atomic<int> full{0};
    std::atomic<int> bad{0};
    int executed = 0;
    std::thread::id wrong_thread;
    std::thread::id engine_thread = std::this_thread::get_id();
  };
  St& st = state<St>();
  Engine& e = engine();
  std::atomic<int> finished{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int k = t * per_thread + i;
        for (int attempt = 0;; ++attempt) {
          std::error_code ec = e.post([s = &st, k] {
            ++s->ran[std::size_t(k)];
            ++s->executed;
            if (std::this_thread::get_id() != s->engine_thread) s->wrong_thread = std::this_thread::get_id();
          });
          if (!ec) {
            ++st.accepted;
            break;
          }
          if (ec == ringxfer::error::post_queue_full) {
            ++st.full;
            if (attempt > 100000) break;
            std::this_thread::sleep_for(50us);
            continue;
          }
          ++st.bad;
          break;
        }
      }
      ++finished;
    });
  }
  const bool ok = run_until(e, [&] { return finished.load() == threads && st.executed == st.accepted.load(); }, 20000ms);
  for (auto& t : ts) t.join();
  BOOST_REQUIRE_MESSAGE(ok, "posted tasks did not all run: executed " << st.executed << " of "
                                                                      << st.accepted.load());
  BOOST_CHECK_EQUAL(st.bad.load(), 0);
  BOOST_CHECK_EQUAL(st.accepted.load(), threads * per_thread);
  BOOST_CHECK_EQUAL(st.executed, threads * per_thread);
  BOOST_CHECK(std::all_of(st.ran.begin(), st.ran.end(), [](int c) { return c == 1; }));
  BOOST_CHECK(st.wrong_thread == std::thread::id());
  BOOST_TEST_MESSAGE("post_queue_full seen " << st.full.load() << " times");
}

BOOST_FIXTURE_TEST_CASE(post_queue_is_bounded, EngineFixture) {
  // Without running the loop, posting must eventually report post_queue_full
  // (DESIGN invariant 4: no unbounded queue); every accepted task still runs.
  struct St {
    int executed = 0;
  };
  St& st = state<St>();
  Engine& e = engine();
  long accepted = 0;
  bool saw_full = false;
  std::error_code other;
  std::thread poster([&] {
    for (long i = 0; i < (1L << 20); ++i) {
      std::error_code ec = e.post([s = &st] { ++s->executed; });
      if (!ec) {
        ++accepted;
        continue;
      }
      if (ec == ringxfer::error::post_queue_full) saw_full = true;
      else other = ec;
      break;
    }
  });
  poster.join();
  BOOST_CHECK_MESSAGE(saw_full, "1M posts without a loop turn never reported post_queue_full");
  RX_CHECK_OK(other);
  BOOST_TEST_MESSAGE("post queue took " << accepted << " tasks before full");
  RX_REQUIRE_UNTIL(engine(), st.executed == accepted, short_deadline);
  // After draining, post works again.
  BOOST_CHECK(!e.post([s = &st] { ++s->executed; }));
  RX_REQUIRE_UNTIL(engine(), st.executed == accepted + 1, short_deadline);
}

BOOST_FIXTURE_TEST_CASE(many_timeouts, EngineFixture) {
  constexpr int n = 1000;
  struct St {
    std::vector<int> calls = std::vector<int>(n, 0);
    int total = 0;
    int errors = 0;
  };
  St& st = state<St>();
  for (int i = 0; i < n; ++i) {
    BOOST_REQUIRE(engine().timeout(std::chrono::microseconds(100 * (i % 50)), [s = &st, i](std::error_code ec) {
      ++s->calls[std::size_t(i)];
      ++s->total;
      if (ec) ++s->errors;
    }));
  }
  RX_REQUIRE_UNTIL(engine(), st.total >= n, short_deadline);
  run_for(engine(), 20ms);
  BOOST_CHECK_EQUAL(st.total, n);
  BOOST_CHECK_EQUAL(st.errors, 0);
  BOOST_CHECK(std::all_of(st.calls.begin(), st.calls.end(), [](int c) { return c == 1; }));
}

BOOST_AUTO_TEST_SUITE_END()
