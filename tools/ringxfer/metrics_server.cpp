#include "metrics_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <iostream>
#include <list>
#include <mutex>
#include <optional>
#include <string_view>

#include "ringxfer/engine.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::size_t max_request_bytes = 16 * 1024;

// The value of header `name` (lower case, spaces trimmed), or nullopt.
std::optional<std::string> header_value(std::string_view head, std::string_view name) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  std::string needle = "\r\n" + std::string(name) + ":";
  auto at = lower.find(needle);
  if (at == std::string::npos) return std::nullopt;
  auto begin = at + needle.size();
  auto end = lower.find("\r\n", begin);
  std::string value = lower.substr(begin, end - begin);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  return value;
}

bool has_token(std::string_view head, std::string_view name, std::string_view token) {
  auto value = header_value(head, name);
  return value && value->find(token) != std::string::npos;
}

}  // namespace

struct MetricsServer::State {
  struct Conn {
    Socket socket;
    std::string in;
    std::string out;
    int ops = 0;
    bool sending = false;
    bool close_after = false;
    bool closing = false;
  };

  int listen_fd;
  EngineOptions options;
  std::function<std::string()> render;
  // Guards `engine` so that the destructor's wake() never meets an Engine
  // being destroyed.
  std::mutex mutex;
  Engine* engine = nullptr;
  std::atomic<bool> stop{false};
  std::list<Conn> conns;  // not the hot path: a scrape every few seconds
  Socket listener;

  // Built by the constructor, on the caller's thread: before the server
  // says it listens, so a flood of clients that takes every fd (EMFILE)
  // cannot leave the metrics without an engine for good. run() starts the
  // accept on the metrics thread and loops there.
  std::unique_ptr<Engine> built;

  void build() {
    try {
      built = std::make_unique<Engine>(options);
    } catch (const std::exception& ex) {
      std::cerr << "ringxfer: metrics: " << ex.what() << '\n';
      ::close(listen_fd);
      return;
    }
    if (auto ec = built->adopt(listen_fd, listener)) {
      std::cerr << "ringxfer: metrics: " << ec.message() << '\n';
      ::close(listen_fd);
      built.reset();
    }
  }

  void run() {
    std::unique_ptr<Engine> e = std::move(built);
    if (!e) return;
    Engine& en = *e;
    en.accept(listener, [this, &en](std::error_code ec, Socket s) {
      if (ec) return;
      Conn& c = conns.emplace_back();
      c.socket = s;
      arm(en, c);
    });
    {
      std::lock_guard lock(mutex);
      engine = e.get();
    }
    while (!stop.load(std::memory_order_acquire)) en.run_once(std::chrono::milliseconds(-1));
    {
      std::lock_guard lock(mutex);
      engine = nullptr;
    }
    e.reset();  // cancels what is left; handlers still see `conns`
    conns.clear();
  }

  void arm(Engine& en, Conn& c) {
    OpId id = en.recv(c.socket, [this, &en, &c](std::error_code ec, Buffer b) {
      if (!ec) {
        if (c.closing) return;
        c.in.append(reinterpret_cast<const char*>(b.data()), b.size());
        serve(en, c);
        return;
      }
      --c.ops;
      close(en, c);
    });
    if (id) ++c.ops;
    else close(en, c);
  }

  void close(Engine& en, Conn& c) {
    if (!c.closing) {
      c.closing = true;
      if (en.close(c.socket, [this, &c](std::error_code) {
            --c.ops;
            release(c);
          }))
        ++c.ops;
    }
    release(c);
  }

  void release(Conn& c) {
    if (!c.closing || c.ops > 0) return;
    conns.remove_if([&c](const Conn& x) { return &x == &c; });
  }

  // Answers the first complete request in c.in, if any and nothing is being sent.
  void serve(Engine& en, Conn& c) {
    if (c.sending || c.closing) return;
    auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > max_request_bytes) respond(en, c, 431, "Request Header Fields Too Large", "", true);
      return;
    }
    std::string head = c.in.substr(0, end + 2);
    c.in.erase(0, end + 4);
    auto line_end = head.find("\r\n");
    std::string_view line(head.data(), line_end);
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) {
      respond(en, c, 400, "Bad Request", "", true);
      return;
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
      respond(en, c, 505, "HTTP Version Not Supported", "", true);
      return;
    }
    bool close_after = version == "HTTP/1.0" ? !has_token(head, "connection", "keep-alive")
                                             : has_token(head, "connection", "close");
    // No request here needs a body, and none is read: after a request that
    // has one, answer and close rather than misread the stream.
    auto length = header_value(head, "content-length");
    if ((length && *length != "0") || header_value(head, "transfer-encoding")) close_after = true;
    std::string_view path = target.substr(0, target.find('?'));
    if (method != "GET" && method != "HEAD") {
      respond(en, c, 405, "Method Not Allowed", "", close_after, "Allow: GET, HEAD\r\n");
    } else if (path != "/metrics") {
      respond(en, c, 404, "Not Found", method == "HEAD" ? "" : "not found; try /metrics\n", close_after, "",
              method == "HEAD");
    } else {
      std::string body = render();
      respond(en, c, 200, "OK", body, close_after,
              "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", method == "HEAD");
    }
  }

  void respond(Engine& en, Conn& c, int status, std::string_view reason, const std::string& body, bool close_after,
               std::string_view extra = {}, bool head_only = false) {
    c.out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    c.out += extra;
    c.out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (close_after) c.out += "Connection: close\r\n";
    c.out += "\r\n";
    if (!head_only) c.out += body;
    c.close_after = close_after;
    c.sending = true;
    OpId id = en.send(c.socket, std::as_bytes(std::span(c.out.data(), c.out.size())),
                      [this, &en, &c](std::error_code ec, std::size_t) {
                        --c.ops;
                        c.sending = false;
                        if (ec || c.close_after) {
                          close(en, c);
                          return;
                        }
                        serve(en, c);  // a pipelined request may be waiting
                      });
    if (id) ++c.ops;
    else close(en, c);
  }
};

MetricsServer::MetricsServer(int listen_fd, EngineOptions options, std::function<std::string()> render)
    : state_(std::make_unique<State>()) {
  state_->listen_fd = listen_fd;
  state_->options = options;
  state_->render = std::move(render);
  state_->build();
  thread_ = std::thread([s = state_.get()] { s->run(); });
}

MetricsServer::~MetricsServer() {
  // The loop reads the flag after each turn; wake() ends a turn that waits.
  // Before the engine is up there is nothing to wake: the loop will see the
  // flag before it first waits.
  {
    std::lock_guard lock(state_->mutex);
    state_->stop.store(true, std::memory_order_release);
    if (state_->engine != nullptr) state_->engine->wake();
  }
  thread_.join();
}

}  // namespace ringxfer::cli
