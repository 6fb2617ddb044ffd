// Registered buffers are pinned memory: without CAP_IPC_LOCK the kernel holds
// them to RLIMIT_MEMLOCK. When registration fails the engine must still start,
// use plain buffers, and say so in Features (DESIGN: BufferPool fallback).
//
// Capabilities are per thread, so the engine is built on a worker thread that
// dropped CAP_IPC_LOCK from its effective set; RLIMIT_MEMLOCK is per process
// and is restored before the test ends. Boost.Test checks run on the main
// thread only, from what the worker recorded.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "support.hpp"

namespace {

using namespace rxtest;
using namespace ringxfer;

// Drops or raises CAP_IPC_LOCK in this thread's effective set.
bool set_ipc_lock(bool on) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  const unsigned bit = 1u << CAP_IPC_LOCK;
  if (on) data[0].effective |= bit & data[0].permitted;
  else data[0].effective &= ~bit;
  return ::syscall(SYS_capset, &header, data) == 0;
}

struct Observed {
  bool started = false;
  std::string start_error;
  bool buffers_registered = true;
  bool fixed_buffers_active = true;
  std::string buffers_note;
  std::error_code write_ec, read_ec;
  std::size_t written = 0, read = 0;
  bool bytes_match = false;
};

void run_with_low_memlock(const EngineOptions& options, const std::string& path, Observed& out) {
  rlimit old{};
  ::getrlimit(RLIMIT_MEMLOCK, &old);
  rlimit low = old;
  low.rlim_cur = 64 * 1024;  // far below the pool: 64 x 64 KiB
  ::setrlimit(RLIMIT_MEMLOCK, &low);
  set_ipc_lock(false);
  try {
    Engine engine(options);
    out.started = true;
    out.buffers_registered = engine.features().buffers_registered;
    out.fixed_buffers_active = engine.features().has(Feature::fixed_buffers);
    out.buffers_note = engine.features().buffers_note;

    // The fallback must still move bytes: write a pool buffer, read it back.
    File file;
    if (!engine.open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, file)) {
      Buffer b = engine.acquire_buffer();
      const Pattern pattern(77);
      b.resize(b.capacity());
      pattern.fill(0, b.bytes());
      bool done = false;
      engine.write(file, 0, std::move(b), [&](std::error_code ec, Buffer back) {
        out.write_ec = ec;
        out.written = back.size();
        done = true;
      });
      for (int i = 0; i < 500 && !done; ++i) engine.run_once(std::chrono::milliseconds(10));
      done = false;
      engine.read(file, 0, engine.acquire_buffer(), [&](std::error_code ec, Buffer in) {
        out.read_ec = ec;
        out.read = in.size();
        out.bytes_match = pattern.first_mismatch(0, in.bytes()) == in.size();
        done = true;
      });
      for (int i = 0; i < 500 && !done; ++i) engine.run_once(std::chrono::milliseconds(10));
      engine.close(file, [](std::error_code) {});
      for (int i = 0; i < 10 && engine.in_flight() > 0; ++i) engine.run_once(std::chrono::milliseconds(10));
    }
  } catch (const std::exception& e) {
    out.start_error = e.what();
  }
  set_ipc_lock(true);
  ::setrlimit(RLIMIT_MEMLOCK, &old);
}

// Zero-copy sends pin the pages they send. Without CAP_IPC_LOCK the kernel
// charges them to RLIMIT_MEMLOCK — MSG_ZEROCOPY fails with ENOBUFS, and
// io_uring's SEND_ZC from unregistered memory with ENOMEM — when a send would
// go over it. The engine is built under the usual limit (the rings are
// charged too, to a count shared by every process of the user: a low limit
// there would make the test depend on its neighbours), with fixed buffers
// off (registered buffers are charged once, at registration); then the
// limit drops to 0, so that every zero-copy send is over it: each must fall
// back to a copy and deliver its bytes, not fail.
struct ZcObserved {
  bool started = false;
  std::string start_error;
  bool raw_enobufs = false;  // a plain MSG_ZEROCOPY send got ENOBUFS here
  int raw_errno = 0;
  std::size_t sent = 0, received = 0;
  int send_errors = 0;
  std::error_code first_send_error, recv_end;
  bool bytes_match = true;
  Stats stats;
};

constexpr std::size_t zc_buffer_bytes = 256 * 1024;
constexpr int zc_sends = 24;

// Whether the kernel refuses a MSG_ZEROCOPY send of one buffer here (it
// charges RLIMIT_MEMLOCK only to a thread without CAP_IPC_LOCK).
void probe_msg_zerocopy(int fd, ZcObserved& out) {
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) != 0) {
    out.raw_errno = errno;
    return;
  }
  std::vector<char> data(zc_buffer_bytes, 'z');
  const ssize_t k = ::send(fd, data.data(), data.size(), MSG_ZEROCOPY | MSG_DONTWAIT | MSG_NOSIGNAL);
  out.raw_errno = k < 0 ? errno : 0;
  out.raw_enobufs = k < 0 && errno == ENOBUFS;
}

