// lmdb_floor: the cost of one durable LMDB commit shaped like an allocation,
// with the flags portd uses (synced: no MDB_NOSYNC/NOMETASYNC/WRITEMAP).
// Each commit writes what an allocation writes: the ~80-byte record under
// its 8-byte id, the port and key index entries, and the next-id counter,
// in four named databases. A durable allocate cannot be faster than this
// plus one round trip.
//
// usage: lmdb_floor DIR [--commits N] [--duration S] [--pin CPU]
//   DIR must exist and be on the disk under test (portd's state dir's disk).
#include <lmdb.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "floor_loop.hpp"

namespace {

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) {
    std::fprintf(stderr, "lmdb_floor: %s: %s\n", what, mdb_strerror(rc));
    std::exit(1);
  }
}

void put(MDB_txn* txn, MDB_dbi dbi, const std::string& k, const std::string& v) {
  MDB_val key{k.size(), const_cast<char*>(k.data())};
  MDB_val val{v.size(), const_cast<char*>(v.data())};
  check(mdb_put(txn, dbi, &key, &val, 0), "put");
}

std::string be64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<std::size_t>(i)] = static_cast<char>(v);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: lmdb_floor DIR [--commits N] [--duration S] [--pin CPU]\n");
    return 2;
  }
  const char* dir = argv[1];
  const auto opts = floor_loop::parse(argc, argv, "--commits", {100000, 2.0});
  MDB_env* env = nullptr;
  check(mdb_env_create(&env), "env_create");
  check(mdb_env_set_maxdbs(env, 8), "set_maxdbs");
  check(mdb_env_set_mapsize(env, 64u << 20), "set_mapsize");
  check(mdb_env_open(env, dir, MDB_NOTLS, 0600), "env_open");
  MDB_dbi alloc, port, key, meta;
  {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
    check(mdb_dbi_open(txn, "alloc", MDB_CREATE, &alloc), "dbi_open");
    check(mdb_dbi_open(txn, "port", MDB_CREATE, &port), "dbi_open");
    check(mdb_dbi_open(txn, "key", MDB_CREATE, &key), "dbi_open");
    check(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), "dbi_open");
    check(mdb_txn_commit(txn), "commit");
  }
  // A record the size of a typical encoded allocation.
  const std::string record(80, 'r');
  const int status = floor_loop::run("lmdb_floor", "commits", opts, [&](long i) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
    const std::string id = be64(static_cast<std::uint64_t>(i) + 1);
    put(txn, alloc, id, record);
    put(txn, port, std::string{static_cast<char>(i >> 8), static_cast<char>(i)}, id);
    put(txn, key,
        "bench\x1f"
        "floor\x1f"
        "svc" +
            std::to_string(i),
        id);
    put(txn, meta, "next_id", be64(static_cast<std::uint64_t>(i) + 2));
    check(mdb_txn_commit(txn), "commit");
    return true;
  });
  mdb_env_close(env);
  return status;
}
