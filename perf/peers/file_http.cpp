// The file peers: `file` sends one file to every connection; `http` answers
// GET /path with a file under a root directory, keep-alive.
//
// Bodies go out either by pread into a per-connection buffer + async_write
// in large chunks (default; what Asio offers on both backends), or with
// --sendfile by sendfile(2) whenever the socket is writable (async_wait),
// as a careful Asio developer would write it on Linux.
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "peer.hpp"

namespace ringxfer::perf::peers {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// Moves [offset, offset + length) of `fd` to the socket, then calls done(ok).
// The caller keeps the fd open and the object alive until then.
class BodySender {
 public:
  BodySender(tcp::socket& socket, const PeerOptions& options) : socket_(socket), options_(options) {
    if (!options.use_sendfile) buffer_.reset(new char[options.chunk_bytes]);
  }

  template <class Self, class Done>
  void send(Self self, int fd, std::uint64_t offset, std::uint64_t length, Done done) {
    fd_ = fd;
    offset_ = offset;
    end_ = offset + length;
    options_.use_sendfile ? step_sendfile(std::move(self), std::move(done)) : step_read(std::move(self), std::move(done));
  }

  // The first chunk of the body, read ahead so that the caller can send it
  // in one gather with the headers; returns the bytes read (< 0 on error).
  ssize_t read_head(int fd, std::uint64_t length) {
    if (options_.use_sendfile) return 0;
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, options_.chunk_bytes));
    return ::pread(fd, buffer_.get(), n, 0);
  }
  const char* buffer() const { return buffer_.get(); }

 private:
  template <class Self, class Done>
  void step_read(Self self, Done done) {
    if (offset_ >= end_) return done(true);
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(end_ - offset_, options_.chunk_bytes));
    ssize_t got = ::pread(fd_, buffer_.get(), n, static_cast<off_t>(offset_));
    if (got <= 0) return done(false);
    asio::async_write(socket_, asio::buffer(buffer_.get(), static_cast<std::size_t>(got)),
                      [this, self, done](const error_code& ec, std::size_t sent) mutable {
                        if (ec) return done(false);
                        offset_ += sent;
                        step_read(std::move(self), std::move(done));
                      });
  }

  template <class Self, class Done>
  void step_sendfile(Self self, Done done) {
    while (offset_ < end_) {
      off_t at = static_cast<off_t>(offset_);
      ssize_t sent = ::sendfile(socket_.native_handle(), fd_, &at, static_cast<std::size_t>(std::min<std::uint64_t>(end_ - offset_, 1u << 30)));
      if (sent > 0) {
        offset_ += static_cast<std::uint64_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && errno == EAGAIN) {
        socket_.async_wait(tcp::socket::wait_write, [this, self, done](const error_code& ec) mutable {
          if (ec) return done(false);
          step_sendfile(std::move(self), std::move(done));
        });
        return;
      }
      return done(false);
    }
    done(true);
  }

  tcp::socket& socket_;
  const PeerOptions& options_;
  std::unique_ptr<char[]> buffer_;
  int fd_ = -1;
  std::uint64_t offset_ = 0;
  std::uint64_t end_ = 0;
};

class FileSession : public std::enable_shared_from_this<FileSession> {
 public:
  FileSession(tcp::socket socket, const PeerOptions& options, int fd, std::uint64_t size)
      : socket_(std::move(socket)), body_(socket_, options), fd_(fd), size_(size) {
    if (options.use_sendfile) socket_.non_blocking(true);
  }

  void start() {
    auto self = shared_from_this();
    body_.send(self, fd_, 0, size_, [self](bool ok) {
      if (ok) finish_and_drain(self->socket_, self);
    });
  }

 private:
  tcp::socket socket_;
  BodySender body_;
  int fd_;
  std::uint64_t size_;
};

