#pragma once
// The open-file cache of `ringxfer serve` (one per engine thread): a request
// path -> an open, engine-registered file with its size, mtime, ETag and
// Content-Type, so that a hit costs one fstatat(2) instead of openat2 +
// fstat + registering the fd in the fixed-file table + close + unregistering.
//
// Freshness: every hit is checked against the path at that moment (fstatat,
// AT_SYMLINK_NOFOLLOW): the same inode (dev, ino), size, mtime and ctime to
// the nanosecond, else the entry is dropped and the file opened anew. So a
// file modified, replaced (rename over it) or deleted is seen by the very
// next request, as without the cache; nginx's open_file_cache instead
// trusts an entry for open_file_cache_valid seconds. ctime cannot be set
// from user space, and kernels >= 6.13 give a changed inode a fine-grained
// ctime once it has been looked at, so "same ctime" means "not changed since"
// (on file systems with coarse timestamps, an in-place rewrite of the same
// size within one clock tick is the blind spot; the ETag, from seconds, is
// blinder still).
//
// A path whose last component is a symlink is not cached (its fstatat names
// the link, not the file). An intermediate directory swapped for a symlink
// that leaves the root, leading to a hard link of the very same inode, would
// be served from the cache where openat2 would refuse it: the bytes are those
// of a file that was below the root, and the next change of that file drops
// the entry.
//
// An entry in use by a response is never closed under it: dropped entries
// close when their last response ends. Entries unused for `inactive_ns` are
// closed by expire() (so a deleted file's blocks are not held for long).
// Nothing is allocated on a hit (but the one that keeps a file's bytes); a
// miss allocates the entry's key and name.
//
// Bytes in memory: a file of at most `body_max_bytes` that a transfer would
// copy (read, then send: below the splice band, choose_strategy()) also keeps
// its bytes, so that a hit is one sendmsg of head and body, with no read. The bytes
// are as fresh as the fd: every hit is still checked by the fstatat above,
// and any change of the file changes its ctime. Two gaps are closed on
// purpose. (1) A file changed less than `settle_ns` ago (ctime) is not kept:
// on a file system whose timestamps are coarser than that, a rewrite within
// the same tick would keep the ctime, and the stale bytes would be served
// until the next change; once settled, any later write gets a later ctime.
// (2) The bytes are read with RWF_NOWAIT (never a disk wait on the engine
// thread; a file not in the page cache is served by a read op and kept on a
// later hit) and checked again after the read: a change during the read
// discards them. The bytes of all entries of one cache, those still in use
// by a response included, never exceed `body_total_bytes`; to make room, the
// least recently used bodies go first, but only those unused for a second
// (a working set larger than the bound is partly served by reads, never by
// a new allocation and read per request).
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/conditional.hpp"
#include "ringxfer/engine.hpp"
#include "serve_support.hpp"

namespace ringxfer::cli::serve {

struct CachedFile {
  File file;
  std::uint64_t size = 0;
  std::int64_t mtime_seconds = 0;
  http::ETag etag;
  std::string_view content_type;  // the MIME table's, which outlives the cache
  std::string name;               // below the root, as opened (for fstatat)
  FileIdentity identity;
  // The file's bytes when kept in memory (body_bytes == size), else null.
  std::unique_ptr<std::byte[]> body;
  std::span<const std::byte> bytes() const noexcept { return {body.get(), body ? std::size_t(size) : 0}; }
  // ---- cache bookkeeping
  std::string key;
  std::uint32_t refs = 0;         // responses using it
  bool listed = false;            // in the map (false: dropped, closes at refs == 0)
  std::int64_t last_used_ns = 0;
  CachedFile* prev = nullptr;     // LRU, most recent first
  CachedFile* next = nullptr;
  CachedFile* body_prev = nullptr;  // LRU of the entries with bytes, most recent first
  CachedFile* body_next = nullptr;
};

// What the cache keeps in memory besides open files.
struct FileBytesOptions {
  std::uint64_t body_max_bytes = 64 * 1024;           // 0: no bytes kept
  std::uint64_t body_total_bytes = 16 * 1024 * 1024;  // per cache (per engine thread)
  std::int64_t settle_ns = 1'000'000'000;             // see the file comment
};

class OpenFileCache {
 public:
  struct Counters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t stale = 0;  // dropped because the file changed
    std::uint64_t memory_hits = 0;  // hits whose bytes were in memory
    std::uint64_t memory_bytes = 0;  // a gauge: bytes held, in use or not
  };

  // capacity 0: the cache is off (find() always misses, insert() declines).
  OpenFileCache(Engine& engine, int root_fd, std::uint32_t capacity, std::int64_t inactive_ns,
                FileBytesOptions bytes = {});
  ~OpenFileCache();
  OpenFileCache(const OpenFileCache&) = delete;
  OpenFileCache& operator=(const OpenFileCache&) = delete;

  bool enabled() const noexcept { return capacity_ != 0; }
  // The entry for `key` if the file is unchanged (one fstatat), with a
  // reference taken; nullptr otherwise. Its bytes() are the file's while the
  // reference is held (or empty: read the file).
  CachedFile* find(std::string_view key, std::int64_t now_ns) noexcept;
  // Caches a file open_file() just opened: adopts its fd into the engine and
  // returns the entry with a reference taken. nullptr when it declines (the
  // cache is off, the name is a symlink or changed already, adopt failed):
  // then `file.fd` is still the caller's.
  CachedFile* insert(std::string_view key, const OpenedFile& file, std::string_view content_type,
                     std::int64_t now_ns);
  // A response that used the entry ended.
  void release(CachedFile* entry) noexcept;
  // Closes entries unused for inactive_ns.
  void expire(std::int64_t now_ns) noexcept;
  // Drops every entry (those in use close when their response ends).
  void clear() noexcept;
  const Counters& counters() const noexcept { return counters_; }
  std::size_t size() const noexcept { return map_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  void drop(CachedFile* entry) noexcept;
  void unlink_lru(CachedFile* entry) noexcept;
  void push_front(CachedFile* entry) noexcept;
  void recycle(CachedFile* entry) noexcept;
  // Reads the bytes of an entry just checked (identity == the path's now)
  // if it is small, settled and in the page cache, and room can be made.
  void maybe_keep_bytes(CachedFile* entry, int fd, std::int64_t now_ns) noexcept;
  bool make_room(std::uint64_t bytes, std::int64_t now_ns) noexcept;
  void free_body(CachedFile* entry) noexcept;
  void unlink_body(CachedFile* entry) noexcept;
  void push_body_front(CachedFile* entry) noexcept;

  Engine& engine_;
  int root_fd_;
  std::uint32_t capacity_;
  std::int64_t inactive_ns_;
  FileBytesOptions bytes_;
  bool no_nowait_reads_ = false;  // RWF_NOWAIT refused: keep no bytes (a disk wait would stall the thread)
  std::unordered_map<std::string, CachedFile*, Hash, std::equal_to<>> map_;
  std::vector<std::unique_ptr<CachedFile>> storage_;
  std::vector<CachedFile*> free_;
  CachedFile* lru_head_ = nullptr;
  CachedFile* lru_tail_ = nullptr;
  CachedFile* body_head_ = nullptr;
  CachedFile* body_tail_ = nullptr;
  Counters counters_;
};

}  // namespace ringxfer::cli::serve
