#include "store/store.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "model/error.hpp"
#include "store/file_check.hpp"
#include "store/lmdb.hpp"
#include "store/schema.hpp"

namespace portd::store {
namespace detail {
namespace {

// Reset read txns kept for reuse: renewing one skips the reader-table mutex
// and a malloc. A handful covers the daemon's concurrency.
constexpr std::size_t kMaxIdleReaders = 4;

// Creates `dir` and any missing parents with mode 0700 (the store holds the
// user's registry; nobody else may list or read it). Existing directories
// are left as they are: checking them is the paths layer's job.
void make_dirs(const std::filesystem::path& dir) {
  if (dir.empty() || ::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
  if (errno == ENOENT && dir.has_parent_path() && dir.parent_path() != dir) {
    make_dirs(dir.parent_path());
    if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
  }
  throw Error(ErrorCode::internal, fmt::format("failed to create directory '{}': {}", dir.string(),
                                               std::strerror(errno)));
}

}  // namespace

struct Dbis {
  MDB_dbi alloc = 0;
  MDB_dbi port = 0;
  MDB_dbi key = 0;
  MDB_dbi sticky = 0;
  MDB_dbi frozen = 0;
  MDB_dbi meta = 0;
};

// State shared by the Store and its Txns. Txn::Impl cannot name the private
// Store::Impl, so both derive from these plain structs.
struct StoreState {
  explicit StoreState(const StoreOptions& options);

  lmdb::Txn begin(unsigned flags);
  lmdb::Txn take_reader();
  void recycle(lmdb::Txn txn) noexcept;
  void size_map(std::size_t wanted);
  void open_databases();

  std::filesystem::path dir;
  std::string where;  // "store '<dir>'" for messages
  std::size_t max_map_size;
  lmdb::Env env;
  Dbis dbi;
  std::atomic<std::size_t> map_size{0};
  std::atomic<int> open_txns{0};
  // The thread holding the write txn: a second begin_write on it would
  // deadlock on LMDB's writer mutex, so it is refused instead.
  std::atomic<std::thread::id> writer{};
  // Highest page number a commit has used so far (touched by the writer only).
  std::size_t last_pgno = 0;
  // What the user must be told about how the store was opened.
  std::vector<std::string> warnings;
  std::mutex idle_mutex;
  std::vector<lmdb::Txn> idle_readers;  // declared after env: destroyed first
};

struct TxnState {
  TxnState(StoreState& store, lmdb::Txn txn, bool writable)
      : store(&store), txn(std::move(txn)), writable(writable) {
    ++store.open_txns;
    if (writable) store.writer = std::this_thread::get_id();
  }
  TxnState(const TxnState&) = delete;
  TxnState& operator=(const TxnState&) = delete;
  ~TxnState() { end(); }

  // Ends the txn (read txns go back to the idle pool) exactly once.
  void end() noexcept {
    if (ended) return;
    ended = true;
    if (writable) {
      txn.abort();
      store->writer = std::thread::id{};
    } else if (txn) {
      store->recycle(std::move(txn));
    }
    --store->open_txns;
  }

  // After a failed write LMDB leaves the txn in an error state where only
  // abort is allowed; abort now so that a later commit cannot half-apply.
  void fail() noexcept {
    failed = true;
    end();
  }

  MDB_txn* get() const {
    if (ended) {
      throw Error(ErrorCode::internal, failed ? "store transaction was aborted after a failed write"
                                              : "store transaction has already ended");
    }
    return txn.get();
  }

