// Unit tests of the LMDB store (src/store): records, indices, id counter,
// schema versioning, map growth, corruption handling and file modes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "model/error.hpp"
#include "store/lmdb.hpp"
#include "store/schema.hpp"
#include "store/store.hpp"

namespace portd::store {
namespace {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/portd-store-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Allocation make_alloc(std::uint64_t id, std::string app, std::string instance, std::string service,
                      Port port) {
  Allocation a;
  a.id = id;
  a.app = std::move(app);
  a.instance = std::move(instance);
  a.service = std::move(service);
  a.port = port;
  a.pool = "default";
  a.description = "test allocation";
  a.worktree = "/home/dev/src/" + a.app;
  a.pid = 4242;
  a.allocated_by = "dev@host";
  a.created_at = 1700000000;
  a.expires_at = 0;
  return a;
}

// Writes one raw key/value into a named database, bypassing Store. The
// Store on `dir` must be closed (LMDB: never two envs on one file in a
// process).
void raw_put(const fs::path& dir, const char* db, const std::string& key,
             const std::string& value) {
  lmdb::Env env;
  lmdb::check(mdb_env_set_maxdbs(env.get(), schema::kDbCount), "configure");
  lmdb::check(mdb_env_open(env.get(), dir.c_str(), MDB_NOTLS, 0600), "open");
  lmdb::Txn txn;
  lmdb::check(lmdb::Txn::try_begin(env.get(), 0, txn), "begin");
  const MDB_dbi dbi = lmdb::open_dbi(txn.get(), db, MDB_CREATE);
  lmdb::put(txn.get(), dbi, key, value);
  txn.commit();
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

template <typename Fn>
ErrorCode error_code_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected a portd::Error";
  return ErrorCode::invalid_request;
}

class StoreTest : public ::testing::Test {
 protected:
  StoreOptions options() const {
    StoreOptions o;
    o.dir = tmp_.path() / "state";
    o.map_size = 1u << 20;
    o.max_map_size = 8u << 20;
    return o;
  }
  std::unique_ptr<Store> open() { return std::make_unique<Store>(options()); }

  // Puts `allocs` in one committed write txn.
  static void put_all(Store& store, const std::vector<Allocation>& allocs) {
    Txn txn = store.begin_write();
    for (const auto& a : allocs) store.put(txn, a);
    store.commit(txn);
  }

