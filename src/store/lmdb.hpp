// Thin move-only RAII wrappers over the LMDB C API (0.9.24) and the single
// place where LMDB return codes become exceptions.
//
// Only what the store needs: an environment, transactions, named databases
// (plain handles, they need no cleanup) and cursors. Every wrapper owns at
// most one C handle, has a noexcept destructor and moves with std::exchange.
// @see lmdb.h, docs/internals.md, "LMDB"
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace portd::store::lmdb {

/// Throws the exception for the non-zero LMDB return code `rc` (an MDB_*
/// code or an errno value), worded "failed to <verb> <object>: <mdb_strerror>":
///  - MDB_MAP_FULL, MDB_TXN_FULL, ENOSPC, EDQUOT: portd::Error(store_full);
///  - EIO, MDB_PANIC: store::StoreFatal (the process must exit, never retry);
///  - anything else: portd::Error(internal).
/// `verb` is e.g. "read", "write", "commit to"; `object` defaults to "store"
/// and may name the path ("store '/home/u/.local/state/portd'").
[[noreturn]] void throw_error(int rc, std::string_view verb, std::string_view object = "store");

/// Calls throw_error() unless `rc` is MDB_SUCCESS.
inline void check(int rc, std::string_view verb, std::string_view object = "store") {
  if (rc != MDB_SUCCESS) throw_error(rc, verb, object);
}

/// Views bytes as an MDB_val. LMDB never writes through a key or a value
/// passed in, so dropping const is safe.
inline MDB_val to_val(std::string_view bytes) noexcept {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

/// Views an MDB_val as bytes (valid until the transaction ends or writes).
inline std::string_view to_view(const MDB_val& val) noexcept {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

/// An MDB_env. Closing it also frees its named-database handles.
class Env {
 public:
  /// Creates an unopened environment. Throws Error(internal) on failure.
  Env();
  Env(Env&& other) noexcept : env_(std::exchange(other.env_, nullptr)) {}
  Env& operator=(Env&& other) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() { close(); }

  MDB_env* get() const noexcept { return env_; }
  MDB_env* release() noexcept { return std::exchange(env_, nullptr); }

  /// Current map size in bytes (mdb_env_info). Throws on failure.
  std::size_t map_size() const;

 private:
  void close() noexcept;
  MDB_env* env_ = nullptr;
};

/// An MDB_txn. Aborted by the destructor unless committed or released.
class Txn {
 public:
  Txn() noexcept = default;
  Txn(Txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  /// mdb_txn_begin without throwing, for callers that handle particular
  /// codes (MDB_MAP_RESIZED, MDB_READERS_FULL). On success `out` owns the
  /// new txn. Returns the LMDB code.
  static int try_begin(MDB_env* env, unsigned flags, Txn& out) noexcept;

  MDB_txn* get() const noexcept { return txn_; }
  MDB_txn* release() noexcept { return std::exchange(txn_, nullptr); }
  explicit operator bool() const noexcept { return txn_ != nullptr; }

  /// Commits. The handle is gone afterwards whatever the outcome, because
  /// mdb_txn_commit frees the txn even when it fails. Throws per
  /// throw_error() with the verb "commit to".
  void commit();
  /// Aborts (no-op when empty). Also ends a reset read txn.
  void abort() noexcept;
  /// Read-only txns: releases the snapshot but keeps the reader slot so
  /// that renew() can reuse it.
  void reset() noexcept {
    if (txn_ != nullptr) mdb_txn_reset(txn_);
  }
  /// Read-only txns: takes a fresh snapshot after reset(). Returns the code.
  int try_renew() noexcept { return mdb_txn_renew(txn_); }
  /// mdb_txn_commit's result code; the txn is freed either way.
  int try_commit() noexcept { return mdb_txn_commit(release()); }

 private:
  MDB_txn* txn_ = nullptr;
};

/// Opens (with MDB_CREATE in `flags`: creates) the named database `name`.
/// Throws per throw_error().
MDB_dbi open_dbi(MDB_txn* txn, const char* name, unsigned flags);

/// The value stored under `key`, or nullopt. The view points into the map
/// and stays valid until the txn ends or writes. Throws per throw_error().
std::optional<std::string_view> get(MDB_txn* txn, MDB_dbi dbi, std::string_view key);

/// Inserts or overwrites `key`. Throws per throw_error() (MDB_MAP_FULL:
/// Error(store_full); the txn must then be aborted).
void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value);

/// Deletes `key`; returns false when it was absent. Throws per throw_error().
bool del(MDB_txn* txn, MDB_dbi dbi, std::string_view key);

/// Number of entries in `dbi`. Throws per throw_error().
std::size_t entries(MDB_txn* txn, MDB_dbi dbi);

/// An MDB_cursor. Must not outlive its txn.
class Cursor {
 public:
  /// Opens a cursor on `dbi`. Throws per throw_error().
  Cursor(MDB_txn* txn, MDB_dbi dbi);
  Cursor(Cursor&& other) noexcept : cursor_(std::exchange(other.cursor_, nullptr)) {}
  Cursor& operator=(Cursor&& other) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { close(); }

  MDB_cursor* get() const noexcept { return cursor_; }

  /// Positions the cursor with `op` (MDB_FIRST, MDB_NEXT, ...) and fills
  /// `key`/`value`. Returns false at the end (MDB_NOTFOUND); throws per
  /// throw_error() otherwise.
  bool move(MDB_cursor_op op, std::string_view& key, std::string_view& value);

 private:
  void close() noexcept;
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace portd::store::lmdb