  StoreState* store;
  lmdb::Txn txn;
  bool writable;
  bool ended = false;
  bool failed = false;
};

StoreState::StoreState(const StoreOptions& options)
    : dir(options.dir),
      where(fmt::format("store '{}'", options.dir.string())),
      max_map_size(options.max_map_size) {
  make_dirs(dir);
  set_aside_partial_file(dir, warnings);
  lmdb::check(mdb_env_set_maxdbs(env.get(), schema::kDbCount), "configure", where);
  // MDB_NOTLS: read txns may cross threads (uv_queue_work) and one thread
  // may hold several. No NOSYNC/NOMETASYNC/WRITEMAP/MAPASYNC: a commit that
  // returned is on disk, and a full disk is an error code, not SIGBUS.
  lmdb::check(mdb_env_open(env.get(), dir.c_str(), MDB_NOTLS, 0600), "open", where);
  check_file_size(env.get(), dir);
  int dead = 0;
  lmdb::check(mdb_reader_check(env.get(), &dead), "check readers of", where);
  size_map(options.map_size);
  idle_readers.reserve(kMaxIdleReaders);  // recycle() must not allocate
  open_databases();
}

void StoreState::size_map(std::size_t wanted) {
  // After open, the env's map size is the one recorded in the file (LMDB's
  // 1 MiB default for a new file). A new store gets exactly `wanted`; an
  // existing one keeps its size when larger, since an earlier grow() made
  // it so and shrinking would only make the next batch fail.
  MDB_envinfo info{};
  lmdb::check(mdb_env_info(env.get(), &info), "inspect", where);
  const bool is_new = info.me_last_txnid == 0;
  if (is_new || info.me_mapsize < wanted) {
    lmdb::check(mdb_env_set_mapsize(env.get(), wanted), "size", where);
  }
  map_size = env.map_size();
}

void StoreState::open_databases() {
  lmdb::Txn txn = begin(0);
  dbi.meta = lmdb::open_dbi(txn.get(), schema::kMetaDb, MDB_CREATE);
  const auto version = lmdb::get(txn.get(), dbi.meta, schema::kSchemaVersionKey);
  const bool is_new = !version;
  if (version) {
    const auto found = schema::decode_u32(*version, "meta/schema_version");
    if (found > kSchemaVersion) {
      throw Error(ErrorCode::internal,
                  fmt::format("{} has schema version {}, this portd understands {}: it was "
                              "created by a newer portd",
                              where, found, kSchemaVersion));
    }
    if (found != kSchemaVersion) {
      throw Error(ErrorCode::internal,
                  fmt::format("{} has unknown schema version {}, this portd understands {}", where,
                              found, kSchemaVersion));
    }
  } else if (lmdb::entries(txn.get(), dbi.meta) != 0) {
    // Other meta keys without a version: not a store we wrote.
    throw Error(ErrorCode::internal, fmt::format("{} has no schema version", where));
  }
  dbi.alloc = lmdb::open_dbi(txn.get(), schema::kAllocDb, MDB_CREATE);
  dbi.port = lmdb::open_dbi(txn.get(), schema::kPortDb, MDB_CREATE);
  dbi.key = lmdb::open_dbi(txn.get(), schema::kKeyDb, MDB_CREATE);
  dbi.sticky = lmdb::open_dbi(txn.get(), schema::kStickyDb, MDB_CREATE);
  dbi.frozen = lmdb::open_dbi(txn.get(), schema::kFrozenDb, MDB_CREATE);
  if (is_new) {
    lmdb::put(txn.get(), dbi.meta, schema::kSchemaVersionKey, schema::encode_u32(kSchemaVersion));
    lmdb::put(txn.get(), dbi.meta, schema::kNextIdKey, schema::encode_u64(1));
  } else if (!lmdb::get(txn.get(), dbi.meta, schema::kNextIdKey)) {
    throw Error(ErrorCode::internal, fmt::format("{} has no next_id counter", where));
  }
  // Committing also makes the database handles usable by later txns.
  txn.commit();
}

lmdb::Txn StoreState::begin(unsigned flags) {
  if ((flags & MDB_RDONLY) == 0 && writer.load() == std::this_thread::get_id()) {
    throw Error(ErrorCode::internal,
                "failed to begin a store write: this thread already holds the write transaction");
  }
  lmdb::Txn txn;
  int rc = lmdb::Txn::try_begin(env.get(), flags, txn);
  if (rc == MDB_MAP_RESIZED && open_txns.load() == 0) {
    // Another process grew the map; adopting its size is only safe with
    // no txn of ours open (the map is remapped). Retry once.
    lmdb::check(mdb_env_set_mapsize(env.get(), 0), "resize");
    map_size = env.map_size();
    rc = lmdb::Txn::try_begin(env.get(), flags, txn);
  } else if (rc == MDB_READERS_FULL) {
    // Slots held by dead processes are the usual cause; clear and retry once.
    int dead = 0;
    mdb_reader_check(env.get(), &dead);
    rc = lmdb::Txn::try_begin(env.get(), flags, txn);
  }
  lmdb::check(rc, "begin a transaction on");
  return txn;
}

lmdb::Txn StoreState::take_reader() {
  lmdb::Txn txn;
  {
    const std::lock_guard lock(idle_mutex);
    if (!idle_readers.empty()) {
      txn = std::move(idle_readers.back());
      idle_readers.pop_back();
    }
  }
  // A failed renew (e.g. MDB_MAP_RESIZED) is handled by a fresh begin.
  if (txn && txn.try_renew() == MDB_SUCCESS) return txn;
  txn.abort();
  return begin(MDB_RDONLY);
}

void StoreState::recycle(lmdb::Txn txn) noexcept {
  txn.reset();
  const std::lock_guard lock(idle_mutex);
  // Capacity was reserved, so push_back cannot allocate (or throw). Beyond
  // the cap the txn is simply aborted by its destructor.
  if (idle_readers.size() < kMaxIdleReaders) idle_readers.push_back(std::move(txn));
}

}  // namespace detail

struct Txn::Impl : detail::TxnState {
  using TxnState::TxnState;
};

struct Store::Impl : detail::StoreState {
  using StoreState::StoreState;
};

namespace {

using detail::TxnState;

// True when the store's file system has (almost) no space left for us: less
// than LMDB writes in one small commit.
bool file_system_full(const std::filesystem::path& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return false;
  const unsigned long long blocks = ::geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
  return blocks * fs.f_frsize < 64ULL * 1024;
}

TxnState& use(TxnState* impl) {
  if (impl == nullptr) throw Error(ErrorCode::internal, "use of a moved-from store transaction");
  impl->get();  // throws when ended
  return *impl;
}

TxnState& use_writable(TxnState* impl) {
  TxnState& t = use(impl);
  if (!t.writable) throw Error(ErrorCode::internal, "store write in a read-only transaction");
  return t;
}

// Runs one write operation; any failure aborts the whole txn (see fail()).
template <typename Op>
auto write_op(TxnState& t, Op&& op) {
  try {
    return op();
  } catch (...) {
    t.fail();
    throw;
  }
}

std::string alloc_what(std::uint64_t id) {
  return fmt::format("alloc/{}", id);
}

std::optional<Allocation> load(TxnState& t, std::uint64_t id) {
  const auto bytes = lmdb::get(t.get(), t.store->dbi.alloc, schema::encode_u64(id));
  if (!bytes) return std::nullopt;
  const std::string what = alloc_what(id);
  Allocation a = schema::decode_allocation(*bytes, what);
  if (a.id != id)
    throw Error(ErrorCode::internal, fmt::format("corrupt record {}: holds id {}", what, a.id));
  return a;
}

std::uint64_t load_next_id(TxnState& t) {
  const auto bytes = lmdb::get(t.get(), t.store->dbi.meta, schema::kNextIdKey);
  if (!bytes) throw Error(ErrorCode::internal, "corrupt record meta/next_id: missing");
  return schema::decode_u64(*bytes, "meta/next_id");
}

std::optional<std::uint64_t> index_lookup(TxnState& t, MDB_dbi dbi, std::string_view key,
                                          std::string_view what) {
  const auto bytes = lmdb::get(t.get(), dbi, key);
  if (!bytes) return std::nullopt;
  return schema::decode_u64(*bytes, what);
}

// Refuses to point an index entry at `id` while it belongs to another
// allocation: that would leave two live allocations on one port or key,
// the one thing the registry must never do.
void claim_index(TxnState& t, MDB_dbi dbi, std::string_view key, std::uint64_t id,
                 const std::string& what) {
  const auto holder = index_lookup(t, dbi, key, what);
  if (holder && *holder != id) {
    throw Error(ErrorCode::internal, fmt::format("failed to store allocation {}: {} belongs to "
                                                 "allocation {}",
                                                 id, what, *holder));
  }
}

// Deletes an index entry only while it still points at `id`.
void release_index(TxnState& t, MDB_dbi dbi, std::string_view key, std::uint64_t id,
                   const std::string& what) {
  if (index_lookup(t, dbi, key, what) == id) lmdb::del(t.get(), dbi, key);
}

std::string port_what(Port port) {
  return fmt::format("port {}", port);
}
std::string key_what(const AllocationKey& key) {
  return fmt::format("key {}", to_string(key));
}

}  // namespace

Txn::Txn(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Txn::Txn(Txn&&) noexcept = default;
Txn& Txn::operator=(Txn&&) noexcept = default;
Txn::~Txn() = default;
bool Txn::writable() const noexcept {
  return impl_ && impl_->writable;
}

Store::Store(const StoreOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Store::~Store() = default;

Txn Store::begin_read() {
  return Txn(std::make_unique<Txn::Impl>(*impl_, impl_->take_reader(), false));
}

Txn Store::begin_write() {
  return Txn(std::make_unique<Txn::Impl>(*impl_, impl_->begin(0), true));
}

void Store::commit(Txn& txn) {
  TxnState& t = use(txn.impl_.get());
  if (!t.writable) {
    t.end();  // nothing to make durable
    return;
  }
  int rc = t.txn.try_commit();
  t.end();  // commit freed the LMDB txn already; only the bookkeeping is left
  if (rc == EIO && file_system_full(t.store->dir)) {
    // LMDB reports a short write as EIO (mdb_page_flush), and a write that
    // fills the disk comes back short before any write fails with ENOSPC
    // (measured on tmpfs, reliability T04). A failed data-page write only
    // aborts the txn and leaves the env usable (a failed meta write makes
    // LMDB panic and the next begin reports MDB_PANIC, still fatal), so on
    // a full file system this is "disk full", not a dying disk: answer
    // store_full and keep serving reads instead of exiting into a restart
    // loop that could never write either.
    throw DiskFull(fmt::format("failed to commit to {}: {} (no space left on the file system)",
                               t.store->where, mdb_strerror(rc)));
  }
  lmdb::check(rc, "commit to", t.store->where);
  // A reader killed inside its txn (an offline portctl, a backup) keeps its
  // slot in lock.mdb, and the slot pins its snapshot: LMDB cannot reuse any
  // page freed after it, so every commit appends fresh pages. The daemon's
  // 5 s sweep clears such slots, but under load 5 s of commits grew
  // data.mdb from 96 KiB to 816 MiB, which LMDB never gives back
  // (reliability T19). A commit that had to extend the file is the symptom,
  // so clear dead readers right then: a few syscalls, only when the file grew.
  MDB_envinfo info{};
  if (mdb_env_info(t.store->env.get(), &info) == 0 && info.me_last_pgno > t.store->last_pgno) {
    t.store->last_pgno = info.me_last_pgno;
    int dead = 0;
    mdb_reader_check(t.store->env.get(), &dead);
  }
}

std::optional<Allocation> Store::get(Txn& txn, std::uint64_t id) {
  return load(use(txn.impl_.get()), id);
}

std::optional<std::uint64_t> Store::id_by_port(Txn& txn, Port port) {
  TxnState& t = use(txn.impl_.get());
  return index_lookup(t, t.store->dbi.port, schema::encode_u16(port), port_what(port));
}

std::optional<std::uint64_t> Store::id_by_key(Txn& txn, const AllocationKey& key) {
  TxnState& t = use(txn.impl_.get());
  return index_lookup(t, t.store->dbi.key, schema::encode_key(key), key_what(key));
}

void Store::for_each(Txn& txn, const std::function<void(const Allocation&)>& fn) {
  TxnState& t = use(txn.impl_.get());
  lmdb::Cursor cursor(t.get(), t.store->dbi.alloc);
  std::string_view key;
  std::string_view value;
  for (auto op = MDB_FIRST; cursor.move(op, key, value); op = MDB_NEXT) {
    const std::uint64_t id = schema::decode_u64(key, "alloc key");
    const std::string what = alloc_what(id);
    const Allocation a = schema::decode_allocation(value, what);
    if (a.id != id) {
      throw Error(ErrorCode::internal, fmt::format("corrupt record {}: holds id {}", what, a.id));
    }
    fn(a);
  }
}

std::optional<StickyPort> Store::sticky(Txn& txn, const AllocationKey& key) {
  TxnState& t = use(txn.impl_.get());
  const auto bytes = lmdb::get(t.get(), t.store->dbi.sticky, schema::encode_key(key));
  if (!bytes) return std::nullopt;
  return schema::decode_sticky(*bytes, fmt::format("sticky/{}", to_string(key)));
}

std::vector<FrozenPort> Store::frozen(Txn& txn) {
  TxnState& t = use(txn.impl_.get());
  std::vector<FrozenPort> out;
  lmdb::Cursor cursor(t.get(), t.store->dbi.frozen);
  std::string_view key;
  std::string_view value;
  for (auto op = MDB_FIRST; cursor.move(op, key, value); op = MDB_NEXT) {
    const Port port = schema::decode_u16(key, "frozen key");
    out.push_back(schema::decode_frozen(port, value, fmt::format("frozen/{}", port)));
  }
  return out;
}

std::uint64_t Store::peek_next_id(Txn& txn) {
  return load_next_id(use(txn.impl_.get()));
}

std::size_t Store::count(Txn& txn) {
  TxnState& t = use(txn.impl_.get());
  return lmdb::entries(t.get(), t.store->dbi.alloc);
}

std::uint64_t Store::take_id(Txn& txn) {
  TxnState& t = use_writable(txn.impl_.get());
  return write_op(t, [&] {
    const std::uint64_t id = load_next_id(t);
    if (id == std::numeric_limits<std::uint64_t>::max()) {
      throw Error(ErrorCode::internal, "failed to take an allocation id: ids exhausted");
    }
    lmdb::put(t.get(), t.store->dbi.meta, schema::kNextIdKey, schema::encode_u64(id + 1));
    return id;
  });
}

void Store::put(Txn& txn, const Allocation& a) {
  TxnState& t = use_writable(txn.impl_.get());
  write_op(t, [&] {
    const detail::Dbis& dbi = t.store->dbi;
    const std::string port_key = schema::encode_u16(a.port);
    const std::string key_key = schema::encode_key(a.key());
    claim_index(t, dbi.port, port_key, a.id, port_what(a.port));
    claim_index(t, dbi.key, key_key, a.id, key_what(a.key()));
    if (const auto old = load(t, a.id)) {
      if (old->port != a.port) {
        release_index(t, dbi.port, schema::encode_u16(old->port), a.id, port_what(old->port));
      }
      if (old->key() != a.key()) {
        release_index(t, dbi.key, schema::encode_key(old->key()), a.id, key_what(old->key()));
      }
    }
    const std::string id_key = schema::encode_u64(a.id);
    lmdb::put(t.get(), dbi.alloc, id_key, schema::encode_allocation(a));
    lmdb::put(t.get(), dbi.port, port_key, id_key);
    lmdb::put(t.get(), dbi.key, key_key, id_key);
    // An id from outside take_id (import) must never be handed out again.
    if (a.id >= load_next_id(t)) {
      lmdb::put(t.get(), dbi.meta, schema::kNextIdKey, schema::encode_u64(a.id + 1));
    }
  });
}

void Store::erase(Txn& txn, const Allocation& a, std::int64_t released_at) {
  TxnState& t = use_writable(txn.impl_.get());
  write_op(t, [&] {
    const detail::Dbis& dbi = t.store->dbi;
    // The stored version is authoritative for the index entries to drop.
    const auto stored = load(t, a.id);
    if (!stored) {
      throw Error(ErrorCode::not_found,
                  fmt::format("failed to erase allocation {}: not in the store", a.id));
    }
    const AllocationKey key = stored->key();
    const std::string port_key = schema::encode_u16(stored->port);
    const std::string key_key = schema::encode_key(key);
    lmdb::del(t.get(), dbi.alloc, schema::encode_u64(a.id));
    release_index(t, dbi.port, port_key, a.id, port_what(stored->port));
    release_index(t, dbi.key, key_key, a.id, key_what(key));
    lmdb::put(t.get(), dbi.sticky, key_key, schema::encode_sticky({stored->port, released_at}));
    lmdb::put(t.get(), dbi.frozen, port_key,
              schema::encode_frozen({stored->port, released_at, key}));
  });
}

void Store::unfreeze(Txn& txn, Port port) {
  TxnState& t = use_writable(txn.impl_.get());
  write_op(t, [&] { lmdb::del(t.get(), t.store->dbi.frozen, schema::encode_u16(port)); });
}

void Store::grow() {
  Impl& s = *impl_;
  if (s.open_txns.load() != 0) {
    // mdb_env_set_mapsize remaps the file under any open txn.
    throw Error(ErrorCode::internal, "failed to grow store: a transaction is still open");
  }
  const std::size_t current = s.map_size.load();
  if (current >= s.max_map_size) {
    throw Error(ErrorCode::store_full,
                fmt::format("store is full: map size {} bytes reached the limit of {}", current,
                            s.max_map_size));
  }
  const std::size_t next = current > s.max_map_size / 2 ? s.max_map_size : current * 2;
  lmdb::check(mdb_env_set_mapsize(s.env.get(), next), "grow");
  s.map_size = s.env.map_size();
}

std::size_t Store::map_size() const noexcept {
  return impl_->map_size.load();
}

std::size_t Store::used_bytes() {
  auto& s = *impl_;
  lmdb::Txn txn = s.take_reader();
  auto pages = [](const MDB_stat& st) {
    return st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
  };
  MDB_stat st{};
  lmdb::check(mdb_env_stat(s.env.get(), &st), "inspect", s.where);
  const std::size_t page_size = st.ms_psize;
  std::size_t total = pages(st);
  for (MDB_dbi dbi : {s.dbi.alloc, s.dbi.port, s.dbi.key, s.dbi.sticky, s.dbi.frozen, s.dbi.meta}) {
    lmdb::check(mdb_stat(txn.get(), dbi, &st), "inspect", s.where);
    total += pages(st);
  }
  s.recycle(std::move(txn));
  return total * page_size;
}

const std::vector<std::string>& Store::open_warnings() const noexcept {
  return impl_->warnings;
}

int Store::reader_check() {
  int dead = 0;
  lmdb::check(mdb_reader_check(impl_->env.get(), &dead), "check readers of");
  return dead;
}

}  // namespace portd::store