  TempDir tmp_;
};

TEST_F(StoreTest, PutGetForEachCount) {
  auto store = open();
  const auto a = make_alloc(2, "shop", "main", "postgres", 3000);
  auto b = make_alloc(256, "shop", "main", "redis", 3001);
  b.expires_at = 1800000000;
  b.created_at = -5;  // before the epoch still round-trips
  const auto c = make_alloc(1, "blog", "dev", "vite", 5173);
  put_all(*store, {a, b, c});

  Txn txn = store->begin_read();
  EXPECT_EQ(store->get(txn, 2), a);
  EXPECT_EQ(store->get(txn, 256), b);
  EXPECT_EQ(store->get(txn, 1), c);
  EXPECT_EQ(store->get(txn, 3), std::nullopt);
  EXPECT_EQ(store->count(txn), 3u);
  std::vector<Allocation> seen;
  store->for_each(txn, [&](const Allocation& x) { seen.push_back(x); });
  // Numeric id order (256 after 2), which needs big-endian keys.
  EXPECT_EQ(seen, (std::vector<Allocation>{c, a, b}));
}

TEST_F(StoreTest, IndexLookupsByPortAndKey) {
  auto store = open();
  put_all(*store, {make_alloc(7, "shop", "main", "postgres", 3000),
                   make_alloc(8, "shop", "feature-x", "postgres", 3100)});
  Txn txn = store->begin_read();
  EXPECT_EQ(store->id_by_port(txn, 3000), 7u);
  EXPECT_EQ(store->id_by_port(txn, 3100), 8u);
  EXPECT_EQ(store->id_by_port(txn, 3001), std::nullopt);
  EXPECT_EQ(store->id_by_key(txn, {"shop", "main", "postgres"}), 7u);
  EXPECT_EQ(store->id_by_key(txn, {"shop", "feature-x", "postgres"}), 8u);
  EXPECT_EQ(store->id_by_key(txn, {"shop", "main", "redis"}), std::nullopt);
  // The separator keeps "a"+"bc" apart from "ab"+"c".
  EXPECT_EQ(store->id_by_key(txn, {"shopmain", "", "postgres"}), std::nullopt);
}

TEST_F(StoreTest, PutOverExistingIdMovesIndices) {
  auto store = open();
  put_all(*store, {make_alloc(1, "shop", "main", "postgres", 3000)});
  auto moved = make_alloc(1, "shop", "main", "pg", 3005);
  put_all(*store, {moved});

  Txn txn = store->begin_read();
  EXPECT_EQ(store->id_by_port(txn, 3000), std::nullopt);
  EXPECT_EQ(store->id_by_key(txn, {"shop", "main", "postgres"}), std::nullopt);
  EXPECT_EQ(store->id_by_port(txn, 3005), 1u);
  EXPECT_EQ(store->id_by_key(txn, {"shop", "main", "pg"}), 1u);
  EXPECT_EQ(store->get(txn, 1), moved);
  EXPECT_EQ(store->count(txn), 1u);
}

TEST_F(StoreTest, PutRefusesAnotherAllocationsPortOrKeyAndAbortsTheBatch) {
  auto store = open();
  put_all(*store, {make_alloc(1, "shop", "main", "postgres", 3000)});
  {
    Txn txn = store->begin_write();
    store->put(txn, make_alloc(2, "blog", "main", "web", 4000));
    EXPECT_EQ(error_code_of([&] { store->put(txn, make_alloc(3, "x", "y", "z", 3000)); }),
              ErrorCode::internal);
    // The txn was aborted: nothing more can happen in it.
    EXPECT_EQ(error_code_of([&] { store->count(txn); }), ErrorCode::internal);
    EXPECT_EQ(error_code_of([&] { store->commit(txn); }), ErrorCode::internal);
  }
  {
    Txn txn = store->begin_write();
    EXPECT_EQ(
        error_code_of([&] { store->put(txn, make_alloc(3, "shop", "main", "postgres", 3333)); }),
        ErrorCode::internal);
  }
  Txn txn = store->begin_read();
  EXPECT_EQ(store->count(txn), 1u);
  EXPECT_EQ(store->id_by_port(txn, 3000), 1u);
  EXPECT_EQ(store->id_by_port(txn, 4000), std::nullopt);
  EXPECT_EQ(store->id_by_key(txn, {"shop", "main", "postgres"}), 1u);
}

TEST_F(StoreTest, EraseWritesStickyAndFrozenAndRemovesIndices) {
  auto store = open();
  const auto a = make_alloc(1, "shop", "main", "postgres", 3000);
  const auto b = make_alloc(2, "shop", "main", "redis", 3001);
  put_all(*store, {a, b});
  {
    Txn txn = store->begin_write();
    auto stale = a;
    stale.port = 3999;  // erase goes by the stored record, not the caller's copy
    store->erase(txn, stale, 1700000100);
    store->commit(txn);
  }
  Txn txn = store->begin_read();
  EXPECT_EQ(store->get(txn, 1), std::nullopt);
  EXPECT_EQ(store->id_by_port(txn, 3000), std::nullopt);
  EXPECT_EQ(store->id_by_key(txn, a.key()), std::nullopt);
  EXPECT_EQ(store->count(txn), 1u);
  EXPECT_EQ(store->get(txn, 2), b);

  const auto sticky = store->sticky(txn, a.key());
  ASSERT_TRUE(sticky.has_value());
  EXPECT_EQ(sticky->port, 3000);
  EXPECT_EQ(sticky->released_at, 1700000100);
  EXPECT_EQ(store->sticky(txn, b.key()), std::nullopt);

  const auto frozen = store->frozen(txn);
  ASSERT_EQ(frozen.size(), 1u);
  EXPECT_EQ(frozen[0].port, 3000);
  EXPECT_EQ(frozen[0].released_at, 1700000100);
  EXPECT_EQ(frozen[0].key, a.key());
}

TEST_F(StoreTest, EraseOfUnknownIdIsNotFound) {
  auto store = open();
  Txn txn = store->begin_write();
  EXPECT_EQ(error_code_of([&] { store->erase(txn, make_alloc(9, "a", "b", "c", 3000), 1); }),
            ErrorCode::not_found);
}

TEST_F(StoreTest, FrozenPortsComeInPortOrderAndUnfreezeDropsOne) {
  auto store = open();
  const auto a = make_alloc(1, "app", "i", "a", 9000);
  const auto b = make_alloc(2, "app", "i", "b", 3000);
  const auto c = make_alloc(3, "app", "i", "c", 300);
  put_all(*store, {a, b, c});
  {
    Txn txn = store->begin_write();
    store->erase(txn, a, 10);
    store->erase(txn, b, 20);
    store->erase(txn, c, 30);
    store->commit(txn);
  }
  {
    Txn txn = store->begin_read();
    const auto frozen = store->frozen(txn);
    ASSERT_EQ(frozen.size(), 3u);
    EXPECT_EQ(frozen[0].port, 300);
    EXPECT_EQ(frozen[1].port, 3000);
    EXPECT_EQ(frozen[2].port, 9000);
    EXPECT_EQ(frozen[2].released_at, 10);
  }
  {
    Txn txn = store->begin_write();
    store->unfreeze(txn, 3000);
    store->unfreeze(txn, 4444);  // absent: no error
    store->commit(txn);
  }
  Txn txn = store->begin_read();
  const auto frozen = store->frozen(txn);
  ASSERT_EQ(frozen.size(), 2u);
  EXPECT_EQ(frozen[0].port, 300);
  EXPECT_EQ(frozen[1].port, 9000);
  // Sticky ports outlive the freeze.
  EXPECT_EQ(store->sticky(txn, b.key())->port, 3000);
}

TEST_F(StoreTest, TakeIdIncrementsAndIdsAreNeverReusedAcrossReopen) {
  auto store = open();
  {
    Txn txn = store->begin_write();
    EXPECT_EQ(store->peek_next_id(txn), 1u);
    EXPECT_EQ(store->take_id(txn), 1u);
    EXPECT_EQ(store->take_id(txn), 2u);
    const auto id = store->take_id(txn);
    EXPECT_EQ(id, 3u);
    store->put(txn, make_alloc(id, "a", "b", "c", 3000));
    EXPECT_EQ(store->peek_next_id(txn), 4u);
    store->commit(txn);
  }
  {
    Txn txn = store->begin_write();
    store->erase(txn, make_alloc(3, "a", "b", "c", 3000), 1);
    store->commit(txn);
  }
  {
    Txn txn = store->begin_write();
    EXPECT_EQ(store->take_id(txn), 4u);
    // not committed: the counter does not move
  }
  store.reset();
  store = open();
  Txn txn = store->begin_write();
  EXPECT_EQ(store->peek_next_id(txn), 4u);
  EXPECT_EQ(store->take_id(txn), 4u);
  EXPECT_EQ(store->take_id(txn), 5u);
}

TEST_F(StoreTest, PutOfAnIdAboveTheCounterAdvancesIt) {
  auto store = open();
  put_all(*store, {make_alloc(100, "a", "b", "c", 3000)});
  Txn txn = store->begin_write();
  EXPECT_EQ(store->take_id(txn), 101u);
}

TEST_F(StoreTest, ReopenKeepsEveryAllocation) {
  std::vector<Allocation> all;
  {
    auto store = open();
    Txn txn = store->begin_write();
    for (int i = 0; i < 300; ++i) {
      auto a = make_alloc(store->take_id(txn), "app" + std::to_string(i % 7), "inst",
                          "svc" + std::to_string(i), static_cast<Port>(3000 + i));
      a.description = std::string(static_cast<std::size_t>(i), 'd');
      a.pid = static_cast<std::uint32_t>(i) * 1000003u;
      a.expires_at = i % 2 == 0 ? 0 : 1900000000 + i;
      store->put(txn, a);
      all.push_back(a);
    }
    store->commit(txn);
  }
  auto store = open();
  Txn txn = store->begin_read();
  std::vector<Allocation> seen;
  store->for_each(txn, [&](const Allocation& a) { seen.push_back(a); });
  EXPECT_EQ(seen, all);
  EXPECT_EQ(store->id_by_port(txn, 3299), 300u);
}

TEST_F(StoreTest, RefusesStoreFromANewerPortd) {
  open().reset();  // create, then close before touching the file raw
  raw_put(options().dir, schema::kMetaDb, std::string(schema::kSchemaVersionKey),
          schema::encode_u32(7));
  try {
    open();
    FAIL() << "opened a store with schema version 7";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
    const std::string expected = "store '" + options().dir.string() +
                                 "' has schema version 7, this portd understands 1: it was "
                                 "created by a newer portd";
    EXPECT_EQ(e.what(), expected);
  }
}

TEST_F(StoreTest, RefusesAnUnknownOlderSchemaVersion) {
  open().reset();
  raw_put(options().dir, schema::kMetaDb, std::string(schema::kSchemaVersionKey),
          schema::encode_u32(0));
  try {
    open();
    FAIL() << "opened a store with schema version 0";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
    EXPECT_NE(std::string(e.what()).find("unknown schema version 0"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(options().dir.string()), std::string::npos);
  }
}

TEST_F(StoreTest, UncommittedTxnLeavesNothing) {
  auto store = open();
  {
    Txn txn = store->begin_write();
    const auto id = store->take_id(txn);
    store->put(txn, make_alloc(id, "a", "b", "c", 3000));
    EXPECT_EQ(store->count(txn), 1u);  // visible inside the txn
  }
  {
    Txn txn = store->begin_write();
    store->put(txn, make_alloc(5, "a", "b", "c", 3000));
    Txn other = store->begin_read();
    txn = std::move(other);  // move-assigning over a write txn aborts it
    EXPECT_FALSE(txn.writable());
  }
  Txn txn = store->begin_read();
  EXPECT_EQ(store->count(txn), 0u);
  EXPECT_EQ(store->peek_next_id(txn), 1u);
  EXPECT_EQ(store->id_by_port(txn, 3000), std::nullopt);
}

TEST_F(StoreTest, ReadTxnSeesASnapshotAndSeveralCanBeOpenInOneThread) {
  auto store = open();
  Txn before = store->begin_read();
  Txn also = store->begin_read();  // needs MDB_NOTLS
  put_all(*store, {make_alloc(1, "a", "b", "c", 3000)});
  EXPECT_EQ(store->count(before), 0u);
  EXPECT_EQ(store->count(also), 0u);
  Txn after = store->begin_read();
  EXPECT_EQ(store->count(after), 1u);
  // Reused (reset/renewed) read txns must see fresh snapshots too.
  for (int i = 0; i < 20; ++i) {
    put_all(*store, {make_alloc(static_cast<std::uint64_t>(i + 2), "a", "b",
                                "s" + std::to_string(i), static_cast<Port>(4000 + i))});
    Txn txn = store->begin_read();
    EXPECT_EQ(store->count(txn), static_cast<std::size_t>(i + 2));
  }
}

TEST_F(StoreTest, MisuseIsAnInternalErrorNotADeadlockOrCrash) {
  auto store = open();
  {
    Txn read = store->begin_read();
    EXPECT_FALSE(read.writable());
    EXPECT_EQ(error_code_of([&] { store->put(read, make_alloc(1, "a", "b", "c", 1)); }),
              ErrorCode::internal);
    EXPECT_EQ(error_code_of([&] { store->take_id(read); }), ErrorCode::internal);
    // A read txn is still usable after a refused write.
    EXPECT_EQ(store->count(read), 0u);
    EXPECT_EQ(error_code_of([&] { store->grow(); }), ErrorCode::internal);
  }
  Txn write = store->begin_write();
  EXPECT_TRUE(write.writable());
  EXPECT_EQ(error_code_of([&] { store->begin_write(); }), ErrorCode::internal);
  store->commit(write);
  EXPECT_EQ(error_code_of([&] { store->count(write); }), ErrorCode::internal);
  Txn moved = std::move(write);
  EXPECT_EQ(error_code_of([&] { store->count(write); }), ErrorCode::internal);
  Txn again = store->begin_write();  // the writer slot was released by commit
  store->commit(again);
}

TEST_F(StoreTest, TinyMapFillsThenGrowsUntilTheCap) {
  StoreOptions o = options();
  o.map_size = 64u << 10;
  o.max_map_size = 1u << 20;
  auto store = std::make_unique<Store>(o);
  EXPECT_EQ(store->map_size(), o.map_size);

  // About 160 KiB of records: more than the initial map can hold.
  auto run_batch = [&](int first, int n) {
    Txn txn = store->begin_write();
    for (int i = first; i < first + n; ++i) {
      auto a = make_alloc(store->take_id(txn), "app", "inst", "svc" + std::to_string(i),
                          static_cast<Port>(1024 + i));
      a.description = std::string(1000, 'x');
      store->put(txn, a);
    }
    store->commit(txn);
  };
  int committed = 0;
  int full = 0;
  while (true) {
    try {
      run_batch(committed, 150);
      committed += 150;
      break;
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::store_full) << e.what();
      ++full;
      Txn txn = store->begin_read();
      EXPECT_EQ(store->count(txn), 0u);  // nothing half-written
      EXPECT_EQ(store->peek_next_id(txn), 1u);
    }
    store->grow();
  }
  EXPECT_GE(full, 1);
  EXPECT_GT(store->map_size(), o.map_size);
  EXPECT_LE(store->map_size(), o.max_map_size);

  // Keep filling: growth stops at the cap with a clear store_full.
  bool capped = false;
  for (int round = 0; round < 100 && !capped; ++round) {
    try {
      run_batch(committed, 150);
      committed += 150;
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::store_full) << e.what();
      try {
        store->grow();
      } catch (const Error& cap) {
        EXPECT_EQ(cap.code(), ErrorCode::store_full);
        EXPECT_STREQ(cap.what(),
                     "store is full: map size 1048576 bytes reached the limit of 1048576");
        capped = true;
      }
    }
  }
  ASSERT_TRUE(capped);
  EXPECT_EQ(store->map_size(), o.max_map_size);
  {
    Txn txn = store->begin_read();
    EXPECT_EQ(store->count(txn), static_cast<std::size_t>(committed));
    EXPECT_EQ(store->peek_next_id(txn), static_cast<std::uint64_t>(committed) + 1);
  }
  // The grown size was recorded in the file: a reopen keeps it.
  store.reset();
  store = std::make_unique<Store>(o);
  EXPECT_EQ(store->map_size(), o.max_map_size);
  Txn txn = store->begin_read();
  EXPECT_EQ(store->count(txn), static_cast<std::size_t>(committed));
}

TEST_F(StoreTest, MapFullAtCommitLeavesAnInertTxnAndAUsableStore) {
  StoreOptions o = options();
  o.map_size = 64u << 10;
  o.max_map_size = 1u << 20;
  Store store(o);
  // One small record per txn. With LMDB 0.9.24 and 4 KiB pages the puts
  // fit among the dirty pages and MAP_FULL only comes when the commit
  // needs room for the freelist (docs/internals.md, "LMDB").
  int committed = 0;
  bool failed_at_commit = false;
  for (int i = 0; i < 1000 && !failed_at_commit; ++i) {
    Txn txn = store.begin_write();
    const auto a = make_alloc(store.take_id(txn), "app", "inst", "s" + std::to_string(i),
                              static_cast<Port>(2000 + i));
    store.put(txn, a);
    try {
      store.commit(txn);
      ++committed;
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::store_full) << e.what();
      EXPECT_NE(std::string(e.what()).find("MDB_MAP_FULL"), std::string::npos) << e.what();
      failed_at_commit = true;
      // LMDB freed the txn: using it again is refused, and its destructor
      // (end of this scope) must not abort it a second time.
      EXPECT_EQ(error_code_of([&] { store.count(txn); }), ErrorCode::internal);
      EXPECT_EQ(error_code_of([&] { store.commit(txn); }), ErrorCode::internal);
    }
  }
  ASSERT_TRUE(failed_at_commit);
  {
    Txn txn = store.begin_read();
    EXPECT_EQ(store.count(txn), static_cast<std::size_t>(committed));
    EXPECT_EQ(store.peek_next_id(txn), static_cast<std::uint64_t>(committed) + 1);
    EXPECT_EQ(store.id_by_port(txn, static_cast<Port>(2000 + committed)), std::nullopt);
  }
  store.grow();
  Txn txn = store.begin_write();
  store.put(txn, make_alloc(store.take_id(txn), "app", "inst", "retry", 2999));
  store.commit(txn);
  Txn read = store.begin_read();
  EXPECT_EQ(store.count(read), static_cast<std::size_t>(committed) + 1);
  EXPECT_EQ(store.id_by_port(read, 2999), static_cast<std::uint64_t>(committed) + 1);
}

