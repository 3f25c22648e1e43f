// A tiny, independent LMDB reader for the reliability tests. It runs as its
// own process: a crash state may make LMDB fault, and an environment must
// never be opened twice in one process (docs/internals.md, "LMDB").
//
//   lmdb_reader dump <dir>   Opens <dir> read-only without a lock file
//                            (MDB_NOLOCK: it is a private copy), walks every
//                            sub-database of portd's schema and prints
//                              K <app/instance/service> <id>   key index
//                              P <port> <id>                   port index
//                              A <id>                          allocation
//                            then "END". Exit 0; on any LMDB error prints
//                            "ERR <code> <message>" and exits 2.
//   lmdb_reader hold <dir>   Opens <dir> normally (with the lock file, as an
//                            offline reader such as a backup would), begins
//                            a read txn, prints "READY" and holds it until
//                            stdin reaches EOF (then exits 0) or it is
//                            killed (T19's victim).
#include <lmdb.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void fail(int rc) {
  std::printf("ERR %d %s\n", rc, mdb_strerror(rc));
  std::fflush(stdout);
  std::_Exit(2);
}

void check(int rc) {
  if (rc != 0) fail(rc);
}

std::uint64_t be(const MDB_val& v) {
  std::uint64_t x = 0;
  const auto* p = static_cast<const unsigned char*>(v.mv_data);
  for (std::size_t i = 0; i < v.mv_size; ++i) x = (x << 8) | p[i];
  return x;
}

// Walks one sub-database; `row` prints one entry. A missing one is printed
// as "N <name>": a store whose first commit never reached the disk has
// none yet (portd creates them when it opens it).
template <class Row>
void walk(MDB_txn* txn, const char* name, Row row) {
  MDB_dbi dbi;
  int rc = mdb_dbi_open(txn, name, 0, &dbi);
  if (rc == MDB_NOTFOUND) {
    std::printf("N %s\n", name);
    return;
  }
  check(rc);
  MDB_cursor* cur;
  check(mdb_cursor_open(txn, dbi, &cur));
  MDB_val k, v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    row(k, v);
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) fail(rc);
  mdb_cursor_close(cur);
}

MDB_env* open_env(const char* dir, unsigned flags) {
  MDB_env* env;
  check(mdb_env_create(&env));
  check(mdb_env_set_maxdbs(env, 16));
  check(mdb_env_open(env, dir, flags, 0600));
  return env;
}

int dump(const char* dir) {
  MDB_env* env = open_env(dir, MDB_RDONLY | MDB_NOLOCK);
  MDB_txn* txn;
  check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn));
  walk(txn, "key", [](const MDB_val& k, const MDB_val& v) {
    std::string s(static_cast<const char*>(k.mv_data), k.mv_size);
    for (char& c : s) {
      if (c == '\0') c = '/';
    }
    std::printf("K %s %llu\n", s.c_str(), static_cast<unsigned long long>(be(v)));
  });
  walk(txn, "port", [](const MDB_val& k, const MDB_val& v) {
    std::printf("P %llu %llu\n", static_cast<unsigned long long>(be(k)),
                static_cast<unsigned long long>(be(v)));
  });
  walk(txn, "alloc", [](const MDB_val& k, const MDB_val&) {
    std::printf("A %llu\n", static_cast<unsigned long long>(be(k)));
  });
  // The rest are walked for their pages only.
  for (const char* name : {"sticky", "frozen", "meta"}) walk(txn, name, [](auto&, auto&) {});
  mdb_txn_abort(txn);
  mdb_env_close(env);
  std::printf("END\n");
  return 0;
}

int hold(const char* dir) {
  MDB_env* env = open_env(dir, MDB_RDONLY);
  MDB_txn* txn;
  check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn));
  std::printf("READY\n");
  std::fflush(stdout);
  // Until stdin reaches EOF: then end the txn and exit cleanly (a reader
  // that finished). SIGKILL before that leaves a stale slot (one that died).
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "dump") == 0) return dump(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "hold") == 0) return hold(argv[2]);
  std::fprintf(stderr, "usage: lmdb_reader dump|hold <dir>\n");
  return 64;
}
