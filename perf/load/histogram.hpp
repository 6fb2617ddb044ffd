#pragma once
// A log-linear latency histogram in the manner of HdrHistogram: each power
// of two is split into 128 linear sub-buckets, so any recorded value is
// known to within 1/128 (< 0.8 %). Storage is one fixed array allocated at
// construction; record() is a few integer instructions and never allocates,
// so it can sit on the per-message path. Values are nanoseconds.
#include <array>
#include <bit>
#include <cstdint>
#include <memory>

namespace ringxfer::perf {

class LatencyHistogram {
 public:
  static constexpr unsigned sub_bucket_bits = 7;
  static constexpr std::uint64_t sub_bucket_count = 1u << sub_bucket_bits;
  // Values up to 2^43 ns (about 2.4 hours) are distinct; larger ones clamp.
  static constexpr unsigned max_value_bits = 43;
  static constexpr std::size_t bucket_count =
      (max_value_bits - sub_bucket_bits + 1) * sub_bucket_count;

  LatencyHistogram() : counts_(std::make_unique<Counts>()) { counts_->fill(0); }

  void record(std::uint64_t value_ns) {
    if (value_ns >= (std::uint64_t{1} << max_value_bits)) value_ns = (std::uint64_t{1} << max_value_bits) - 1;
    ++(*counts_)[index_of(value_ns)];
    ++total_;
    sum_ns_ += value_ns;
    if (value_ns > max_ns_) max_ns_ = value_ns;
    if (value_ns < min_ns_) min_ns_ = value_ns;
  }

  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return total_; }
  std::uint64_t max_ns() const { return total_ ? max_ns_ : 0; }
  std::uint64_t min_ns() const { return total_ ? min_ns_ : 0; }
  double mean_ns() const { return total_ ? static_cast<double>(sum_ns_) / static_cast<double>(total_) : 0.0; }
  // The value at quantile q (0..1): the highest value that falls into the
  // same sub-bucket as the q-th recorded value (as HdrHistogram reports it),
  // capped at the exact maximum.
  std::uint64_t value_at_quantile_ns(double q) const;

  // Exposed for the unit test of the bucket layout.
  static std::size_t index_of(std::uint64_t value) {
    unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(value | 1));
    unsigned shift = msb > sub_bucket_bits ? msb - sub_bucket_bits : 0;
    return static_cast<std::size_t>(shift) * sub_bucket_count + static_cast<std::size_t>(value >> shift);
  }
  static std::uint64_t highest_value_of(std::size_t index);

 private:
  using Counts = std::array<std::uint64_t, bucket_count + sub_bucket_count>;
  std::unique_ptr<Counts> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ns_ = 0;
  std::uint64_t max_ns_ = 0;
  std::uint64_t min_ns_ = UINT64_MAX;
};

}  // namespace ringxfer::perf