TEST_F(StoreTest, CorruptRecordIsAnInternalErrorNotACrash) {
  open().reset();
  raw_put(options().dir, schema::kAllocDb, schema::encode_u64(5), "\x93\x01garbage");
  auto store = open();
  Txn txn = store->begin_read();
  try {
    store->get(txn, 5);
    FAIL() << "decoded a corrupt record";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
    EXPECT_EQ(std::string(e.what()).rfind("corrupt record alloc/5", 0), 0u) << e.what();
  }
  EXPECT_EQ(error_code_of([&] { store->for_each(txn, [](const Allocation&) {}); }),
            ErrorCode::internal);
}

TEST_F(StoreTest, RecordUnderTheWrongIdIsCorrupt) {
  open().reset();
  raw_put(options().dir, schema::kAllocDb, schema::encode_u64(6),
          schema::encode_allocation(make_alloc(9, "a", "b", "c", 3000)));
  auto store = open();
  Txn txn = store->begin_read();
  EXPECT_EQ(error_code_of([&] { store->get(txn, 6); }), ErrorCode::internal);
}

TEST_F(StoreTest, CreatesPrivateDirectoriesAndFiles) {
  const mode_t old_umask = ::umask(022);
  StoreOptions o = options();
  o.dir = tmp_.path() / "a" / "b" / "portd";
  { Store store(o); }
  ::umask(old_umask);
  EXPECT_EQ(mode_of(tmp_.path() / "a"), 0700u);
  EXPECT_EQ(mode_of(tmp_.path() / "a" / "b"), 0700u);
  EXPECT_EQ(mode_of(o.dir), 0700u);
  EXPECT_EQ(mode_of(o.dir / "data.mdb"), 0600u);
  EXPECT_EQ(mode_of(o.dir / "lock.mdb"), 0600u);
}

