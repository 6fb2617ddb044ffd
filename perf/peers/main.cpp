// ringxfer-peer-asio-epoll / ringxfer-peer-asio-uring: Boost.Asio servers for
// the work ringxfer does, built from this one source on Asio's epoll reactor
// and on its io_uring service.
//
//   PEER echo|stream|file|http [--listen HOST:PORT] [--threads N] [options]
//
// When ready it prints the port it listens on (one line, the number alone)
// on stdout; SIGTERM or SIGINT stop it cleanly (exit 0). Exit codes: 1 when
// it cannot listen or open its file, 2 for a usage error.
#include <sys/resource.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/socket_base.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "peer.hpp"

namespace ringxfer::perf::peers {
namespace {

namespace asio = boost::asio;

constexpr std::string_view usage =
    "usage: PEER <command> [options]\n"
    "\n"
    "commands:\n"
    "  echo     echo every byte back (async_read_some / async_write, one buffer)\n"
    "  stream   on accept: send --bytes of memory in --chunk writes (--mode source),\n"
    "           or read and drop everything (--mode sink)\n"
    "  file     on accept: send --file, then half-close\n"
    "  http     HTTP/1.1 keep-alive: GET /path answers with ROOT/path\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT   where to listen (default 127.0.0.1:0: a free port)\n"
    "  --threads N          N threads, each its own io_context and SO_REUSEPORT\n"
    "                       listener (default 1)\n"
    "  --buffer BYTES       echo: read buffer per connection (default 16K)\n"
    "  --mode source|sink   stream: direction (default source)\n"
    "  --bytes N            stream source: bytes per connection (default 0: until\n"
    "                       the client closes)\n"
    "  --chunk BYTES        stream, file, http: bytes per write (default 64K)\n"
    "  --file PATH          file: the file to send (required)\n"
    "  --root DIR           http: the directory to serve (required)\n"
    "  --sendfile           file, http: sendfile(2) when writable, instead of pread\n"
    "                       + async_write\n"
    "  -h, --help           this text\n"
    "\n"
    "Prints the listening port on stdout when ready; stops on SIGTERM/SIGINT.\n";

PeerOptions parse(std::span<const std::string_view> args) {
  PeerOptions o;
  o.listen = Endpoint{"127.0.0.1", 0};
  if (args.empty()) throw UsageError("missing command (echo, stream, file, http)");
  o.command = std::string(args[0]);
  if (o.command != "echo" && o.command != "stream" && o.command != "file" && o.command != "http") {
    throw UsageError("unknown command '" + o.command + "'");
  }
  ArgReader reader(args.subspan(1));
  while (reader.next()) {
    std::string_view f = reader.flag();
    if (f == "--listen") {
      o.listen = parse_endpoint(f, reader.value(), true);
    } else if (f == "--threads") {
      std::uint64_t n = parse_count(f, reader.value());
      if (n < 1 || n > 256) throw UsageError("--threads: must be 1 .. 256");
      o.threads = static_cast<unsigned>(n);
    } else if (f == "--buffer") {
      o.buffer_bytes = parse_size_bytes(f, reader.value());
      if (o.buffer_bytes < 1 || o.buffer_bytes > 64 << 20) throw UsageError("--buffer: must be 1 B .. 64 MiB");
    } else if (f == "--mode") {
      std::string_view m = reader.value();
      if (m != "source" && m != "sink") throw UsageError("--mode: bad value '" + std::string(m) + "' (expected source or sink)");
      o.source = m == "source";
    } else if (f == "--bytes") {
      o.bytes = parse_size_bytes(f, reader.value());
    } else if (f == "--chunk") {
      o.chunk_bytes = parse_size_bytes(f, reader.value());
      if (o.chunk_bytes < 1 || o.chunk_bytes > 64 << 20) throw UsageError("--chunk: must be 1 B .. 64 MiB");
    } else if (f == "--file") {
      o.file = std::string(reader.value());
    } else if (f == "--root") {
      o.root = std::string(reader.value());
    } else if (f == "--sendfile") {
      reader.no_value();
      o.use_sendfile = true;
    } else {
      reader.unknown();
    }
  }
  if (o.command == "file") {
    if (o.file.empty()) throw UsageError("file: --file PATH is required");
    struct stat st {};
    if (::stat(o.file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw RuntimeError("--file: cannot open '" + o.file + "' as a regular file");
  }
  if (o.command == "http") {
    if (o.root.empty()) throw UsageError("http: --root DIR is required");
    struct stat st {};
    if (::stat(o.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw RuntimeError("--root: '" + o.root + "' is not a directory");
    while (o.root.size() > 1 && o.root.back() == '/') o.root.pop_back();
  }
  return o;
}

void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run(const PeerOptions& options) {
  raise_fd_limit();
  // Asio's own sends use MSG_NOSIGNAL, but sendfile(2) has no such flag: a
  // client that goes away mid-body must cost one connection, not the server.
  std::signal(SIGPIPE, SIG_IGN);
  // One io_context per thread, each with its own listener on the same port
  // (SO_REUSEPORT): threads share nothing, the kernel spreads connections.
  std::list<asio::io_context> contexts;
  std::list<tcp::acceptor> acceptors;
  tcp::endpoint endpoint(asio::ip::make_address(options.listen.host), options.listen.port);
  for (unsigned i = 0; i < options.threads; ++i) {
    auto& context = contexts.emplace_back(1);
    auto& acceptor = acceptors.emplace_back(context);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    if (options.threads > 1) {
      int one = 1;
      ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    endpoint = acceptor.local_endpoint();  // the port 0 picked, for the others
    if (options.command == "echo") start_echo(acceptor, options);
    if (options.command == "stream") start_stream(acceptor, options);
    if (options.command == "file") start_file(acceptor, options);
    if (options.command == "http") start_http(acceptor, options);
  }

  asio::signal_set signals(contexts.front(), SIGINT, SIGTERM);
  // Stopping is done by cancelling each listener's accept on its own
  // thread; the accept handler, seeing it aborted, stops its context (see
  // accept_loop). A context stopped with an accept still pending would be
  // destroyed with it: Asio 1.81's io_uring service then destroys the
  // accept after the socket service it points to (heap-use-after-free
  // under ASan; chriskohlhoff/asio#1235), and cancelling after run() has
  // returned was not enough to avoid it.
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    auto context = contexts.begin();
    for (auto& acceptor : acceptors) {
      asio::post(*context++, [&acceptor] {
        boost::system::error_code ignored;
        acceptor.cancel(ignored);
      });
    }
  });

  std::cout << endpoint.port() << std::endl;  // the harness waits for this line
  std::cerr << "asio peer (" << backend_name() << "): " << options.command << " on " << endpoint << ", " << options.threads
            << " thread(s)\n";
  std::vector<std::thread> threads;
  for (auto it = std::next(contexts.begin()); it != contexts.end(); ++it) {
    threads.emplace_back([&context = *it] { context.run(); });
  }
  contexts.front().run();
  for (auto& t : threads) t.join();

  return exit_ok;
}

}  // namespace

const char* backend_name() {
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
  return "io_uring";
#else
  return "epoll";
#endif
}

}  // namespace ringxfer::perf::peers

int main(int argc, char** argv) {
  using namespace ringxfer::perf;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (auto a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << peers::usage;
      return exit_ok;
    }
  }
  try {
    return peers::run(peers::parse(args));
  } catch (const UsageError& e) {
    std::cerr << argv[0] << ": " << e.what() << "\n(see " << argv[0] << " --help)\n";
    return exit_usage;
  } catch (const boost::system::system_error& e) {
    // Asio's what() carries a source location; the message is what a user needs.
    std::cerr << argv[0] << ": " << e.code().message() << '\n';
    return exit_failure;
  } catch (const std::exception& e) {
    std::cerr << argv[0] << ": " << e.what() << '\n';
    return exit_failure;
  }
}
