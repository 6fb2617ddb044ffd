#include "file_cache.hpp"

#include <unistd.h>

namespace ringxfer::cli::serve {

OpenFileCache::OpenFileCache(Engine& engine, int root_fd, std::uint32_t capacity, std::int64_t inactive_ns)
    : engine_(engine), root_fd_(root_fd), capacity_(capacity), inactive_ns_(inactive_ns) {
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
  engine_.close(e->file, [](std::error_code) {});
  e->file = {};
  free_.push_back(e);
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
