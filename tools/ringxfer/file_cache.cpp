#include "file_cache.hpp"

#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "ringxfer/transfer.hpp"

namespace ringxfer::cli::serve {

namespace {

// A body is evicted for another only after this long unused.
constexpr std::int64_t body_evict_idle_ns = 1'000'000'000;

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

OpenFileCache::OpenFileCache(Engine& engine, int root_fd, std::uint32_t capacity, std::int64_t inactive_ns,
                             FileBytesOptions bytes)
    : engine_(engine), root_fd_(root_fd), capacity_(capacity), inactive_ns_(inactive_ns), bytes_(bytes) {
  map_.reserve(capacity);
}

// The Engine goes first (the runner destroys it before its worker) and closes
// every fd it holds: nothing to do here.
OpenFileCache::~OpenFileCache() = default;

CachedFile* OpenFileCache::find(std::string_view key, std::int64_t now_ns) noexcept {
  if (capacity_ == 0) return nullptr;
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++counters_.misses;
    return nullptr;
  }
  CachedFile* e = it->second;
  FileIdentity now;
  if (!identity_at(root_fd_, e->name.c_str(), now) || !(now == e->identity)) {
    ++counters_.stale;
    ++counters_.misses;
    drop(e);
    return nullptr;
  }
  ++counters_.hits;
  if (e->body) {
    unlink_body(e);
    push_body_front(e);
  } else {
    maybe_keep_bytes(e, engine_.native_handle(e->file), now_ns);
  }
  if (e->body) ++counters_.memory_hits;
  ++e->refs;
  e->last_used_ns = now_ns;
  unlink_lru(e);
  push_front(e);
  return e;
}

CachedFile* OpenFileCache::insert(std::string_view key, const OpenedFile& file, std::string_view content_type,
                                  std::int64_t now_ns) {
  if (capacity_ == 0) return nullptr;
  // What the path names now must be the file just opened: not a symlink to
  // it (the next fstatat would see the link), not already replaced.
  std::string name(file.name);
  FileIdentity at_path;
  if (!identity_at(root_fd_, name.c_str(), at_path) || !(at_path == file.identity)) return nullptr;
  if (auto it = map_.find(key); it != map_.end()) drop(it->second);  // a stale one, replaced
  if (map_.size() >= capacity_) {
    // The least recently used entry goes (closing at once, or when its
    // responses end); entries are never more than capacity.
    drop(lru_tail_);
  }
  File handle;
  if (engine_.adopt(file.fd, handle)) return nullptr;
  CachedFile* e = nullptr;
  if (free_.empty()) {
    storage_.push_back(std::make_unique<CachedFile>());
    e = storage_.back().get();
  } else {
    e = free_.back();
    free_.pop_back();
  }
  e->file = handle;
  e->size = file.size;
  e->mtime_seconds = file.mtime_seconds;
  e->etag = http::ETag::from(file.size, file.mtime_seconds);
  e->content_type = content_type;
  e->name = std::move(name);
  e->identity = file.identity;
  e->key.assign(key);
  e->refs = 1;
  e->listed = true;
  e->last_used_ns = now_ns;
  map_.emplace(e->key, e);
  push_front(e);
  maybe_keep_bytes(e, engine_.native_handle(handle), now_ns);
  return e;
}

void OpenFileCache::release(CachedFile* e) noexcept {
  if (--e->refs == 0 && !e->listed) recycle(e);
}

void OpenFileCache::expire(std::int64_t now_ns) noexcept {
  while (lru_tail_ != nullptr && now_ns - lru_tail_->last_used_ns >= inactive_ns_) drop(lru_tail_);
}

void OpenFileCache::clear() noexcept {
  while (lru_tail_ != nullptr) drop(lru_tail_);
}

void OpenFileCache::drop(CachedFile* e) noexcept {
  if (!e->listed) return;
  map_.erase(e->key);
  unlink_lru(e);
  e->listed = false;
  if (e->refs == 0) recycle(e);
}

void OpenFileCache::recycle(CachedFile* e) noexcept {
  free_body(e);
  engine_.close(e->file, [](std::error_code) {});
  e->file = {};
  free_.push_back(e);
}

void OpenFileCache::maybe_keep_bytes(CachedFile* e, int fd, std::int64_t now_ns) noexcept {
  if (e->size == 0 || e->size > bytes_.body_max_bytes || fd < 0 || no_nowait_reads_) return;
  // Only bodies a transfer would copy anyway (read, then send): memory saves
  // the read. Above the copy band, splice/sendfile from the page cache beats
  // a copy from memory (64 KiB, io_uring, wrk -c32: 17k req/s from memory
  // against 26k spliced; epoll 11.5 against 10.3 us CPU per request).
  if (choose_strategy(Source::Kind::file, Sink::Kind::socket, std::size_t(e->size), Strategy::automatic,
                      engine_.features()) != Strategy::copy) {
    return;
  }
  if (e->identity.ctime_ns > realtime_ns() - bytes_.settle_ns) return;  // changed too recently to trust
  if (!make_room(e->size, now_ns)) return;
  std::unique_ptr<std::byte[]> body(new (std::nothrow) std::byte[e->size]);
  if (!body) return;
  std::size_t got = 0;
  while (got < e->size) {
    iovec iov{body.get() + got, std::size_t(e->size - got)};
    ssize_t n = ::preadv2(fd, &iov, 1, off_t(got), RWF_NOWAIT);  // EAGAIN: not in the page cache
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EOPNOTSUPP) no_nowait_reads_ = true;  // a file system under the root: never again
    if (n <= 0) return;
    got += std::size_t(n);
  }
  // Unchanged during the read (a write changes ctime before its bytes), and
  // the path still names it.
  FileIdentity after;
  if (!identity_at(root_fd_, e->name.c_str(), after) || !(after == e->identity)) return;
  e->body = std::move(body);
  counters_.memory_bytes += e->size;
  push_body_front(e);
}

