// read / write on files (positional) and pipes (stream), open errors.
#include <sys/stat.h>

#include <thread>

#include "support.hpp"

using namespace rxtest;

namespace {

struct BufResult {
  int calls = 0;
  std::error_code ec;
  bool has_buffer = false;
  std::size_t size = 0;
  std::vector<std::byte> data;  // copy of what came back
  void on(std::error_code e, Buffer b) {
    ++calls;
    ec = e;
    has_buffer = static_cast<bool>(b);
    size = b.size();
    data.assign(b.bytes().begin(), b.bytes().end());
  }
};

OpId start_read(Engine& e, ringxfer::FdRef f, std::int64_t off, Buffer b, BufResult& r) {
  BufResult* p = &r;
  return e.read(f, off, std::move(b), [p](std::error_code ec, Buffer buf) { p->on(ec, std::move(buf)); });
}
OpId start_write(Engine& e, ringxfer::FdRef f, std::int64_t off, Buffer b, BufResult& r) {
  BufResult* p = &r;
  return e.write(f, off, std::move(b), [p](std::error_code ec, Buffer buf) { p->on(ec, std::move(buf)); });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(file_io)

BOOST_FIXTURE_TEST_CASE(write_and_read_at_offsets, EngineFixture) {
  const Pattern pat(51);
  TempFile tf;
  File f = open_file(engine(), tf.path(), O_RDWR);
  BufResult& w = state<BufResult>();
  BOOST_REQUIRE(start_write(engine(), f, 4096, filled(engine(), pat, 0, 10000), w));
  BOOST_CHECK_EQUAL(w.calls, 0);
  RX_REQUIRE_UNTIL(engine(), w.calls > 0, short_deadline);
  RX_CHECK_OK(w.ec);
  BOOST_CHECK_MESSAGE(w.has_buffer, "write handler did not give the buffer back");
  BOOST_CHECK(w.data == pat.make(0, 10000));  // the buffer comes back unchanged
  // What the kernel has.
  std::vector<std::byte> content = tf.read_all();
  BOOST_REQUIRE_EQUAL(content.size(), 4096u + 10000u);
  BOOST_CHECK(std::all_of(content.begin(), content.begin() + 4096, [](std::byte b) { return b == std::byte{0}; }));
  BOOST_CHECK(std::vector<std::byte>(content.begin() + 4096, content.end()) == pat.make(0, 10000));

  // Read at the offset: the buffer's size is what was read (to end of file).
  BufResult& r = state<BufResult>();
  BOOST_REQUIRE(start_read(engine(), f, 4096, engine().acquire_buffer(), r));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK(r.has_buffer);
  BOOST_CHECK_EQUAL(r.size, 10000u);
  BOOST_CHECK(r.data == pat.make(0, 10000));

  // A read in the middle.
  BufResult& mid = state<BufResult>();
  BOOST_REQUIRE(start_read(engine(), f, 4000, engine().acquire_buffer(), mid));
  RX_REQUIRE_UNTIL(engine(), mid.calls > 0, short_deadline);
  RX_CHECK_OK(mid.ec);
  BOOST_REQUIRE_EQUAL(mid.size, 10096u);
  BOOST_CHECK(std::all_of(mid.data.begin(), mid.data.begin() + 96, [](std::byte b) { return b == std::byte{0}; }));
  BOOST_CHECK(std::vector<std::byte>(mid.data.begin() + 96, mid.data.end()) == pat.make(0, 10000));

  // Reading at and past the end of the file gives 0 bytes, no error.
  BufResult& at_eof = state<BufResult>();
  BufResult& past_eof = state<BufResult>();
  BOOST_REQUIRE(start_read(engine(), f, 14096, engine().acquire_buffer(), at_eof));
  BOOST_REQUIRE(start_read(engine(), f, 1 << 30, engine().acquire_buffer(), past_eof));
  RX_REQUIRE_UNTIL(engine(), at_eof.calls > 0 && past_eof.calls > 0, short_deadline);
  RX_CHECK_OK(at_eof.ec);
  RX_CHECK_OK(past_eof.ec);
  BOOST_CHECK_EQUAL(at_eof.size, 0u);
  BOOST_CHECK_EQUAL(past_eof.size, 0u);
  run_for(engine(), 20ms);
  for (BufResult* x : {&w, &r, &mid, &at_eof, &past_eof}) BOOST_CHECK_EQUAL(x->calls, 1);
  RX_CHECK_OK(close_and_wait(engine(), f));
}

BOOST_FIXTURE_TEST_CASE(many_concurrent_positional_writes_and_reads, EngineFixture) {
  // 64 blocks written at once at distinct offsets, then read back at once.
  constexpr int blocks = 64;
  const std::size_t block = variant_options().buffer_size_bytes;
  const Pattern pat(52);
  TempFile tf;
  File f = open_file(engine(), tf.path(), O_RDWR);
  struct St {
    std::vector<BufResult> w = std::vector<BufResult>(blocks);
    std::vector<BufResult> r = std::vector<BufResult>(blocks);
    int w_done = 0, r_done = 0;
  };
  St& st = state<St>();
  for (int i = 0; i < blocks; ++i) {
    Buffer b = filled(engine(), pat, i * block, block);
    BOOST_REQUIRE(engine().write(f, std::int64_t(i * block), std::move(b), [s = &st, i](std::error_code ec, Buffer back) {
      s->w[std::size_t(i)].on(ec, std::move(back));
      ++s->w_done;
    }));
  }
  RX_REQUIRE_UNTIL(engine(), st.w_done == blocks, short_deadline);
  for (int i = 0; i < blocks; ++i) RX_CHECK_OK(st.w[std::size_t(i)].ec);
  BOOST_CHECK_EQUAL(tf.size(), blocks * block);
  std::vector<std::byte> content = tf.read_all();
  BOOST_CHECK(content == pat.make(0, blocks * block));
  for (int i = 0; i < blocks; ++i) {
    Buffer b = engine().acquire_buffer();
    BOOST_REQUIRE(b);
    BOOST_REQUIRE(engine().read(f, std::int64_t(i * block), std::move(b), [s = &st, i](std::error_code ec, Buffer back) {
      s->r[std::size_t(i)].on(ec, std::move(back));
      ++s->r_done;
    }));
  }
  RX_REQUIRE_UNTIL(engine(), st.r_done == blocks, short_deadline);
  for (int i = 0; i < blocks; ++i) {
    BOOST_TEST_CONTEXT("block " << i) {
      RX_CHECK_OK(st.r[std::size_t(i)].ec);
      BOOST_CHECK_EQUAL(st.r[std::size_t(i)].size, block);
      BOOST_CHECK(st.r[std::size_t(i)].data == pat.make(i * block, block));
    }
  }
  // All buffers are back.
  BOOST_CHECK_EQUAL(free_send_buffers(engine()), send_buffer_count());
  RX_CHECK_OK(close_and_wait(engine(), f));
}

BOOST_FIXTURE_TEST_CASE(stream_write_and_read_on_pipes, EngineFixture) {
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  File rd, wr;
  RX_REQUIRE_OK(engine().adopt(fds[0], rd));
  RX_REQUIRE_OK(engine().adopt(fds[1], wr));
  const Pattern pat(53);
  BufResult& w = state<BufResult>();
  BOOST_REQUIRE(start_write(engine(), wr, -1, filled(engine(), pat, 0, 5000), w));
  RX_REQUIRE_UNTIL(engine(), w.calls > 0, short_deadline);
  RX_CHECK_OK(w.ec);
  BufResult& r = state<BufResult>();
  BOOST_REQUIRE(start_read(engine(), rd, -1, engine().acquire_buffer(), r));
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.size, 5000u);
  BOOST_CHECK(r.data == pat.make(0, 5000));
  close_all(engine(), {rd, wr});
}

BOOST_FIXTURE_TEST_CASE(read_waits_for_data_on_a_pipe, EngineFixture) {
  EnginePipe pipe = engine_pipe(engine());
  BufResult& r = state<BufResult>();
  BOOST_REQUIRE(start_read(engine(), pipe.rd, -1, engine().acquire_buffer(), r));
  run_for(engine(), 50ms);
  BOOST_CHECK_EQUAL(r.calls, 0);  // nothing to read yet
  BOOST_REQUIRE(::write(pipe.wr.get(), "pipe!", 5) == 5);
  RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
  RX_CHECK_OK(r.ec);
  BOOST_CHECK_EQUAL(r.size, 5u);
  BOOST_CHECK(std::memcmp(r.data.data(), "pipe!", 5) == 0);
  // Writer gone: a read gives 0 bytes (end of file).
  pipe.wr.reset();
  BufResult& r2 = state<BufResult>();
  BOOST_REQUIRE(start_read(engine(), pipe.rd, -1, engine().acquire_buffer(), r2));
  RX_REQUIRE_UNTIL(engine(), r2.calls > 0, short_deadline);
  RX_CHECK_OK(r2.ec);
  BOOST_CHECK_EQUAL(r2.size, 0u);
  RX_CHECK_OK(close_and_wait(engine(), pipe.rd));
}

BOOST_FIXTURE_TEST_CASE(open_errors, EngineFixture) {
  File f;
  RX_CHECK_EC(engine().open("/nonexistent-dir-ringxfer/none", O_RDONLY, f), std::errc::no_such_file_or_directory);
  BOOST_CHECK(!f.valid());
  RX_CHECK_EC(engine().open("/tmp", O_WRONLY, f), std::errc::is_a_directory);
  TempFile tf;
  RX_CHECK_EC(engine().open(tf.path(), O_RDWR | O_CREAT | O_EXCL, f), std::errc::file_exists);
}

BOOST_FIXTURE_TEST_CASE(open_creates_with_mode, EngineFixture) {
  std::string path = std::string("/tmp/ringxfer-test-create-") + std::to_string(::getpid());
  ::unlink(path.c_str());
  struct Unlink {
    std::string p;
    ~Unlink() { ::unlink(p.c_str()); }
  } cleanup{path};
  File f;
  RX_REQUIRE_OK(engine().open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, f, 0600));
  struct stat st {};
  BOOST_CHECK(::stat(path.c_str(), &st) == 0);
  BOOST_CHECK_EQUAL(st.st_mode & 0777, 0600u);
  BOOST_CHECK(f.valid());
  int fd = engine().native_handle(f);
  BOOST_CHECK(fd >= 0 && fd_is_open(fd));
  RX_CHECK_OK(close_and_wait(engine(), f));
  BOOST_CHECK_EQUAL(engine().native_handle(f), -1);
}

