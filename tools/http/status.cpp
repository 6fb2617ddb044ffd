#include "http/status.hpp"

namespace ringxfer::http {

std::string_view reason_phrase(Status s) noexcept {
  switch (s) {
    case Status::ok: return "OK";
    case Status::partial_content: return "Partial Content";
    case Status::moved_permanently: return "Moved Permanently";
    case Status::not_modified: return "Not Modified";
    case Status::bad_request: return "Bad Request";
    case Status::forbidden: return "Forbidden";
    case Status::not_found: return "Not Found";
    case Status::method_not_allowed: return "Method Not Allowed";
    case Status::request_timeout: return "Request Timeout";
    case Status::content_too_large: return "Content Too Large";
    case Status::uri_too_long: return "URI Too Long";
    case Status::range_not_satisfiable: return "Range Not Satisfiable";
    case Status::header_fields_too_large: return "Request Header Fields Too Large";
    case Status::internal_server_error: return "Internal Server Error";
    case Status::not_implemented: return "Not Implemented";
    case Status::service_unavailable: return "Service Unavailable";
    case Status::version_not_supported: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

}  // namespace ringxfer::http
