#pragma once
// The deterministic byte stream each connection sends, so that every echoed
// byte can be checked. Byte i of connection c's stream is
//   table[(seed(c) + i) % period]
// with a pseudo-random table whose period (a prime) is not a multiple of any
// message size: a byte echoed to the wrong connection, reordered, dropped or
// duplicated fails the comparison. The table is stored twice over, so any
// window of up to `period` bytes is contiguous: sends come straight out of it
// (no copy) and checks are one memcmp per window.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ringxfer::perf {

class Pattern {
 public:
  static constexpr std::size_t period = 65521;  // largest prime below 64 KiB

  Pattern();
  static std::uint32_t seed_of(std::uint64_t connection) {
    return static_cast<std::uint32_t>((connection * 7919u + 1) % period);
  }
  // Up to `max_bytes` (at most `period`) contiguous bytes of the stream with
  // seed `seed`, starting at stream offset `offset`.
  std::span<const char> window(std::uint32_t seed, std::uint64_t offset, std::uint64_t max_bytes) const {
    std::size_t start = static_cast<std::size_t>((seed + offset) % period);
    std::size_t length = static_cast<std::size_t>(max_bytes < period ? max_bytes : period);
    return {bytes_.data() + start, length};
  }
  // True if `data` equals the stream from `offset` on.
  bool matches(std::uint32_t seed, std::uint64_t offset, const char* data, std::size_t size) const;

 private:
  std::vector<char> bytes_;
};

}  // namespace ringxfer::perf
