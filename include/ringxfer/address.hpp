#pragma once
/// @file
/// A socket address (IPv4 or IPv6) that parses "127.0.0.1:8080", "[::1]:8080".
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace ringxfer {

/// An IPv4 or IPv6 socket address (a sockaddr_storage and its length), the
/// form every Engine call that names a peer or a local address takes.
class Address {
 public:
  /// An empty address (family AF_UNSPEC, size 0).
  Address() noexcept;
  /// `127.0.0.1:port`.
  static Address loopback_v4(std::uint16_t port) noexcept;
  /// `[::1]:port`.
  static Address loopback_v6(std::uint16_t port) noexcept;
  /// "host:port" with a numeric host; "[v6]:port" for IPv6. No name lookup.
  static std::error_code parse(std::string_view text, Address& out) noexcept;

  /// The sockaddr, for bind(2)/connect(2) and the like.
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  /// The sockaddr to fill (accept(2), getsockname(2)); then set_size().
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  /// Bytes of data() in use (sizeof sockaddr_in or sockaddr_in6).
  socklen_t size() const noexcept { return size_; }
  /// Sets the length after data() was filled by the kernel.
  void set_size(socklen_t n) noexcept { size_ = n; }
  /// AF_INET, AF_INET6, or AF_UNSPEC for an empty address.
  int family() const noexcept { return storage_.ss_family; }
  /// The port in host byte order.
  std::uint16_t port() const noexcept;
  /// "127.0.0.1:8080" or "[::1]:8080" (the form parse() reads).
  std::string to_string() const;

 private:
  sockaddr_storage storage_;
  socklen_t size_ = 0;
};

}  // namespace ringxfer