// One request at a time per connection (pipelined requests wait in the
// buffer). The request head must fit in the buffer (8 KiB).
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, const PeerOptions& options)
      : socket_(std::move(socket)), options_(options), body_(socket_, options) {
    if (options.use_sendfile) socket_.non_blocking(true);
  }
  ~HttpSession() { close_file(); }

  void start() { next_request(); }

 private:
  void next_request() {
    std::string_view have(request_.data(), used_);
    auto end = have.find("\r\n\r\n");
    if (end != std::string_view::npos) return respond(have.substr(0, end + 4));
    if (used_ == request_.size()) return;  // head too large: drop the connection
    socket_.async_read_some(asio::buffer(request_.data() + used_, request_.size() - used_),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              if (ec) return;
                              self->used_ += n;
                              self->next_request();
                            });
  }

  void respond(std::string_view head) {
    consumed_ = head.size();
    keep_alive_ = head.find("HTTP/1.1\r\n") != std::string_view::npos && !contains_close(head);
    if (!head.starts_with("GET /")) return send_status("400 Bad Request", false);
    std::string_view target = head.substr(4, head.find(' ', 4) - 4);
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target.find("..") != std::string_view::npos) return send_status("403 Forbidden", keep_alive_);
    path_.assign(options_.root).append(target);
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      close_file();
      return send_status("404 Not Found", keep_alive_);
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    header_ = "HTTP/1.1 200 OK\r\nServer: asio-peer\r\nContent-Type: application/octet-stream\r\nContent-Length: ";
    header_ += std::to_string(size);
    header_ += keep_alive_ ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    ssize_t head_bytes = body_.read_head(fd_, size);
    if (head_bytes < 0) {
      close_file();
      return;
    }
    // Headers and the first chunk of the body in one gathered write.
    std::array<asio::const_buffer, 2> first{asio::buffer(header_), asio::buffer(body_.buffer(), static_cast<std::size_t>(head_bytes))};
    asio::async_write(socket_, first, [self = shared_from_this(), size, head_bytes](const error_code& ec, std::size_t) {
      if (ec) return;
      self->body_.send(self, self->fd_, static_cast<std::uint64_t>(head_bytes), size - static_cast<std::uint64_t>(head_bytes),
                       [self](bool ok) {
                         self->close_file();
                         if (ok) self->finish_request();
                       });
    });
  }

  void send_status(const char* status, bool keep_alive) {
    keep_alive_ = keep_alive;
    header_ = "HTTP/1.1 ";
    header_ += status;
    header_ += "\r\nContent-Length: 0\r\n";
    header_ += keep_alive ? "\r\n" : "Connection: close\r\n\r\n";
    asio::async_write(socket_, asio::buffer(header_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (!ec) self->finish_request();
    });
  }

  void finish_request() {
    if (!keep_alive_) return finish_and_drain(socket_, shared_from_this());
    std::memmove(request_.data(), request_.data() + consumed_, used_ - consumed_);
    used_ -= consumed_;
    consumed_ = 0;
    next_request();
  }

  static bool contains_close(std::string_view head) {
    for (std::string_view word : {"Connection: close", "connection: close", "Connection: Close"}) {
      if (head.find(word) != std::string_view::npos) return true;
    }
    return false;
  }

  void close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  tcp::socket socket_;
  const PeerOptions& options_;
  BodySender body_;
  std::array<char, 8192> request_{};
  std::size_t used_ = 0;
  std::size_t consumed_ = 0;
  bool keep_alive_ = true;
  int fd_ = -1;
  std::string path_;
  std::string header_;
};

}  // namespace

void start_file(tcp::acceptor& acceptor, const PeerOptions& options) {
  // Opened once at start-up (main checked it); every connection preads it.
  static const int fd = ::open(options.file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  ::fstat(fd, &st);
  auto size = static_cast<std::uint64_t>(st.st_size);
  accept_loop(acceptor, [&options, size](tcp::socket socket) {
    std::make_shared<FileSession>(std::move(socket), options, fd, size)->start();
  });
}

void start_http(tcp::acceptor& acceptor, const PeerOptions& options) {
  accept_loop(acceptor, [&options](tcp::socket socket) { std::make_shared<HttpSession>(std::move(socket), options)->start(); });
}

}  // namespace ringxfer::perf::peers
