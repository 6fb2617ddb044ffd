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

BOOST_AUTO_TEST_SUITE_END()
