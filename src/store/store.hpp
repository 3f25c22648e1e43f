// Durable registry storage in LMDB (one environment in the state directory).
//
// Sub-databases (see schema.hpp for key encodings):
//   alloc   id (u64 BE)              -> allocation record (MessagePack)
//   port    port (u16 BE)            -> id
//   key     app\0instance\0service   -> id
//   sticky  app\0instance\0service   -> last port + release time (auto-assign order step 1)
//   frozen  port (u16 BE)            -> release time + key (post-release freeze)
//   meta    "schema_version", "next_id"
//
// All writes of a batch happen in one WriteTxn; nothing is visible to
// readers or survives a crash until commit() returns. Never opened with
// MDB_NOSYNC/MDB_NOMETASYNC/MDB_WRITEMAP: an acknowledged commit is on disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/allocation.hpp"
#include "model/error.hpp"

namespace portd::store {

/// Schema version written into new stores; older/newer ones are refused.
inline constexpr std::uint32_t kSchemaVersion = 1;

struct StoreOptions {
  std::filesystem::path dir;                        ///< state directory; created 0700 if missing
  std::size_t map_size = 64u << 20;                 ///< initial LMDB map size, bytes
  std::size_t max_map_size = std::size_t{4} << 30;  ///< growth cap, bytes
};

/// Where a key's port went after release (auto-assign prefers it again).
struct StickyPort {
  Port port = 0;
  std::int64_t released_at = 0;  ///< UTC seconds
};

/// A released port held back from other keys until the freeze ends.
struct FrozenPort {
  Port port = 0;
  std::int64_t released_at = 0;  ///< UTC seconds
  AllocationKey key;             ///< the key that released it (it may take it back)
};

class Txn;

/// A read-only or read-write transaction. Move-only; aborts in its
/// destructor unless committed. Must end before its Store is destroyed.
/// Read txns may be used from any thread (MDB_NOTLS); a write txn belongs
/// to the thread that began it.
class Txn {
 public:
  Txn(Txn&&) noexcept;
  Txn& operator=(Txn&&) noexcept;
  ~Txn();
  bool writable() const noexcept;

 private:
  friend class Store;
  struct Impl;
  explicit Txn(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The registry's LMDB store. One per process per directory (LMDB caveat:
/// opening an environment twice in one process breaks its locks).
class Store {
 public:
  /// Opens or creates the store in `options.dir`. Throws Error(internal)
  /// naming the path and LMDB's message on failure, and for a schema
  /// version other than kSchemaVersion ("created by a newer portd" /
  /// "unknown schema version N").
  explicit Store(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Starts a snapshot read. Throws per commit() on LMDB failure.
  Txn begin_read();
  /// Starts the (single) write txn, waiting for one held by another thread
  /// or process. Throws Error(internal) if this thread already holds one.
  Txn begin_write();
  /// Commits a write txn. Throws Error(store_full) on MDB_MAP_FULL (after
  /// which the caller may grow() and redo the batch), DiskFull on ENOSPC,
  /// EDQUOT or a short write on a full file system; and StoreFatal on EIO
  /// or MDB_PANIC (the process must exit, see below).
  void commit(Txn& txn);

  // Reads (any txn).
  std::optional<Allocation> get(Txn& txn, std::uint64_t id);
  std::optional<std::uint64_t> id_by_port(Txn& txn, Port port);
  std::optional<std::uint64_t> id_by_key(Txn& txn, const AllocationKey& key);
  /// Calls `fn` for every allocation in id order. `fn` must not write to
  /// the store. Reads throw Error(internal, "corrupt record ...") for a
  /// record that does not decode.
  void for_each(Txn& txn, const std::function<void(const Allocation&)>& fn);
  std::optional<StickyPort> sticky(Txn& txn, const AllocationKey& key);
  std::vector<FrozenPort> frozen(Txn& txn);
  /// Next id that will be handed out (ids are never reused).
  std::uint64_t peek_next_id(Txn& txn);
  std::size_t count(Txn& txn);

  // Writes (write txn). Each throws Error(store_full) on MDB_MAP_FULL.
  // Any exception from a write aborts the whole txn (LMDB allows nothing
  // else after a failed write): later calls on it throw Error(internal) and
  // the batch must be redone in a new txn, e.g. after grow().
  /// Takes the next id and advances the counter.
  std::uint64_t take_id(Txn& txn);
  /// Inserts or overwrites `a` and its port/key index entries. If an older
  /// version of the same id exists, its stale index entries are removed.
  /// An id at or above the counter (import) advances the counter past it.
  /// Throws Error(internal) when a.port or a.key() is indexed to another
  /// id: two live allocations never share a port or a key.
  void put(Txn& txn, const Allocation& a);
  /// Removes allocation a.id and its index entries (as stored, even if `a`
  /// is stale), remembers its port as the key's sticky port and freezes the
  /// port (both stamped `released_at`, UTC seconds). Throws
  /// Error(not_found) when a.id is not in the store.
  void erase(Txn& txn, const Allocation& a, std::int64_t released_at);
  /// Drops a freeze entry (when a port is taken again or its freeze ended).
  void unfreeze(Txn& txn, Port port);

  /// Doubles the map size (capped at max_map_size). Requires that no txn is
  /// open (Error(internal) otherwise). Throws Error(store_full) when
  /// already at the cap. The new size is recorded in the file at the next
  /// commit, and a reopen keeps it even with a smaller options.map_size.
  void grow();
  std::size_t map_size() const noexcept;

  /// Bytes of the pages the registry's data occupies now (branch, leaf and
  /// overflow pages of every sub-database and of the main database; free
  /// pages not counted). Opens a read txn. Throws per commit() on failure.
  std::size_t used_bytes();

  /// What opening the store found that the user must hear about (an empty
  /// or partial data.mdb replaced by an empty registry): one sentence each.
  const std::vector<std::string>& open_warnings() const noexcept;

  /// Clears reader slots left by dead processes; returns how many.
  int reader_check();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Thrown when LMDB reports an unrecoverable I/O failure (EIO, MDB_PANIC):
/// a failed fsync cannot be retried safely, so the daemon exits with
/// kExitStoreFatal and its supervisor restarts it (docs/testing.md F6).
class StoreFatal : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The file system under the store is full (ENOSPC, EDQUOT, or a short
/// write that LMDB reports as EIO while no space is left). Its code is
/// store_full like MDB_MAP_FULL's, but growing the map cannot help.
class DiskFull : public Error {
 public:
  explicit DiskFull(const std::string& message) : Error(ErrorCode::store_full, message) {}
};

/// Exit status of portd after a StoreFatal (EX_TEMPFAIL).
inline constexpr int kExitStoreFatal = 75;

}  // namespace portd::store
