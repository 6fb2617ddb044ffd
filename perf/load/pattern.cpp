#include "pattern.hpp"

#include <cstring>

namespace ringxfer::perf {

Pattern::Pattern() : bytes_(2 * period) {
  std::uint64_t state = 0x9E3779B97F4A7C15u;  // xorshift64*: fixed, so runs are repeatable
  for (std::size_t i = 0; i < period; ++i) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    bytes_[i] = static_cast<char>((state * 0x2545F4914F6CDD1Du) >> 56);
  }
  std::memcpy(bytes_.data() + period, bytes_.data(), period);
}

bool Pattern::matches(std::uint32_t seed, std::uint64_t offset, const char* data, std::size_t size) const {
  while (size > 0) {
    auto expected = window(seed, offset, size);
    if (std::memcmp(expected.data(), data, expected.size()) != 0) return false;
    data += expected.size();
    offset += expected.size();
    size -= expected.size();
  }
  return true;
}

}  // namespace ringxfer::perf
