#pragma once
// A socket address (IPv4 or IPv6) that parses "127.0.0.1:8080", "[::1]:8080".
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace ringxfer {

class Address {
 public:
  Address() noexcept;
  static Address loopback_v4(std::uint16_t port) noexcept;
  static Address loopback_v6(std::uint16_t port) noexcept;
  // "host:port" with a numeric host; "[v6]:port" for IPv6. No name lookup.
  static std::error_code parse(std::string_view text, Address& out) noexcept;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }
  void set_size(socklen_t n) noexcept { size_ = n; }
  int family() const noexcept { return storage_.ss_family; }
  std::uint16_t port() const noexcept;
  std::string to_string() const;

 private:
  sockaddr_storage storage_;
  socklen_t size_ = 0;
};

}  // namespace ringxfer
