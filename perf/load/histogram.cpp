#include "histogram.hpp"

#include <algorithm>
#include <cmath>

namespace ringxfer::perf {

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_->size(); ++i) (*counts_)[i] += (*other.counts_)[i];
  total_ += other.total_;
  sum_ns_ += other.sum_ns_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
  min_ns_ = std::min(min_ns_, other.min_ns_);
}

std::uint64_t LatencyHistogram::highest_value_of(std::size_t index) {
  // index = shift * sub_bucket_count + (value >> shift), and value >> shift
  // is in [sub_bucket_count, 2 * sub_bucket_count) whenever shift > 0.
  std::size_t shift = index < 2 * sub_bucket_count ? 0 : index / sub_bucket_count - 1;
  std::uint64_t top = index - shift * sub_bucket_count;
  return ((top + 1) << shift) - 1;
}

std::uint64_t LatencyHistogram::value_at_quantile_ns(double q) const {
  if (total_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_->size(); ++i) {
    seen += (*counts_)[i];
    if (seen >= rank) return std::min(highest_value_of(i), max_ns_);
  }
  return max_ns_;
}

}  // namespace ringxfer::perf
