// The histogram's bucket layout and quantiles, against exact answers.
#include <cstdio>
#include <cstdlib>

#include "histogram.hpp"

using ringxfer::perf::LatencyHistogram;

namespace {

int failures = 0;

void check(bool ok, const char* what, unsigned long long got, unsigned long long want) {
  if (ok) return;
  ++failures;
  std::fprintf(stderr, "FAIL %s: got %llu, want %llu\n", what, got, want);
}

}  // namespace

int main() {
  // Every value lands in a bucket whose highest value is >= it and within
  // 1/128 of it, and consecutive buckets tile the range without gaps.
  for (unsigned long long v : {0ull, 1ull, 127ull, 255ull, 256ull, 257ull, 1000ull, 65535ull, 1ull << 30, (1ull << 42) + 12345}) {
    std::size_t i = LatencyHistogram::index_of(v);
    unsigned long long top = LatencyHistogram::highest_value_of(i);
    check(top >= v, "highest_value_of(index_of(v)) >= v", top, v);
    check(top - v <= v / 128, "bucket width <= v/128", top - v, v / 128);
    check(LatencyHistogram::index_of(top + 1) == i + 1, "next bucket starts after top", LatencyHistogram::index_of(top + 1), i + 1);
  }

  LatencyHistogram h;
  for (unsigned long long v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms
  check(h.count() == 100000, "count", h.count(), 100000);
  check(h.max_ns() == 100000000, "max", h.max_ns(), 100000000);
  check(h.min_ns() == 1000, "min", h.min_ns(), 1000);
  struct Q {
    double q;
    unsigned long long exact;
  };
  for (Q q : {Q{0.5, 50000000}, Q{0.99, 99000000}, Q{0.999, 99900000}, Q{1.0, 100000000}}) {
    unsigned long long got = h.value_at_quantile_ns(q.q);
    check(got >= q.exact && got - q.exact <= q.exact / 128, "quantile within 1/128 above the exact value", got, q.exact);
  }

  // merge() adds counts; a huge value clamps instead of writing out of range.
  LatencyHistogram other;
  other.record(~0ull);
  h.merge(other);
  check(h.count() == 100001, "merged count", h.count(), 100001);
  check(h.value_at_quantile_ns(1.0) == h.max_ns(), "p100 is the max", h.value_at_quantile_ns(1.0), h.max_ns());

  if (failures == 0) std::puts("histogram: all checks passed");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
