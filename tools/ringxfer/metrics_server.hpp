#pragma once
// A tiny HTTP/1.1 responder for GET /metrics, on its own thread and Engine so
// that a scrape never stalls an engine that moves data. Other paths get 404,
// other methods 405; keep-alive is honoured (Prometheus keeps connections).
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "ringxfer/options.hpp"

namespace ringxfer::cli {

class MetricsServer {
 public:
  // Takes ownership of `listen_fd` (a listening socket). `render` runs on the
  // metrics thread and returns the exposition text.
  MetricsServer(int listen_fd, EngineOptions options, std::function<std::string()> render);
  ~MetricsServer();  // stops and joins
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace ringxfer::cli
