// The README's Embedding example (the part between the [asio-example]
// markers is quoted there verbatim), and a harness that runs it: the server
// serves a few connections on an ephemeral port while blocking clients on
// other threads check what they get. Exit 0 if every client got the file and
// its echo, 1 otherwise. The backend comes from RINGXFER_BACKEND (ctest runs
// it on io_uring and on epoll).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

// [asio-example]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ringxfer/asio.hpp>

namespace asio = boost::asio;
using namespace ringxfer;

// Each connection gets the file, then everything it sends comes back.
asio::awaitable<void> session(AsioEngine& rx, Transfers& transfers, Socket peer, File file, std::size_t size) {
  constexpr auto use = asio::use_awaitable;  // errors throw boost::system::system_error
  co_await rx.async_transfer(transfers, Source::file(file, 0, size), Sink::socket(peer), {}, use);
  co_await rx.async_transfer(transfers, Source::socket(peer), Sink::socket(peer), {}, use);  // until FIN
  co_await rx.async_close(peer, use);
}

asio::awaitable<void> serve(AsioEngine& rx, Transfers& transfers, Socket listener, File file, std::size_t size,
                            int connections) {
  AsioAcceptor acceptor(rx, listener);
  for (int i = 0; i < connections; ++i) {
    Socket peer = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(rx.get_executor(), session(rx, transfers, peer, file, size), asio::detached);
  }
}  // the acceptor closes: io.run() returns once the sessions are done

int run_server(Engine& engine, Socket listener, const char* path, int connections) {
  asio::io_context io;
  AsioEngine rx(io, engine);   // the io_context polls the engine when its event fd fires
  Transfers transfers(engine);
  File file;
  struct stat st {};
  if (engine.open(path, O_RDONLY, file) || ::fstat(engine.native_handle(file), &st) != 0) return 1;
  asio::co_spawn(io, serve(rx, transfers, listener, file, std::size_t(st.st_size), connections), asio::detached);
  io.run();
  return 0;
}
// [asio-example]

namespace {

std::vector<char> read_n(int fd, std::size_t n) {
  std::vector<char> out(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += std::size_t(r);
  }
  out.resize(got);
  return out;
}

bool client(std::uint16_t port, const std::string& expected_file, int index) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ok = ok && read_n(fd, expected_file.size()) == std::vector<char>(expected_file.begin(), expected_file.end());
  const std::string msg = "echo " + std::to_string(index) + std::string(1000, 'x');
  ok = ok && ::write(fd, msg.data(), msg.size()) == ssize_t(msg.size());
  ::shutdown(fd, SHUT_WR);
  ok = ok && read_n(fd, msg.size() + 1) == std::vector<char>(msg.begin(), msg.end());  // then EOF
  ::close(fd);
  return ok;
}

}  // namespace

int main() {
  char path[] = "/tmp/ringxfer-asio-example-XXXXXX";
  int tmp = ::mkstemp(path);
  std::string content;
  for (int i = 0; i < 20000; ++i) content += char('a' + i % 26);
  if (tmp < 0 || ::write(tmp, content.data(), content.size()) != ssize_t(content.size())) return 1;
  ::close(tmp);

  Engine engine;  // io_uring, or epoll where io_uring is unusable (RINGXFER_BACKEND chooses)
  Socket listener;
  Address bound;
  if (engine.listen(Address::loopback_v4(0), listener) || engine.local_address(listener, bound)) return 1;

  constexpr int connections = 3;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < connections; ++i) {
    clients.emplace_back([&, i] { good += client(bound.port(), content, i) ? 1 : 0; });
  }
  int rc = run_server(engine, listener, path, connections);
  for (auto& t : clients) t.join();
  ::unlink(path);
  const std::string_view backend = to_string(engine.features().backend);
  std::printf("asio example (%.*s): %d of %d clients served\n", int(backend.size()), backend.data(), good.load(),
              connections);
  return rc == 0 && good == connections ? 0 : 1;
}
