#pragma once
// The Boost.Asio peers: the echo, stream and file servers a C++ developer
// would write with Asio instead of ringxfer. The same source is built twice,
// once on Asio's epoll reactor and once on its io_uring service
// (BOOST_ASIO_HAS_IO_URING + BOOST_ASIO_DISABLE_EPOLL), so the comparison
// is between backends, not between programs.
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "cli.hpp"

namespace ringxfer::perf::peers {

using boost::asio::ip::tcp;

struct PeerOptions {
  std::string command;  // echo, stream, file, http
  Endpoint listen;
  unsigned threads = 1;
  std::size_t buffer_bytes = 16 * 1024;  // echo: read buffer per connection
  // stream
  bool source = true;          // send to the client (else sink what it sends)
  std::uint64_t bytes = 0;     // source: bytes per connection, 0 = until the client closes
  std::size_t chunk_bytes = 64 * 1024;  // stream and file: bytes per write/read call
  // file and http
  std::string file;            // file: what every connection gets
  std::string root;            // http: the directory GET /path is served from
  bool use_sendfile = false;   // file, http: sendfile(2) on write readiness instead of pread + async_write
};

// Called once per listening socket (one per thread); starts its accept loop.
// Everything a connection needs lives in its session object, kept alive by
// the handlers in flight (shared_ptr), as idiomatic Asio code does.
void start_echo(tcp::acceptor& acceptor, const PeerOptions& options);
void start_stream(tcp::acceptor& acceptor, const PeerOptions& options);
void start_file(tcp::acceptor& acceptor, const PeerOptions& options);
void start_http(tcp::acceptor& acceptor, const PeerOptions& options);

// The backend this binary was built for: "epoll" or "io_uring".
const char* backend_name();

// After the last byte: half-close, then read and drop until the client
// closes too. Closing at once would turn the close into a reset whenever the
// client had sent anything not yet read, and a reset can discard data the
// client has not read yet. `self` keeps the session (and the socket) alive.
template <class Self>
void finish_and_drain(tcp::socket& socket, Self self) {
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  // Dropped bytes only: one buffer per thread serves every draining socket.
  thread_local char sink[4096];
  socket.async_read_some(boost::asio::buffer(sink), [&socket, self](const boost::system::error_code& ec, std::size_t) {
    if (!ec) finish_and_drain(socket, self);
  });
}

// Accepts connections until the acceptor is cancelled (then stops its
// io_context), handing each socket, with TCP_NODELAY set, to on_socket.
template <class OnSocket>
void accept_loop(tcp::acceptor& acceptor, OnSocket on_socket) {
  acceptor.async_accept([&acceptor, on_socket](const boost::system::error_code& ec, tcp::socket socket) mutable {
    if (ec == boost::asio::error::operation_aborted) {
      // The listener was cancelled: the server is stopping (main.cpp). The
      // accept is complete now, so the context can stop safely.
      static_cast<boost::asio::io_context&>(acceptor.get_executor().context()).stop();
      return;
    }
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      on_socket(std::move(socket));
    }
    // Other errors (EMFILE, ECONNABORTED) drop one connection, not the server.
    accept_loop(acceptor, std::move(on_socket));
  });
}

}  // namespace ringxfer::perf::peers
