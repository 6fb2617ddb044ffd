#pragma once
// HTTP status codes that `ringxfer serve` sends, and their reason phrases.
#include <cstdint>
#include <string_view>

namespace ringxfer::http {

enum class Status : std::uint16_t {
  ok = 200,
  partial_content = 206,
  moved_permanently = 301,
  not_modified = 304,
  bad_request = 400,
  forbidden = 403,
  not_found = 404,
  method_not_allowed = 405,
  request_timeout = 408,
  content_too_large = 413,
  uri_too_long = 414,
  range_not_satisfiable = 416,
  header_fields_too_large = 431,
  internal_server_error = 500,
  not_implemented = 501,
  service_unavailable = 503,
  version_not_supported = 505,
};

constexpr unsigned code(Status s) noexcept { return static_cast<unsigned>(s); }

// RFC 9110 section 15 reason phrases ("Not Found"); "Unknown" for a value
// outside the enum.
std::string_view reason_phrase(Status s) noexcept;

}  // namespace ringxfer::http
