#pragma once
// A log-linear latency histogram with fixed storage: values below 64 are
// exact; above, each power of two is split into 32 linear sub-buckets, so a
// reported percentile is within 1/32 (about 3 %) of the truth. Recording is
// a bit scan and an increment: nothing is allocated per value.
#include <array>
#include <bit>
#include <cstdint>

namespace ringxfer::cli {

class LogLinearHistogram {
 public:
  static constexpr unsigned sub_bits = 5;
  static constexpr std::uint64_t exact_below = 2u << sub_bits;  // 64
  static constexpr std::size_t bucket_count = exact_below + (64 - sub_bits - 1) * (1u << sub_bits);

  void record(std::uint64_t value) noexcept {
    ++counts_[index_of(value)];
    ++count_;
    if (value > max_) max_ = value;
    sum_ += value;
  }
  void add(const LogLinearHistogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    if (other.max_ > max_) max_ = other.max_;
  }
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ == 0 ? 0.0 : double(sum_) / double(count_); }
  // The smallest bucket's upper edge below or at which `q` (0..1) of the
  // values lie; never above max(). 0 when empty.
  std::uint64_t quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    auto rank = std::uint64_t(q * double(count_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > count_) rank = count_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        std::uint64_t edge = upper_edge(i);
        return edge < max_ ? edge : max_;
      }
    }
    return max_;
  }

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < exact_below) return std::size_t(v);
    unsigned top = unsigned(std::bit_width(v)) - 1;          // >= sub_bits + 1
    unsigned shift = top - sub_bits;
    std::uint64_t sub = (v >> shift) & ((1u << sub_bits) - 1);
    return std::size_t(exact_below + (top - sub_bits - 1) * (1u << sub_bits) + sub);
  }
  static std::uint64_t upper_edge(std::size_t i) noexcept {
    if (i < exact_below) return i;
    std::size_t k = i - exact_below;
    unsigned top = unsigned(k >> sub_bits) + sub_bits + 1;
    std::uint64_t sub = k & ((1u << sub_bits) - 1);
    unsigned shift = top - sub_bits;
    std::uint64_t lower = ((std::uint64_t(1) << sub_bits) | sub) << shift;
    return lower + ((std::uint64_t(1) << shift) - 1);
  }

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace ringxfer::cli
