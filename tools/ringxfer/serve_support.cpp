#include "serve_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#include <linux/tcp.h>  // tcp_info with tcpi_bytes_acked (glibc's lacks it)
#include <netinet/in.h>
#include <sys/socket.h>
#endif

// Headers older than the kernel: openat2 is Linux 5.6 (syscall 437 on every
// architecture that has it), its flags are ABI.
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RESOLVE_BENEATH
struct open_how {
  std::uint64_t flags;
  std::uint64_t mode;
  std::uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_BENEATH 0x08
#endif

namespace ringxfer::cli::serve {

int open_beneath(int root_fd, const char* relative) noexcept {
  open_how how{};
  how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd, relative, &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));  // EAGAIN: a rename raced the lookup
  return fd < 0 ? -errno : int(fd);
}

bool openat2_available(int root_fd) noexcept {
  int fd = open_beneath(root_fd, ".");
  if (fd < 0) return fd != -ENOSYS && fd != -EPERM;  // seccomp answers ENOSYS or EPERM
  ::close(fd);
  return true;
}

namespace {

FileIdentity identity_of(const struct stat& st) noexcept {
  FileIdentity id;
  id.dev = std::uint64_t(st.st_dev);
  id.ino = std::uint64_t(st.st_ino);
  id.size = std::uint64_t(st.st_size);
  id.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.ctime_ns = std::int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return id;
}

}  // namespace

bool identity_at(int dir_fd, const char* name, FileIdentity& out) noexcept {
  struct stat st {};
  if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return false;
  out = identity_of(st);
  return true;
}

namespace {

http::Status status_of_open_error(int error) noexcept {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      return http::Status::not_found;
    case EXDEV:   // a symlink or ".." that leaves the root
    case ELOOP:   // a magic link, or a symlink loop
    case EACCES:
    case EPERM:
      return http::Status::forbidden;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return http::Status::service_unavailable;
    default:
      return http::Status::internal_server_error;
  }
}

}  // namespace

Lookup open_file(int root_fd, const http::PathResult& path, std::span<char> scratch, OpenedFile& out,
                 http::Status& status) noexcept {
  constexpr std::string_view index = "index.html";
  if (path.relative.size() + 1 + index.size() + 1 > scratch.size()) {
    status = http::Status::uri_too_long;
    return Lookup::refused;
  }
  // normalize_path may have written into `scratch` itself: move, then NUL.
  std::memmove(scratch.data(), path.relative.data(), path.relative.size());
  std::size_t length = path.relative.size();
  scratch[length] = '\0';

  int fd = open_beneath(root_fd, scratch.data());
  if (fd < 0) {
    status = status_of_open_error(-fd);
    return Lookup::refused;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    status = http::Status::internal_server_error;
    return Lookup::refused;
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    if (!path.directory) return Lookup::redirect;
    // Open the index from the root, not from the directory's fd: an
    // index.html that links to a sibling file below the root is fine.
    if (length == 1 && scratch[0] == '.') length = 0;
    else scratch[length++] = '/';
    std::memcpy(scratch.data() + length, index.data(), index.size());
    length += index.size();
    scratch[length] = '\0';
    fd = open_beneath(root_fd, scratch.data());
    if (fd < 0) {
      // No index and no listing: as nginx does without autoindex.
      status = -fd == ENOENT ? http::Status::forbidden : status_of_open_error(-fd);
      return Lookup::refused;
    }
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      status = http::Status::internal_server_error;
      return Lookup::refused;
    }
  } else if (path.directory) {
    // "/file.txt/": a file is not a directory.
    ::close(fd);
    status = http::Status::not_found;
    return Lookup::refused;
  }
  if (!S_ISREG(st.st_mode)) {  // FIFOs, devices, sockets, a directory called index.html
    ::close(fd);
    status = http::Status::forbidden;
    return Lookup::refused;
  }
  out.fd = fd;
  out.size = std::uint64_t(st.st_size);
  out.mtime_seconds = st.st_mtim.tv_sec;
  out.identity = identity_of(st);
  out.name = std::string_view(scratch.data(), length);
  return Lookup::file;
}

// ----------------------------------------------------------- access log --

std::error_code AccessLogFile::open(std::string_view path) {
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    owned_ = false;
    return {};
  }
  std::string p(path);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return {errno, std::system_category()};
  fd_ = fd;
  owned_ = true;
  return {};
}

AccessLogFile::~AccessLogFile() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void AccessLogFile::write_all(std::span<const char> bytes) noexcept {
  std::lock_guard lock(mutex_);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk or a closed pipe loses log lines, never requests
    bytes = bytes.subspan(std::size_t(n));
  }
}

LogBuffer::LogBuffer(AccessLogFile* file)
    : file_(file != nullptr && file->enabled() ? file : nullptr),
      data_(file_ != nullptr ? std::make_unique<char[]>(capacity_bytes) : nullptr) {}

void LogBuffer::flush() noexcept {
  if (file_ == nullptr || size_ == 0) return;
  file_->write_all({data_.get(), size_});
  size_ = 0;
}

bool peer_bytes_acked(int fd, std::uint64_t& acked) noexcept {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (fd < 0 || ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return false;
  if (length < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) return false;
  acked = info.tcpi_bytes_acked;
  return true;
}

}  // namespace ringxfer::cli::serve