BOOST_FIXTURE_TEST_CASE(write_to_read_only_file_fails, EngineFixture) {
  TempFile tf;
  File f = open_file(engine(), tf.path(), O_RDONLY);
  BufResult& w = state<BufResult>();
  BOOST_REQUIRE(start_write(engine(), f, 0, filled(engine(), Pattern(54), 0, 100), w));
  RX_REQUIRE_UNTIL(engine(), w.calls > 0, short_deadline);
  RX_CHECK_EC(w.ec, std::errc::bad_file_descriptor);
  BOOST_CHECK_EQUAL(tf.size(), 0u);
  RX_CHECK_OK(close_and_wait(engine(), f));
  // The buffer was not lost.
  BOOST_CHECK_EQUAL(free_send_buffers(engine()), send_buffer_count());
}

BOOST_FIXTURE_TEST_CASE(read_into_empty_buffer_fails_once, EngineFixture, *boost::unit_test::label("empty_buffer")) {
  // An empty Buffer is no lease: the read has nowhere to go and gives
  // std::errc::invalid_argument (engine.hpp). Reading into some pool buffer
  // the caller never held (such as receive buffer 0) would corrupt the
  // receive ring.
  TempFile tf(Pattern(55), 100);
  File f = open_file(engine(), tf.path(), O_RDONLY);
  BufResult& r = state<BufResult>();
  OpId id = start_read(engine(), f, 0, Buffer(), r);
  if (id) {
    RX_REQUIRE_UNTIL(engine(), r.calls > 0, short_deadline);
    run_for(engine(), 20ms);
    BOOST_CHECK_EQUAL(r.calls, 1);
    RX_CHECK_EC(r.ec, std::errc::invalid_argument);
    BOOST_CHECK_MESSAGE(!r.has_buffer, "read into an empty Buffer handed back a buffer holding " << r.size << " bytes");
  }
  RX_CHECK_OK(close_and_wait(engine(), f));
}

BOOST_FIXTURE_TEST_CASE(write_of_empty_buffer_fails_once, EngineFixture, *boost::unit_test::label("empty_buffer")) {
  TempFile tf;
  File f = open_file(engine(), tf.path(), O_RDWR);
  BufResult& w = state<BufResult>();
  OpId id = start_write(engine(), f, 0, Buffer(), w);
  if (id) {
    RX_REQUIRE_UNTIL(engine(), w.calls > 0, short_deadline);
    run_for(engine(), 20ms);
    BOOST_CHECK_EQUAL(w.calls, 1);
    RX_CHECK_EC(w.ec, std::errc::invalid_argument);
    BOOST_CHECK_MESSAGE(!w.has_buffer, "write of an empty Buffer handed back a buffer the caller never had");
  }
  BOOST_CHECK_EQUAL(tf.size(), 0u);
  RX_CHECK_OK(close_and_wait(engine(), f));
}

BOOST_AUTO_TEST_SUITE_END()
