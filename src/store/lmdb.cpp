#include "store/lmdb.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "model/error.hpp"
#include "store/store.hpp"

namespace portd::store::lmdb {

void throw_error(int rc, std::string_view verb, std::string_view object) {
  const std::string message = fmt::format("failed to {} {}: {}", verb, object, mdb_strerror(rc));
  switch (rc) {
    // Out of room: the caller may grow the map (MAP_FULL) or the user may
    // free disk space; the store itself is intact.
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
      throw Error(ErrorCode::store_full, message);
    case ENOSPC:
    case EDQUOT:
      throw DiskFull(message);
    // A failed write or fsync cannot be retried safely (LMDB marks the env
    // fatal; see docs/testing.md, F6): the daemon exits and is restarted.
    case EIO:
    case MDB_PANIC:
      throw StoreFatal(message);
    default:
      throw Error(ErrorCode::internal, message);
  }
}

Env::Env() {
  check(mdb_env_create(&env_), "create", "store environment");
}

Env& Env::operator=(Env&& other) noexcept {
  if (this != &other) {
    close();
    env_ = std::exchange(other.env_, nullptr);
  }
  return *this;
}

std::size_t Env::map_size() const {
  MDB_envinfo info{};
  check(mdb_env_info(env_, &info), "inspect");
  return info.me_mapsize;
}

void Env::close() noexcept {
  if (env_ != nullptr) mdb_env_close(std::exchange(env_, nullptr));
}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
  }
  return *this;
}

int Txn::try_begin(MDB_env* env, unsigned flags, Txn& out) noexcept {
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env, nullptr, flags, &txn);
  if (rc == MDB_SUCCESS) {
    out.abort();
    out.txn_ = txn;
  }
  return rc;
}

void Txn::commit() {
  // mdb_txn_commit frees the txn on every path; drop ownership first so the
  // destructor never aborts a freed handle.
  check(mdb_txn_commit(release()), "commit to");
}

void Txn::abort() noexcept {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

MDB_dbi open_dbi(MDB_txn* txn, const char* name, unsigned flags) {
  MDB_dbi dbi = 0;
  check(mdb_dbi_open(txn, name, flags, &dbi), "open", fmt::format("store database '{}'", name));
  return dbi;
}

std::optional<std::string_view> get(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  MDB_val v{};
  const int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "read");
  return to_view(v);
}

void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  check(mdb_put(txn, dbi, &k, &v, 0), "write");
}

bool del(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  const int rc = mdb_del(txn, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "write");
  return true;
}

std::size_t entries(MDB_txn* txn, MDB_dbi dbi) {
  MDB_stat stat{};
  check(mdb_stat(txn, dbi, &stat), "read");
  return stat.ms_entries;
}

Cursor::Cursor(MDB_txn* txn, MDB_dbi dbi) {
  check(mdb_cursor_open(txn, dbi, &cursor_), "read");
}

Cursor& Cursor::operator=(Cursor&& other) noexcept {
  if (this != &other) {
    close();
    cursor_ = std::exchange(other.cursor_, nullptr);
  }
  return *this;
}

bool Cursor::move(MDB_cursor_op op, std::string_view& key, std::string_view& value) {
  MDB_val k{};
  MDB_val v{};
  const int rc = mdb_cursor_get(cursor_, &k, &v, op);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "read");
  key = to_view(k);
  value = to_view(v);
  return true;
}

void Cursor::close() noexcept {
  if (cursor_ != nullptr) mdb_cursor_close(std::exchange(cursor_, nullptr));
}

}  // namespace portd::store::lmdb
