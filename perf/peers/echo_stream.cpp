// The echo and stream peers.
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <memory>
#include <vector>

#include "peer.hpp"

namespace ringxfer::perf::peers {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// Reads what is there and writes exactly that back, from the same buffer:
// one read or one write in flight per connection, no copy.
class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  EchoSession(tcp::socket socket, std::size_t buffer_bytes)
      : socket_(std::move(socket)), buffer_(new char[buffer_bytes]), buffer_bytes_(buffer_bytes) {}

  void read() {
    socket_.async_read_some(asio::buffer(buffer_.get(), buffer_bytes_),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buffer_.get(), n), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (!ec) self->read();
    });
  }

  tcp::socket socket_;
  std::unique_ptr<char[]> buffer_;
  std::size_t buffer_bytes_;
};

// Source: sends `bytes` (or until the client goes) from one shared,
// read-only chunk, then half-closes. Sink: reads and drops until EOF.
class StreamSession : public std::enable_shared_from_this<StreamSession> {
 public:
  StreamSession(tcp::socket socket, const PeerOptions& options, const std::vector<char>& chunk)
      : socket_(std::move(socket)), options_(options), chunk_(chunk), left_(options.bytes) {
    if (!options.source) sink_buffer_.reset(new char[options.chunk_bytes]);
  }

  void start() { options_.source ? send() : sink(); }

 private:
  void send() {
    std::size_t n = chunk_.size();
    if (options_.bytes > 0) {
      if (left_ == 0) return finish_and_drain(socket_, shared_from_this());
      n = static_cast<std::size_t>(std::min<std::uint64_t>(n, left_));
    }
    asio::async_write(socket_, asio::buffer(chunk_.data(), n), [self = shared_from_this()](const error_code& ec, std::size_t sent) {
      if (ec) return;
      if (self->options_.bytes > 0) self->left_ -= sent;
      self->send();
    });
  }

  void sink() {
    socket_.async_read_some(asio::buffer(sink_buffer_.get(), options_.chunk_bytes),
                            [self = shared_from_this()](const error_code& ec, std::size_t) {
                              if (!ec) self->sink();
                            });
  }

  tcp::socket socket_;
  const PeerOptions& options_;
  const std::vector<char>& chunk_;
  std::uint64_t left_;
  std::unique_ptr<char[]> sink_buffer_;
};

}  // namespace

void start_echo(tcp::acceptor& acceptor, const PeerOptions& options) {
  accept_loop(acceptor, [&options](tcp::socket socket) {
    std::make_shared<EchoSession>(std::move(socket), options.buffer_bytes)->read();
  });
}

void start_stream(tcp::acceptor& acceptor, const PeerOptions& options) {
  // One chunk for all connections and threads: it is only ever read.
  static const std::vector<char> chunk = [&] {
    std::vector<char> bytes(options.chunk_bytes);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
    return bytes;
  }();
  accept_loop(acceptor, [&options](tcp::socket socket) {
    std::make_shared<StreamSession>(std::move(socket), options, chunk)->start();
  });
}

}  // namespace ringxfer::perf::peers