TEST_F(StoreTest, OpenFailureNamesThePath) {
  const fs::path file = tmp_.path() / "not-a-dir";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  StoreOptions o = options();
  o.dir = file;
  try {
    Store store(o);
    FAIL() << "opened a store on a plain file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
    EXPECT_NE(std::string(e.what()).find("'" + file.string() + "'"), std::string::npos) << e.what();
  }
}

// --- lmdb.hpp: the one error translation ---

TEST(LmdbErrorTest, TranslatesReturnCodes) {
  for (const int rc : {MDB_MAP_FULL, MDB_TXN_FULL, ENOSPC, EDQUOT}) {
    try {
      lmdb::throw_error(rc, "write");
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::store_full) << rc;
      EXPECT_EQ(std::string(e.what()), std::string("failed to write store: ") + mdb_strerror(rc));
    }
  }
  for (const int rc : {EIO, MDB_PANIC}) {
    EXPECT_THROW(lmdb::throw_error(rc, "commit to"), StoreFatal) << rc;
  }
  for (const int rc : {MDB_CORRUPTED, EINVAL, MDB_BAD_TXN}) {
    EXPECT_EQ(error_code_of([&] { lmdb::throw_error(rc, "read"); }), ErrorCode::internal) << rc;
  }
  EXPECT_NO_THROW(lmdb::check(MDB_SUCCESS, "read"));
}