void zero_copy_under_low_memlock(const EngineOptions& options, int probe_fd, int fd_a, int fd_b, ZcObserved& out) {
  rlimit old{};
  ::getrlimit(RLIMIT_MEMLOCK, &old);
  rlimit low = old;
  low.rlim_cur = 0;
  set_ipc_lock(false);
  try {
    Engine engine(options);
    out.started = true;
    ::setrlimit(RLIMIT_MEMLOCK, &low);
    probe_msg_zerocopy(probe_fd, out);
    Socket a, b;
    if (!engine.adopt(fd_a, a) && !engine.adopt(fd_b, b)) {
      const Pattern pattern(78);
      std::uint64_t at = 0;
      bool eof = false;
      engine.recv(b, [&](std::error_code ec, Buffer in) {
        if (ec) {
          out.recv_end = ec;
          eof = true;
          return;
        }
        if (pattern.first_mismatch(at, in.bytes()) != in.size()) out.bytes_match = false;
        at += in.size();
      });
      int started = 0, completed = 0;
      std::function<void()> next = [&] {
        if (started == zc_sends) {
          engine.shutdown(a, SHUT_WR, [](std::error_code) {});
          return;
        }
        Buffer buf = engine.acquire_buffer();
        if (!buf) {  // every send buffer waits for a notification
          engine.timeout(std::chrono::milliseconds(1), [&](std::error_code) { next(); });
          return;
        }
        buf.resize(zc_buffer_bytes);
        pattern.fill(std::uint64_t(started) * zc_buffer_bytes, buf.bytes());
        ++started;
        engine.send_zc(a, std::move(buf), [&](std::error_code ec, std::size_t n) {
          ++completed;
          out.sent += n;
          if (ec) {
            if (out.send_errors++ == 0) out.first_send_error = ec;
          }
          next();
        });
      };
      next();
      const auto deadline = Clock::now() + std::chrono::seconds(20);
      while (!eof && Clock::now() < deadline) engine.run_once(std::chrono::milliseconds(10));
      out.received = at;
      engine.close(a, [](std::error_code) {});
      engine.close(b, [](std::error_code) {});
      for (int i = 0; i < 300 && engine.in_flight() > 0; ++i) engine.run_once(std::chrono::milliseconds(10));
    }
    out.stats = engine.stats();
  } catch (const std::exception& e) {
    out.start_error = e.what();
  }
  set_ipc_lock(true);
  ::setrlimit(RLIMIT_MEMLOCK, &old);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memlock)

BOOST_AUTO_TEST_CASE(buffers_fall_back_to_plain_when_registration_fails) {
  EngineOptions options = variant_options();
  options.buffer_count = 64;
  options.recv_buffer_count = 32;
  options.buffer_size_bytes = 64 * 1024;
  TempFile tf;
  Observed seen;
  std::thread worker([&] { run_with_low_memlock(options, tf.path(), seen); });
  worker.join();

  BOOST_REQUIRE_MESSAGE(seen.started, "engine failed to start with a low RLIMIT_MEMLOCK: " << seen.start_error);
  BOOST_TEST_MESSAGE(variant_name() << ": buffers_registered=" << seen.buffers_registered << " note='"
                                    << seen.buffers_note << "'");
  BOOST_CHECK(!seen.buffers_registered);
  BOOST_CHECK(!seen.fixed_buffers_active);
  if (is_full_uring_variant()) {
    // Registration was tried and refused, and Features says why.
    BOOST_CHECK_MESSAGE(seen.buffers_note.find("RLIMIT_MEMLOCK") != std::string::npos,
                        "buffers_note: '" << seen.buffers_note << "'");
  }
  RX_CHECK_OK(seen.write_ec);
  RX_CHECK_OK(seen.read_ec);
  BOOST_CHECK_EQUAL(seen.written, options.buffer_size_bytes);
  BOOST_CHECK_EQUAL(seen.read, options.buffer_size_bytes);
  BOOST_CHECK(seen.bytes_match);
}

BOOST_AUTO_TEST_CASE(zero_copy_over_the_memlock_limit_falls_back_to_copy) {
  EngineOptions options = variant_options();
  options.buffer_count = 16;
  options.recv_buffer_count = 8;
  options.buffer_size_bytes = zc_buffer_bytes;
  options.disabled.add(Feature::fixed_buffers);
  RawPair pair = raw_tcp_pair();
  RawPair probe = raw_tcp_pair();
  ZcObserved seen;
  std::thread worker(
      [&] { zero_copy_under_low_memlock(options, probe.client.get(), pair.client.get(), pair.server.get(), seen); });
  worker.join();
  pair.client.release();  // the engine adopted and closed them
  pair.server.release();
  BOOST_REQUIRE_MESSAGE(seen.started, "engine failed to start with a low RLIMIT_MEMLOCK: " << seen.start_error);
  BOOST_TEST_MESSAGE(variant_name() << ": MSG_ZEROCOPY over RLIMIT_MEMLOCK: "
                                    << (seen.raw_enobufs ? "ENOBUFS" : std::strerror(seen.raw_errno))
                                    << "; engine: " << seen.send_errors << " send errors, stats " << seen.stats);
  // The fault is real here: the kernel refuses a zero-copy send over the limit.
  BOOST_CHECK_MESSAGE(seen.raw_enobufs, "MSG_ZEROCOPY over RLIMIT_MEMLOCK did not fail with ENOBUFS: "
                                            << std::strerror(seen.raw_errno));
  BOOST_CHECK_MESSAGE(seen.send_errors == 0, seen.send_errors << " send_zc failed, the first with "
                                                               << describe(seen.first_send_error));
  BOOST_CHECK_EQUAL(seen.sent, zc_sends * zc_buffer_bytes);
  BOOST_CHECK_EQUAL(seen.received, zc_sends * zc_buffer_bytes);
  BOOST_CHECK(seen.bytes_match);
  BOOST_CHECK_MESSAGE(seen.recv_end == ringxfer::error::eof, describe(seen.recv_end));
}

BOOST_AUTO_TEST_SUITE_END()
