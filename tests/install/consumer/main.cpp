// An out-of-tree program built against an installed ringxfer (tests/install):
// one loopback round trip through the public API, so that a package that
// compiles but does not link or run (missing -luring, wrong include dir) fails.
#include <ringxfer/ringxfer.hpp>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  ringxfer::Engine engine;
  ringxfer::Socket listener;
  if (std::error_code ec = engine.listen(ringxfer::Address::loopback_v4(0), listener)) {
    std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
    return 1;
  }
  ringxfer::Address bound;
  engine.local_address(listener, bound);

  static const char message[] = "hello from an installed ringxfer";
  std::string received;
  std::error_code failure;
  ringxfer::Socket server_side;
  engine.accept(listener, [&](std::error_code ec, ringxfer::Socket s) {
    if (ec) return;
    server_side = s;
    engine.recv(s, [&](std::error_code ec, ringxfer::Buffer b) {
      if (ec) return;
      received.append(reinterpret_cast<const char*>(b.data()), b.size());
      if (received.size() == std::strlen(message)) engine.stop();
    });
  });
  engine.connect(bound, [&](std::error_code ec, ringxfer::Socket s) {
    if (ec) {
      failure = ec;
      engine.stop();
      return;
    }
    engine.send(s, std::as_bytes(std::span(message, std::strlen(message))),
                [&](std::error_code ec, std::size_t) { if (ec) failure = ec; });
  });
  engine.timeout(std::chrono::seconds(10), [&](std::error_code ec) { if (!ec) engine.stop(); });
  engine.run();
  if (failure || received != message) {
    std::fprintf(stderr, "round trip failed: %s, got '%s'\n", failure.message().c_str(), received.c_str());
    return 1;
  }
  std::printf("consumer ok: %s\n", std::string(ringxfer::to_string(engine.features().backend)).c_str());
  return 0;
}
