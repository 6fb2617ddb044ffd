#pragma once
#include <memory>
#include <ostream>
#include <string>

#include "http/request.hpp"
#include "http/status.hpp"

namespace ringxfer::http {
inline std::ostream& operator<<(std::ostream& os, Status s) { return os << code(s); }
inline std::ostream& operator<<(std::ostream& os, Method m) { return os << (m == Method::get ? "GET" : "HEAD"); }
inline std::ostream& operator<<(std::ostream& os, ParseState s) {
  return os << (s == ParseState::need_more ? "need_more" : s == ParseState::complete ? "complete" : "error");
}
}  // namespace ringxfer::http

namespace httptest {

// One request parsed from a whole buffer; the text outlives the views.
struct Parsed {
  std::string text;
  ringxfer::http::ParseResult result;
  std::unique_ptr<ringxfer::http::Request> request = std::make_unique<ringxfer::http::Request>();
};

inline Parsed parse(std::string text, ringxfer::http::Limits limits = {}) {
  Parsed p;
  p.text = std::move(text);
  ringxfer::http::RequestParser parser(limits);
  p.result = parser.parse(p.text, *p.request);
  return p;
}

// The status of an error, or 200 for a complete request, 0 for need_more.
inline unsigned outcome(const std::string& text, ringxfer::http::Limits limits = {}) {
  Parsed p = parse(text, limits);
  switch (p.result.state) {
    case ringxfer::http::ParseState::complete: return 200;
    case ringxfer::http::ParseState::error: return code(p.result.status);
    case ringxfer::http::ParseState::need_more: return 0;
  }
  return 1;
}

}  // namespace httptest