// --- schema.hpp: encodings ---

TEST(SchemaTest, IntegersAreBigEndian) {
  EXPECT_EQ(schema::encode_u64(0x0102030405060708ull),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08"));
  EXPECT_EQ(schema::encode_u16(3000), std::string("\x0b\xb8"));
  EXPECT_EQ(schema::encode_u32(1), std::string("\0\0\0\x01", 4));
  EXPECT_EQ(schema::decode_u64(schema::encode_u64(~0ull), "x"), ~0ull);
  EXPECT_EQ(schema::decode_u16(schema::encode_u16(65535), "x"), 65535);
  EXPECT_EQ(error_code_of([] { schema::decode_u64("1234567", "x"); }), ErrorCode::internal);
  EXPECT_EQ(error_code_of([] { schema::decode_u16("", "x"); }), ErrorCode::internal);
}

TEST(SchemaTest, KeyEncodingRoundTripsAndRejectsWrongShape) {
  const AllocationKey key{"shop", "main", "postgres"};
  EXPECT_EQ(schema::encode_key(key), std::string("shop\0main\0postgres", 18));
  EXPECT_EQ(schema::decode_key(schema::encode_key(key), "k"), key);
  EXPECT_EQ(error_code_of([] { schema::decode_key("shop\0main", "k"); }), ErrorCode::internal);
  EXPECT_EQ(error_code_of([] { schema::decode_key(std::string("a\0b\0c\0d", 7), "k"); }),
            ErrorCode::internal);
}

TEST(SchemaTest, RecordsRoundTrip) {
  auto a = make_alloc(~0ull, "app", "inst", "svc", 65535);
  a.pid = ~0u;
  a.created_at = std::numeric_limits<std::int64_t>::min();
  a.expires_at = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(schema::decode_allocation(schema::encode_allocation(a), "x"), a);

  const auto s = schema::decode_sticky(schema::encode_sticky({3000, -1}), "x");
  EXPECT_EQ(s.port, 3000);
  EXPECT_EQ(s.released_at, -1);

  const auto f =
      schema::decode_frozen(4000, schema::encode_frozen({4000, 77, {"a", "b", "c"}}), "x");
  EXPECT_EQ(f.port, 4000);
  EXPECT_EQ(f.released_at, 77);
  EXPECT_EQ(f.key, (AllocationKey{"a", "b", "c"}));
}

TEST(SchemaTest, MalformedRecordsAreRefused) {
  const std::string good = schema::encode_allocation(make_alloc(1, "a", "b", "c", 3000));
  const std::vector<std::string> bad = {
      "",
      std::string("\xdd\xff\xff\xff\xff", 5),  // array of 4 billion: must not allocate
      std::string("\xdb\xff\xff\xff\xff", 5),  // str of 4 GiB
      "\x80",                                  // a map, not an array
      "\x90",                                  // empty array
      "\x91\x01",                              // format 1 but one field
      "\x93\x02\x01\x02",                      // unknown format 2
      "\xc1",                                  // never-used byte
      good + std::string(1, '\0'),             // trailing bytes
  };
  for (const auto& bytes : bad) {
    EXPECT_EQ(error_code_of([&] { schema::decode_allocation(bytes, "t"); }), ErrorCode::internal);
  }
  // Port 70000 and a string where an integer belongs.
  auto patched = good;
  const auto port_at = patched.find("\xcd\x0b\xb8");
  ASSERT_NE(port_at, std::string::npos);
  EXPECT_EQ(error_code_of([&] {
              schema::decode_allocation(patched.replace(port_at, 3, "\xce\x00\x01\x11\x70", 5),
                                        "t");
            }),
            ErrorCode::internal);
  patched = good;
  EXPECT_EQ(error_code_of(
                [&] { schema::decode_allocation(patched.replace(port_at, 3, "\xa1x", 2), "t"); }),
            ErrorCode::internal);
}

TEST(SchemaTest, EveryTruncationAndByteFlipFailsCleanly) {
  const std::string good = schema::encode_allocation(make_alloc(12, "app", "i", "s", 4321));
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(error_code_of([&] { schema::decode_allocation(good.substr(0, n), "t"); }),
              ErrorCode::internal)
        << "prefix " << n;
  }
  // A flipped byte may still decode (e.g. inside a string); it must never
  // throw anything but portd::Error(internal).
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (const unsigned char x : {0x01, 0x80, 0xff}) {
      std::string bytes = good;
      bytes[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]) ^ x);
      try {
        schema::decode_allocation(bytes, "t");
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::internal);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " ^ " << int{x} << ": " << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace portd::store
