// Receive chunks: with incremental consumption (Feature::buf_ring_inc) many
// small receives share one pool buffer, each handed out as its own lease.
// A shared buffer may go back to the kernel only once the kernel has moved
// past it and every lease on it is dropped. These tests hold leases across
// many later messages, drop them out of order, run the ring dry, pass a
// chunk to write(), and keep chunks past the Engine: a buffer recycled too
// early shows up as a held chunk whose bytes changed. They run on every
// variant (without buf_ring_inc every chunk is a whole buffer and the same
// must hold).
#include <algorithm>

#include "support.hpp"

using namespace rxtest;

BOOST_AUTO_TEST_SUITE(recv_chunks)

namespace {

constexpr std::size_t message_bytes = 64;

// A lease kept on purpose, with where its bytes sit in the stream.
struct Held {
  Buffer lease;
  std::uint64_t stream_offset = 0;
};

// Sends `n` bytes of `pattern` at `offset` from a plain fd, all of it.
void send_from_peer(int fd, const Pattern& pattern, std::uint64_t offset, std::size_t n) {
  std::vector<std::byte> bytes = pattern.make(offset, n);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::send(fd, bytes.data() + done, n - done, MSG_NOSIGNAL);
    BOOST_REQUIRE_MESSAGE(r > 0 || errno == EINTR, "send: " << std::strerror(errno));
    if (r > 0) done += std::size_t(r);
  }
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(chunks_held_across_many_messages_keep_their_bytes, EngineFixture) {
  // 8 receive buffers of 4 KiB carry 2 000 messages of 64 bytes (125 KiB: each
  // buffer is reused many times). Some leases are held for hundreds of
  // messages and dropped in random order, and now and then everything is
  // held until the ring runs dry. Every held chunk must still hold its own
  // bytes when it is dropped.
  Engine& e = reset(pool_options(8, 2, 4 * KiB));
  HalfPair h = half_pair(e);
  const Pattern pattern(4242);
  struct St {
    StreamSink sink{Pattern(4242)};
    std::vector<Held> arrived;  // leases not yet sorted into kept or dropped
  };
  St& st = state<St>();
  BOOST_REQUIRE(e.recv(h.sock, [s = &st](std::error_code ec, Buffer b) {
    if (!s->sink.note_call(ec)) return;
    ++s->sink.data_calls;
    Held held{std::move(b), s->sink.received};
    s->sink.take(held.lease.bytes());
    s->arrived.push_back(std::move(held));
  }));

  std::vector<Held> kept;  // body local: dropped before the engine
  Rng rng(7);
  std::size_t changed = 0;
  std::size_t checked = 0;
  auto drop = [&](Held& h) {
    ++checked;
    if (pattern.first_mismatch(h.stream_offset, h.lease.bytes()) != h.lease.size()) ++changed;
    h.lease.release();
  };
  constexpr std::size_t messages = 2000;
  std::uint64_t sent = 0;
  for (std::size_t i = 0; i < messages; ++i) {
    const bool dry_phase = i % 500 >= 400 && i % 500 < 460;  // hold everything for a while
    // Outside a dry phase at most 4 kept leases (dropped at random, out of
    // order): without incremental consumption each pins one of the 8
    // buffers, and the stream must be able to go on.
    while (!dry_phase && kept.size() > 4) {
      std::size_t k = rng.between(0, kept.size() - 1);
      drop(kept[k]);
      kept.erase(kept.begin() + std::ptrdiff_t(k));
    }
    send_from_peer(h.peer.get(), pattern, sent, message_bytes);
    sent += message_bytes;
    if (!dry_phase) {
      RX_REQUIRE_UNTIL_INFO(e, st.sink.received == sent || st.sink.done(), short_deadline, st.sink);
    } else {
      run_for(e, 1ms);
    }
    for (Held& a : st.arrived) {
      // Keep one chunk in 16 (held for many messages); in a dry phase
      // keep them all; drop the rest at once.
      if (dry_phase || rng.between(0, 15) == 0) kept.push_back(std::move(a));
      else drop(a);
    }
    st.arrived.clear();
    // Drop kept leases out of order: a random one now and then.
    if (!kept.empty() && rng.between(0, 3) == 0) {
      std::size_t k = rng.between(0, kept.size() - 1);
      drop(kept[k]);
      kept.erase(kept.begin() + std::ptrdiff_t(k));
    }
  }
  RX_REQUIRE_UNTIL_INFO(e, st.sink.received == sent || st.sink.done(), short_deadline, st.sink);
  for (Held& a : st.arrived) kept.push_back(std::move(a));
  st.arrived.clear();
  std::reverse(kept.begin(), kept.end());
  for (Held& k : kept) drop(k);
  kept.clear();
  BOOST_TEST_MESSAGE("chunks: " << st.sink.data_calls << " for " << messages << " messages; " << e.stats());
  BOOST_CHECK_EQUAL(changed, 0u);
  BOOST_CHECK_GE(checked, messages / 2);
  BOOST_CHECK_EQUAL(st.sink.received, sent);
  BOOST_CHECK(st.sink.mismatch_at == UINT64_MAX);
  BOOST_CHECK(!st.sink.done());
  if (is_full_uring_variant()) {
    // 2 000 messages through 8 buffers of 4 KiB means sharing: 64 a buffer.
    BOOST_CHECK(e.features().has(ringxfer::Feature::buf_ring_inc));
  }
  close_all(e, {h.sock});
}

BOOST_FIXTURE_TEST_CASE(chunks_pin_their_buffers_when_the_ring_runs_dry, EngineFixture) {
  // One small chunk kept from each buffer pins it: the ring runs dry (recv
  // pauses, no error), and dropping those chunks lets the stream go on.
  Engine& e = reset(pool_options(4, 2, 4 * KiB));
  HalfPair h = half_pair(e);
  const Pattern pattern(77);
  struct St {
    StreamSink sink{Pattern(77)};
    std::vector<Held> leases;
  };
  St& st = state<St>();
  BOOST_REQUIRE(e.recv(h.sock, [s = &st](std::error_code ec, Buffer b) {
    if (!s->sink.note_call(ec)) return;
    ++s->sink.data_calls;
    Held held{std::move(b), s->sink.received};
    s->sink.take(held.lease.bytes());
    s->leases.push_back(std::move(held));
  }));
  std::uint64_t sent = 0;
  // Messages one by one, every lease kept, until the ring runs dry.
  for (int i = 0; i < 1000 && e.stats().recv_starved == 0; ++i) {
    send_from_peer(h.peer.get(), pattern, sent, message_bytes);
    sent += message_bytes;
    run_until(e, [&] { return st.sink.received == sent || e.stats().recv_starved > 0; }, 2000ms);
  }
  BOOST_REQUIRE_MESSAGE(e.stats().recv_starved > 0, "the ring never ran dry; " << st.sink);
  BOOST_CHECK_LE(st.sink.received, 4 * 4 * KiB);  // no more than the 4 buffers hold
  // Keep the first lease of each buffer, drop the rest (they do not free it).
  std::vector<Held> keep;
  for (Held& l : st.leases) {
    bool seen = std::any_of(keep.begin(), keep.end(), [&](const Held& k) { return k.lease.index() == l.lease.index(); });
    if (!seen) keep.push_back(std::move(l));
  }
  st.leases.clear();
  BOOST_CHECK_LE(keep.size(), 4u);
  // Pinned by one chunk each, the buffers stay out: nothing more arrives.
  send_from_peer(h.peer.get(), pattern, sent, message_bytes);
  sent += message_bytes;
  run_for(e, 100ms);
  BOOST_CHECK_MESSAGE(st.leases.empty(), st.leases.size() << " chunk(s) arrived although every buffer was pinned");
  BOOST_CHECK(!st.sink.done());
  for (const Held& k : keep) {
    BOOST_CHECK_EQUAL(pattern.first_mismatch(k.stream_offset, k.lease.bytes()), k.lease.size());
  }
  // Drop the pins (newest first): the stream goes on.
  st.leases.clear();
  while (!keep.empty()) keep.pop_back();
  RX_REQUIRE_UNTIL_INFO(e, st.sink.received == sent || st.sink.done(), short_deadline, st.sink);
  st.leases.clear();
  BOOST_CHECK(st.sink.mismatch_at == UINT64_MAX);
  BOOST_CHECK(!st.sink.done());
  close_all(e, {h.sock});
}

BOOST_FIXTURE_TEST_CASE(write_sends_the_chunk_not_its_buffer, EngineFixture) {
  // Two messages arrive as two chunks (sharing one buffer with buf_ring_inc).
  // write() of the second must send its own bytes, and hand back a lease on
  // exactly them.
  HalfPair h = half_pair(engine());
  struct St {
    std::vector<Buffer> chunks;
    FinalCall recv;
  };
  St& st = state<St>();
  BOOST_REQUIRE(engine().recv(h.sock, [s = &st](std::error_code ec, Buffer b) {
    if (s->recv.note_call(ec)) s->chunks.push_back(std::move(b));
  }));
  const std::string first(message_bytes, 'A');
  const std::string second(message_bytes, 'B');
  BOOST_REQUIRE(::send(h.peer.get(), first.data(), first.size(), 0) == ssize_t(first.size()));
  RX_REQUIRE_UNTIL(engine(), st.chunks.size() == 1, short_deadline);
  BOOST_REQUIRE(::send(h.peer.get(), second.data(), second.size(), 0) == ssize_t(second.size()));
  RX_REQUIRE_UNTIL(engine(), st.chunks.size() == 2, short_deadline);
  BOOST_REQUIRE_EQUAL(st.chunks[1].size(), message_bytes);
  Buffer chunk = std::move(st.chunks[1]);
  Buffer first_chunk = std::move(st.chunks[0]);
  st.chunks.clear();
  struct Back {
    bool done = false;
    std::error_code ec;
    std::string bytes;
    std::size_t capacity = 0;
  };
  Back& back = state<Back>();
  BOOST_REQUIRE(engine().write(h.sock, -1, std::move(chunk), [b = &back](std::error_code ec, Buffer lease) {
    b->done = true;
    b->ec = ec;
    b->bytes.assign(reinterpret_cast<const char*>(lease.data()), lease.size());
    b->capacity = lease.capacity();
  }));
  RX_REQUIRE_UNTIL(engine(), back.done, short_deadline);
  RX_CHECK_OK(back.ec);
  BOOST_CHECK(back.bytes == second);
  BOOST_CHECK_LE(back.capacity, ringxfer::EngineOptions{}.buffer_size_bytes);
  std::string echoed(message_bytes, '\0');
  std::size_t got = 0;
  while (got < echoed.size()) {
    ssize_t r = ::recv(h.peer.get(), echoed.data() + got, echoed.size() - got, 0);
    BOOST_REQUIRE(r > 0);
    got += std::size_t(r);
  }
  BOOST_CHECK_MESSAGE(echoed == second, "write sent '" << echoed.substr(0, 8) << "...', expected the second chunk");
  BOOST_CHECK(std::string(reinterpret_cast<const char*>(first_chunk.data()), first_chunk.size()) == first);
  first_chunk.release();
  close_all(engine(), {h.sock});
}

BOOST_FIXTURE_TEST_CASE(chunks_sharing_a_buffer_outlive_their_engine, EngineFixture) {
  // Several chunks (one buffer with buf_ring_inc, which the kernel is still
  // filling) kept past the Engine, then dropped in reverse order: the pool
  // goes with the last one, nothing touches the dead engine (ASan).
  HalfPair h = half_pair(engine());
  auto kept = std::make_shared<std::vector<Buffer>>();
  BOOST_REQUIRE(engine().recv(h.sock, [kept](std::error_code ec, Buffer b) {
    if (!ec) kept->push_back(std::move(b));
  }));
  const Pattern pattern(5);
  for (int i = 0; i < 5; ++i) {
    send_from_peer(h.peer.get(), pattern, std::uint64_t(i) * message_bytes, message_bytes);
    RX_REQUIRE_UNTIL(engine(), kept->size() == std::size_t(i + 1), short_deadline);
  }
  destroy_engine();
  std::uint64_t offset = 0;
  for (const Buffer& b : *kept) {
    BOOST_CHECK_EQUAL(pattern.first_mismatch(offset, b.bytes()), b.size());
    offset += b.size();
  }
  while (!kept->empty()) kept->pop_back();
}

BOOST_FIXTURE_TEST_CASE(bundled_receives_split_into_whole_chunks, EngineFixture) {
  // recv_bundle asked for (it is opt-in): one CQE may fill several
  // buffers, each handed out as its own chunk, in order -- with incremental
  // consumption the first one is what was left of a partly filled buffer.
  ringxfer::EngineOptions o = pool_options(16, 2, 4 * KiB);
  if (variant() != Variant::io_uring_nofeatures) o.disabled.remove(ringxfer::Feature::recv_bundle);
  Engine& e = reset(o);
  SocketPair p = engine_pair(e);
  constexpr std::size_t total = 4 * MiB;
  StreamSink& sink = state<StreamSink>(Pattern(31));
  BOOST_REQUIRE(start_sink(e, p.b, sink));
  ChainSender& tx = state<ChainSender>(e, p.a, sink.pattern.make(0, total));
  tx.start();
  RX_REQUIRE_UNTIL_INFO(e, tx.done(), big_stream_deadline, tx << sink);
  RX_REQUIRE_OK(close_and_wait(e, p.a));
  RX_REQUIRE_UNTIL_INFO(e, sink.done(), big_stream_deadline, tx << sink);
  check_sink(sink, total);
  const auto& s = e.stats();
  BOOST_TEST_MESSAGE("bundles: " << sink.data_calls << " chunks, " << s);
  if (is_full_uring_variant()) {
    BOOST_CHECK(e.features().has(ringxfer::Feature::recv_bundle));
    // Bundles: fewer completions than chunks (each data CQE is one recv).
    BOOST_CHECK_LT(s.cqes, std::uint64_t(sink.data_calls) + s.ops_completed);
  } else {
    BOOST_CHECK(!e.features().has(ringxfer::Feature::recv_bundle));
  }
  close_all(e, {p.b});
}

BOOST_AUTO_TEST_SUITE_END()
