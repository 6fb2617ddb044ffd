// libFuzzer target: ringxfer::Address::parse ("host:port", "[v6]:port").
// Invariants: a parsed address has a family, a size that matches it, and
// prints to text that parses back to the same address.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "ringxfer/address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ringxfer::Address a;
  if (ringxfer::Address::parse(text, a)) return 0;  // refused: fine, it must just not crash
  FUZZ_CHECK(a.family() == AF_INET || a.family() == AF_INET6);
  FUZZ_CHECK(a.size() == (a.family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
  std::string printed = a.to_string();
  ringxfer::Address b;
  FUZZ_CHECK(!ringxfer::Address::parse(printed, b));
  FUZZ_CHECK(b.family() == a.family() && b.port() == a.port() && b.size() == a.size());
  FUZZ_CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
  FUZZ_CHECK(b.to_string() == printed);
  return 0;
}
