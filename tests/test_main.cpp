// The conformance suite's module: one Boost.Test binary, run once per engine
// variant (RINGXFER_TEST_VARIANT; see support.hpp). If the variant needs
// io_uring and io_uring is not usable on this kernel, the whole binary exits
// with 77, which CTest reports as skipped (SKIP_RETURN_CODE 77) — never a
// silent pass.
#define BOOST_TEST_MODULE ringxfer_conformance
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <cstdlib>
#include <iostream>

#include "support.hpp"

namespace {

extern "C" void count_sigpipe(int) { rxtest::sigpipe_count.fetch_add(1, std::memory_order_relaxed); }

struct VariantGate {
  VariantGate() {
    const char* text = std::getenv("RINGXFER_TEST_VARIANT");
    if (!rxtest::parse_variant(text)) {
      std::cerr << "ringxfer-conformance: unknown RINGXFER_TEST_VARIANT='" << text
                << "' (expected io_uring, epoll, io_uring_nofeatures or io_uring_sqpoll)\n";
      std::exit(2);
    }
    // Count SIGPIPE instead of dying from it: a test can then assert that the
    // engine's sends do not raise it (MSG_NOSIGNAL).
    struct sigaction sa {};
    sa.sa_handler = count_sigpipe;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGPIPE, &sa, nullptr);

    ringxfer::EngineOptions options = rxtest::variant_options();
    // Test hook for the skip path itself (ctest conformance.skip_when_uring_unusable):
    // pretend io_uring_setup fails with this errno.
    if (const char* e = std::getenv("RINGXFER_TEST_SIMULATE_URING_SETUP_ERRNO")) {
      options.simulate_uring_setup_errno = std::atoi(e);
    }
    ringxfer::Features f = ringxfer::probe_features(options);
    std::cout << "ringxfer-conformance: variant " << rxtest::variant_name() << ", kernel " << f.kernel_release
              << ", liburing " << f.liburing_version << ", io_uring usable: " << (f.io_uring_usable ? "yes" : "no")
              << std::endl;
    if (rxtest::is_uring_variant() && !f.io_uring_usable) {
      std::cout << "SKIP: variant " << rxtest::variant_name()
                << " needs io_uring, which is not usable here: " << f.io_uring_error << std::endl;
      std::exit(77);
    }
  }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(VariantGate);