bool OpenFileCache::make_room(std::uint64_t bytes, std::int64_t now_ns) noexcept {
  if (bytes > bytes_.body_total_bytes) return false;
  // Least recently used first, and only bodies idle for a while: when the
  // files in use do not fit, the ones that did not get in are read as
  // without bytes in memory, rather than evicting and reading bytes per
  // request. Bodies in use by a response stay.
  CachedFile* p = body_tail_;
  while (p != nullptr && counters_.memory_bytes + bytes > bytes_.body_total_bytes &&
         now_ns - p->last_used_ns >= body_evict_idle_ns) {
    CachedFile* more_recent = p->body_prev;
    if (p->refs == 0) free_body(p);
    p = more_recent;
  }
  return counters_.memory_bytes + bytes <= bytes_.body_total_bytes;
}

void OpenFileCache::free_body(CachedFile* e) noexcept {
  if (!e->body) return;
  counters_.memory_bytes -= e->size;
  unlink_body(e);
  e->body.reset();
}

void OpenFileCache::unlink_body(CachedFile* e) noexcept {
  if (e->body_prev != nullptr) e->body_prev->body_next = e->body_next;
  else if (body_head_ == e) body_head_ = e->body_next;
  if (e->body_next != nullptr) e->body_next->body_prev = e->body_prev;
  else if (body_tail_ == e) body_tail_ = e->body_prev;
  e->body_prev = e->body_next = nullptr;
}

void OpenFileCache::push_body_front(CachedFile* e) noexcept {
  e->body_prev = nullptr;
  e->body_next = body_head_;
  if (body_head_ != nullptr) body_head_->body_prev = e;
  body_head_ = e;
  if (body_tail_ == nullptr) body_tail_ = e;
}

void OpenFileCache::unlink_lru(CachedFile* e) noexcept {
  if (e->prev != nullptr) e->prev->next = e->next;
  else if (lru_head_ == e) lru_head_ = e->next;
  if (e->next != nullptr) e->next->prev = e->prev;
  else if (lru_tail_ == e) lru_tail_ = e->prev;
  e->prev = e->next = nullptr;
}

void OpenFileCache::push_front(CachedFile* e) noexcept {
  e->prev = nullptr;
  e->next = lru_head_;
  if (lru_head_ != nullptr) lru_head_->prev = e;
  lru_head_ = e;
  if (lru_tail_ == nullptr) lru_tail_ = e;
}

}  // namespace ringxfer::cli::serve
