#include "ringxfer/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ringxfer {

Address::Address() noexcept { std::memset(&storage_, 0, sizeof storage_); }

namespace {

// port in host order; addr_be already in network order.
Address make_v4(std::uint16_t port, std::uint32_t addr_be) noexcept {
  Address a;
  auto* sin = reinterpret_cast<sockaddr_in*>(a.data());
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = addr_be;
  a.set_size(sizeof(sockaddr_in));
  return a;
}

Address make_v6(std::uint16_t port, const in6_addr& addr) noexcept {
  Address a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.data());
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = addr;
  a.set_size(sizeof(sockaddr_in6));
  return a;
}

}  // namespace

Address Address::loopback_v4(std::uint16_t port) noexcept { return make_v4(port, htonl(INADDR_LOOPBACK)); }
Address Address::loopback_v6(std::uint16_t port) noexcept { return make_v6(port, in6addr_loopback); }
Address Address::any_v4(std::uint16_t port) noexcept { return make_v4(port, htonl(INADDR_ANY)); }
Address Address::any_v6(std::uint16_t port) noexcept { return make_v6(port, in6addr_any); }

std::error_code Address::parse(std::string_view text, Address& out) noexcept {
  const auto invalid = std::make_error_code(std::errc::invalid_argument);
  std::string_view host;
  std::string_view port_text;
  bool v6 = !text.empty() && text.front() == '[';
  if (v6) {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return invalid;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port_text.empty() || port > 65535) {
    return invalid;
  }
  char host_z[INET6_ADDRSTRLEN] = {};
  // inet_pton reads up to a NUL: a host with one inside would be read short.
  if (host.size() >= sizeof host_z || host.find('\0') != std::string_view::npos) return invalid;
  std::memcpy(host_z, host.data(), host.size());
  Address a;
  if (v6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (::inet_pton(AF_INET6, host_z, &sin6->sin6_addr) != 1) return invalid;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(std::uint16_t(port));
    a.size_ = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (::inet_pton(AF_INET, host_z, &sin->sin_addr) != 1) return invalid;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(std::uint16_t(port));
    a.size_ = sizeof(sockaddr_in);
  }
  out = a;
  return {};
}

std::uint16_t Address::port() const noexcept {
  if (storage_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (storage_.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string Address::to_string() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (storage_.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, host, sizeof host);
    return std::string(host) + ':' + std::to_string(port());
  }
  if (storage_.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, host, sizeof host);
    return '[' + std::string(host) + "]:" + std::to_string(port());
  }
  return "(unspecified)";
}

}  // namespace ringxfer
