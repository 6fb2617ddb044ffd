#pragma once
// Pieces of `ringxfer serve` that do no network I/O: opening a request path
// confined to the root, the shared access-log file, and the deadline lists
// that carry every connection timeout.
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <system_error>

#include "http/path.hpp"
#include "http/status.hpp"

namespace ringxfer::cli::serve {

// ---------------------------------------------------------------- files --

// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: ".." and symlinks
// (absolute or relative) that would leave `root_fd` fail with EXDEV, "/proc"
// style magic links with ELOOP. O_NONBLOCK so that a FIFO below the root
// cannot block the engine thread in open(). Returns the fd or -errno.
int open_beneath(int root_fd, const char* relative) noexcept;

// False if this kernel (or a seccomp filter) has no openat2: serve refuses to
// start rather than serve without the fence.
bool openat2_available(int root_fd) noexcept;

// What says a file is still the one opened: the same inode, size, mtime and
// ctime (to the nanosecond). Any write, truncate, chmod, link count change or
// replacement changes one of them.
struct FileIdentity {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

// The identity of what `name` below `dir_fd` names now, without following a
// final symlink (a symlink gives the link's own identity). False if it is
// gone or not a regular file.
bool identity_at(int dir_fd, const char* name, FileIdentity& out) noexcept;

struct OpenedFile {
  int fd = -1;
  std::uint64_t size = 0;
  std::int64_t mtime_seconds = 0;
  std::string_view name;  // the path opened (for the MIME lookup)
  FileIdentity identity;  // of the open fd
};

enum class Lookup : std::uint8_t { file, redirect, refused };

// Opens what a normalized path names below the root: a regular file, or a
// directory's index.html when the path ended in '/'. `scratch` holds the
// path with its NUL (and "/index.html"); it must outlive `out.name`.
//   file      out is open (the caller closes out.fd)
//   redirect  a directory named without its trailing slash: 301
//   refused   `status`: 404 (missing), 403 (outside the root, not a regular
//             file, a directory without index.html), 503 (out of fds), 500
Lookup open_file(int root_fd, const http::PathResult& path, std::span<char> scratch, OpenedFile& out,
                 http::Status& status) noexcept;

// ----------------------------------------------------------- access log --

// The access-log file, shared by the engine threads. Each thread fills its
// own LogBuffer and writes whole buffers under the lock: one write(2) per
// buffer, never one per request, and lines of two threads never interleave.
class AccessLogFile {
 public:
  // "-" is stdout; otherwise the file is opened O_APPEND (created 0644).
  std::error_code open(std::string_view path);
  ~AccessLogFile();
  bool enabled() const noexcept { return fd_ >= 0; }
  void write_all(std::span<const char> bytes) noexcept;

 private:
  int fd_ = -1;
  bool owned_ = false;
  std::mutex mutex_;
};

class LogBuffer {
 public:
  static constexpr std::size_t capacity_bytes = 64 * 1024;
  explicit LogBuffer(AccessLogFile* file);
  bool enabled() const noexcept { return file_ != nullptr; }
  // The free tail to append one line into, and commit() its length.
  std::span<char> tail() noexcept { return {data_.get() + size_, capacity_bytes - size_}; }
  void commit(std::size_t n) noexcept { size_ += n; }
  bool empty() const noexcept { return size_ == 0; }
  void flush() noexcept;

 private:
  AccessLogFile* file_;
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
};

// ------------------------------------------------------- peer progress --

// Bytes of this TCP socket the peer has acknowledged so far (TCP_INFO's
// tcpi_bytes_acked, monotonic for the socket's life); false if the kernel
// does not say. The send timeout asks it before closing a connection: a
// transfer reports progress per completed send (1 MiB for a mapped body, a
// whole spliced body at once), and a slow reader still taking bytes is not
// a stalled one.
bool peer_bytes_acked(int fd, std::uint64_t& acked) noexcept;

// -------------------------------------------------------- deadline lists --

// An intrusive list of connections ordered by deadline. Every member of one
// list waits for the same duration, so appending at the tail keeps the list
// sorted: expiry pops from the head, moving a connection is O(1), and no
// timer operation is started per request (one engine timeout per thread
// ticks all the lists).
struct DeadlineHook {
  void* owner = nullptr;  // the connection this hook belongs to
  DeadlineHook* prev = nullptr;
  DeadlineHook* next = nullptr;
  struct DeadlineList* list = nullptr;
  std::int64_t deadline_ns = 0;
};

struct DeadlineList {
  DeadlineHook* head = nullptr;
  DeadlineHook* tail = nullptr;
  std::int64_t duration_ns = 0;

  void push(DeadlineHook& h, std::int64_t now_ns) noexcept {
    unlink(h);
    h.deadline_ns = now_ns + duration_ns;
    h.list = this;
    h.prev = tail;
    h.next = nullptr;
    if (tail != nullptr) tail->next = &h;
    else head = &h;
    tail = &h;
  }
  // The head if its deadline has passed, else nullptr.
  DeadlineHook* expired(std::int64_t now_ns) const noexcept {
    return head != nullptr && head->deadline_ns <= now_ns ? head : nullptr;
  }
  static void unlink(DeadlineHook& h) noexcept {
    DeadlineList* l = h.list;
    if (l == nullptr) return;
    if (h.prev != nullptr) h.prev->next = h.next;
    else l->head = h.next;
    if (h.next != nullptr) h.next->prev = h.prev;
    else l->tail = h.prev;
    h.prev = h.next = nullptr;
    h.list = nullptr;
  }
};

}  // namespace ringxfer::cli::serve
