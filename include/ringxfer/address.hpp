#pragma once
// A socket address (IPv4 or IPv6) that parses "127.0.0.1:8080", "[::1]:8080".
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace ringxfer {

/// An IPv4 or IPv6 socket address (a sockaddr_storage and its length).
class Address {
 public:
  /// An empty address: family AF_UNSPEC, size() 0.
  Address() noexcept;
  /// 127.0.0.1:port.
  static Address loopback_v4(std::uint16_t port) noexcept;
  /// [::1]:port.
  static Address loopback_v6(std::uint16_t port) noexcept;
  /// 0.0.0.0:port (INADDR_ANY): listen on every IPv4 address. Port 0 lets the
  /// kernel pick one (read it back with Engine::local_address()).
  static Address any_v4(std::uint16_t port) noexcept;
  /// [::]:port (in6addr_any): listen on every IPv6 address, and on every IPv4
  /// one too unless IPV6_V6ONLY is set (ListenOptions::v6_only; the kernel
  /// default is net.ipv6.bindv6only, normally 0).
  static Address any_v6(std::uint16_t port) noexcept;
  /// Parses "a.b.c.d:port" (IPv4) or "[v6]:port" (IPv6, brackets required),
  /// numeric hosts only: no name lookup (resolve names yourself, e.g. with
  /// getaddrinfo, off the engine's thread). Port 0-65535, decimal digits only.
  /// Returns std::errc::invalid_argument for anything else (a name, a missing
  /// or out-of-range port, an unbracketed IPv6 host, an IPv6 scope id), and
  /// then leaves `out` unchanged.
  static std::error_code parse(std::string_view text, Address& out) noexcept;

  /// The sockaddr, for bind(2), connect(2) and the like.
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }
  void set_size(socklen_t n) noexcept { size_ = n; }
  int family() const noexcept { return storage_.ss_family; }
  /// The port in host byte order; 0 for an empty address.
  std::uint16_t port() const noexcept;
  /// "a.b.c.d:port" or "[v6]:port", as parse() reads it.
  std::string to_string() const;

 private:
  sockaddr_storage storage_;
  socklen_t size_ = 0;
};

}  // namespace ringxfer
