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
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

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
  long commits = 100000;
  double duration = 2.0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--commits") commits = std::strtol(argv[i + 1], nullptr, 10);
    if (a == "--duration") duration = std::strtod(argv[i + 1], nullptr);
    if (a == "--pin") {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(std::atoi(argv[i + 1]), &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
  }
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
  std::vector<std::uint64_t> lat;
  const std::uint64_t t0 = now_ns();
  const std::uint64_t end = t0 + static_cast<std::uint64_t>(duration * 1e9);
  for (long i = 0; i < commits && now_ns() < end; ++i) {
    const std::uint64_t t = now_ns();
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
    lat.push_back(now_ns() - t);
  }
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return static_cast<double>(
               lat[static_cast<std::size_t>(p / 100.0 * static_cast<double>(lat.size() - 1))]) /
           1000.0;
  };
  std::fprintf(stderr, "lmdb_floor: %zu synced commits in %.2f s: p50 %.1f us p99 %.1f us\n",
               lat.size(), secs, pct(50), pct(99));
  std::printf("{\"commits\":%zu,\"rps\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f}\n",
              lat.size(), static_cast<double>(lat.size()) / secs, pct(50), pct(99), pct(99.9));
  mdb_env_close(env);
  return 0;
}
