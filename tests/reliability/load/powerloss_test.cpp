// T03 power-loss replay (docs/testing.md; the method of ALICE, OSDI'14,
// and of SQLite's crash VFS).
//
// portd runs under write_log_shim.so, which logs every write to data.mdb
// and every sync of it, in order. One client makes acknowledged
// allocations (in pipelined bursts, so that group commit batches several),
// noting for each reply how far the log had got: the number of completed
// barriers (fdatasync, or a write through LMDB's O_DSYNC meta fd) before the
// ack. From the log the test then builds crash states: for barrier k, all
// writes made durable by barriers 1..k, plus some of the writes issued after
// barrier k and before barrier k+1 (none, all of them in shuffled order, or
// a random subset with torn 512-byte sectors; the in-flight O_DSYNC meta
// write included). Each state is a fresh data.mdb that is opened by
// lmdb_reader (own process, MDB_RDONLY|MDB_NOLOCK) and checked with
// `mdb_stat -e -a` and `mdb_dump -a`.
//
// Pass: every state opens and walks without error; every allocation acked
// at or before barrier k is present in every state built for barrier k,
// under its id and port; the key, port and allocation indexes agree (0
// duplicates). Negative control: replaying the same log as if the store
// had been opened with MDB_NOSYNC (no barrier makes anything durable, so a
// state is any subset of the issued writes) must show at least one lost
// ack, proving that the oracle can see a loss.
//
// Not covered: states before the first barrier (the store being created;
// LMDB writes both meta pages there unsynced), reported for information;
// file-size metadata (a state's size is what its applied writes reach);
// a file system that reorders within one write beyond 512-byte sectors.
// Quick tier: 300 acks, 3 states per barrier. PORTD_LONG=1: 1,000 acks,
// 6 states per barrier.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "../../integration/support/daemon_process.hpp"
#include "../../integration/support/raw_client.hpp"
#include "activated_daemon.hpp"
#include "figure.hpp"
#include "history.hpp"

namespace portd::reliability {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Must match write_log_shim.c.
enum Kind : std::uint32_t { kWrite = 1, kDsyncWrite = 2, kSync = 3, kMsync = 4, kOpen = 5 };
struct RecordHeader {
  std::uint32_t kind;
  std::uint32_t fd;
  std::uint64_t offset;
  std::uint64_t length;
};

struct Event {
  Kind kind;
  std::uint64_t offset = 0;
  std::string data;
  std::uint64_t end_in_log = 0;  // byte position in the log after this record
  bool barrier() const { return kind == kSync || kind == kDsyncWrite; }
  bool write() const { return kind == kWrite || kind == kDsyncWrite; }
};

struct Ack {
  AllocationKey key;
  Port port;
  std::uint64_t id;
  std::uint64_t log_size;    // log bytes when the reply arrived
  std::size_t barriers = 0;  // barriers completed by then
};

bool long_tier() {
  const char* v = std::getenv("PORTD_LONG");
  return v && *v && std::string(v) != "0";
}

fs::path env_path(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set (run through meson)");
  return v;
}

std::vector<Event> read_log(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<Event> events;
  std::uint64_t pos = 0;
  RecordHeader h{};
  while (in.read(reinterpret_cast<char*>(&h), sizeof h)) {
    Event e;
    e.kind = static_cast<Kind>(h.kind);
    e.offset = h.offset;
    if (e.write()) {
      e.data.resize(h.length);
      if (!in.read(e.data.data(), static_cast<std::streamsize>(h.length))) break;
    }
    pos += sizeof h + (e.write() ? h.length : 0);
    e.end_in_log = pos;
    events.push_back(std::move(e));
  }
  return events;
}

void apply(std::string& image, std::uint64_t offset, std::string_view bytes) {
  if (image.size() < offset + bytes.size()) image.resize(offset + bytes.size(), '\0');
  std::memcpy(image.data() + offset, bytes.data(), bytes.size());
}

// Applies only some 512-byte sectors of a write (a torn write): sector
// boundaries are file offsets that are multiples of 512.
void apply_torn(std::string& image, const Event& w, std::mt19937_64& rng) {
  constexpr std::uint64_t kSector = 512;
  std::uint64_t begin = w.offset, end = w.offset + w.data.size();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sectors;
  for (std::uint64_t s = begin; s < end;) {
    std::uint64_t next = std::min(end, (s / kSector + 1) * kSector);
    sectors.emplace_back(s, next);
    s = next;
  }
  bool any_dropped = false;
  for (std::size_t i = 0; i < sectors.size(); ++i) {
    bool keep = rng() % 2 == 0;
    // A torn write lands partly: drop at least one sector when there are
    // several.
    if (!any_dropped && sectors.size() > 1 && i + 1 == sectors.size()) keep = false;
    if (!keep) {
      any_dropped = true;
      continue;
    }
    auto [s, e] = sectors[i];
    apply(image, s, std::string_view(w.data).substr(s - begin, e - s));
  }
}

struct RunResult {
  int status = -1;
  std::string out;
};

// Runs `argv`, capturing stdout; status is 128+signal after a crash.
RunResult run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // stderr too: LMDB's own assertion messages explain a crashed reader.
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  RunResult r;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  r.status = testing::wait_pid(pid, 60s);
  return r;
}

struct StateView {
  bool opened = false;
  std::string error;
  std::map<std::string, std::uint64_t> keys;     // "app/instance/service" -> id
  std::map<std::uint64_t, std::uint64_t> ports;  // port -> id
  std::vector<std::uint64_t> allocs;
  std::vector<std::string> missing_dbs;  // not created yet (first commit not durable)
  std::vector<std::string> inconsistencies;
};

StateView read_state(const fs::path& reader, const fs::path& dir) {
  StateView v;
  RunResult r = run_capture({reader.string(), "dump", dir.string()});
  std::istringstream in(r.out);
  std::string tag;
  bool end = false;
  while (in >> tag) {
    if (tag == "K") {
      std::string k;
      std::uint64_t id;
      in >> k >> id;
      v.keys[k] = id;
    } else if (tag == "P") {
      std::uint64_t p, id;
      in >> p >> id;
      v.ports[p] = id;
    } else if (tag == "A") {
      std::uint64_t id;
      in >> id;
      v.allocs.push_back(id);
    } else if (tag == "N") {
      std::string name;
      in >> name;
      v.missing_dbs.push_back(name);
    } else if (tag == "END") {
      end = true;
    } else if (tag == "ERR") {
      std::getline(in, v.error);
    }
  }
  v.opened = r.status == 0 && end;
  if (!v.opened && v.error.empty()) {
    v.error = "reader exit status " + std::to_string(r.status) + ": " + r.out.substr(0, 300);
  }
  if (v.opened) {
    // Every allocation has exactly one key and one port entry and nothing
    // else points anywhere: then no port is held twice.
    std::set<std::uint64_t> a(v.allocs.begin(), v.allocs.end()), k, p;
    for (auto& [key, id] : v.keys) {
      if (!k.insert(id).second)
        v.inconsistencies.push_back("id " + std::to_string(id) + " has two keys");
    }
    for (auto& [port, id] : v.ports) {
      if (!p.insert(id).second)
        v.inconsistencies.push_back("id " + std::to_string(id) + " has two ports");
    }
    if (a != k || a != p) v.inconsistencies.push_back("key/port/alloc indexes disagree");
  }
  return v;
}

struct ReplayStats {
  std::size_t states = 0, opened = 0, integrity_failures = 0, lost = 0, states_with_loss = 0,
              inconsistent = 0, acks_checked = 0, daemon_reopens = 0, daemon_failures = 0;
  std::vector<std::string> problems;
};

class Replayer {
 public:
  Replayer(std::vector<Event> events, std::vector<Ack> acks, fs::path reader, fs::path work)
      : events_(std::move(events)),
        acks_(std::move(acks)),
        reader_(std::move(reader)),
        work_(std::move(work)) {
    for (std::size_t i = 0; i < events_.size(); ++i) {
      if (events_[i].barrier()) barriers_.push_back(i);
    }
    for (Ack& a : acks_) {
      a.barriers = 0;
      for (std::size_t b : barriers_) {
        if (events_[b].end_in_log <= a.log_size) ++a.barriers;
      }
    }
    fs::create_directories(work_);
    // portd refuses a state directory that others may read (portd(1) "FILES").
    fs::permissions(work_, fs::perms::owner_all);
  }
  std::size_t barrier_count() const { return barriers_.size(); }
  const std::vector<Ack>& acks() const { return acks_; }

  // Checks one state that claims barriers 1..k durable.
  void check(const std::string& image, std::size_t k, bool integrity, ReplayStats& st) {
    ++st.states;
    {
      std::ofstream out(work_ / "data.mdb", std::ios::binary | std::ios::trunc);
      out.write(image.data(), static_cast<std::streamsize>(image.size()));
    }
    std::error_code ec;
    fs::remove(work_ / "lock.mdb", ec);
    StateView v = read_state(reader_, work_);
    std::string where =
        "state for barrier " + std::to_string(k) + "/" + std::to_string(barriers_.size());
    if (!v.opened) {
      note(st, where + ": does not open: " + v.error);
      return;
    }
    ++st.opened;
    if (integrity) {
      IntegrityReport r = check_store_integrity(work_);
      fs::remove(work_ / "lock.mdb", ec);
      if (!r.ok) {
        ++st.integrity_failures;
        note(st, where + ": mdb_stat/mdb_dump failed: " + r.output);
      }
    }
    if (!v.inconsistencies.empty()) {
      ++st.inconsistent;
      note(st, where + ": " + v.inconsistencies.front());
    }
    bool loss = false;
    for (const Ack& a : acks_) {
      if (a.barriers > k) continue;
      ++st.acks_checked;
      auto it = v.keys.find(to_string(a.key));
      auto pt = v.ports.find(a.port);
      if (it == v.keys.end() || it->second != a.id || pt == v.ports.end() || pt->second != a.id) {
        ++st.lost;
        loss = true;
        note(st, where + ": lost ack " + describe(a.key, a.port) + " (id " + std::to_string(a.id) +
                     ", acked after barrier " + std::to_string(a.barriers) + ")");
      }
    }
    st.states_with_loss += loss;
    if (integrity && st.states % 16 == 0) reopen_with_portd(k, st);
  }

  // End to end on a sample of states: the real portd opens the crash state
  // (creating what the first commit had not made durable), serves `list`,
  // and that list holds every allocation acked by barrier k.
  void reopen_with_portd(std::size_t k, ReplayStats& st) {
    ++st.daemon_reopens;
    fs::path runtime = work_.parent_path() / "runtime";
    fs::create_directories(runtime);
    fs::permissions(runtime, fs::perms::owner_all);
    fs::path sock = runtime / "portd.sock";
    fs::path portd_log = work_.parent_path() / "reopen.log";
    std::error_code ec;
    fs::remove(portd_log, ec);
    pid_t pid = testing::spawn({testing::portd_binary().string(), "--socket", sock.string(),
                                "--state-dir", work_.string(), "--config", "/dev/null"},
                               {"HOME=" + work_.parent_path().string(),
                                "XDG_RUNTIME_DIR=" + runtime.string(), "PATH=/usr/bin:/bin"},
                               portd_log);
    std::string where = "portd on the state for barrier " + std::to_string(k);
    bool ok = testing::wait_for_socket(sock, 10s);
    if (ok) {
      try {
        testing::RawClient c(sock);
        proto::Response r = c.call(testing::make_request(proto::Op::list));
        std::set<std::pair<std::uint64_t, Port>> listed;
        const msgpack::object* arr = r.find("allocations");
        for (std::uint32_t i = 0; arr && i < arr->via.array.size; ++i) {
          Allocation a = proto::unpack_allocation(arr->via.array.ptr[i]);
          listed.emplace(a.id, a.port);
        }
        for (const Ack& a : acks_) {
          if (a.barriers <= k && !listed.contains({a.id, a.port})) {
            ok = false;
            note(st, where + ": list lacks acked " + describe(a.key, a.port));
            break;
          }
        }
      } catch (const std::exception& e) {
        ok = false;
        note(st, where + ": " + e.what());
      }
    } else {
      note(st, where + ": did not start");
    }
    ::kill(pid, SIGTERM);
    int status = testing::wait_pid(pid, 10s);
    if (status == -1) {
      ::kill(pid, SIGKILL);
      testing::wait_pid(pid, 10s);
    }
    if (status != 0) ok = false;
    if (!ok) {
      ++st.daemon_failures;
      std::ifstream in(portd_log);
      std::stringstream ss;
      ss << in.rdbuf();
      note(st, where + ": exit " + std::to_string(status) + "; log: " + ss.str());
    }
  }

  // The honest model: barriers make earlier writes durable. `variants`
  // states per barrier: 0 = none of the unsynced writes, 1 = all of them
  // (shuffled), 2+ = a random subset with torn sectors.
  ReplayStats replay(int variants, std::mt19937_64& rng) {
    ReplayStats st;
    std::string base;
    std::size_t applied = 0;  // events [0, applied) are in `base`
    for (std::size_t k = 1; k <= barriers_.size(); ++k) {
      // Durable: every write before the last fdatasync at or before barrier
      // k, and every O_DSYNC write up to barrier k.
      std::size_t bk = barriers_[k - 1];
      std::size_t last_sync = bk;
      while (events_[last_sync].kind != kSync && last_sync > 0) --last_sync;
      bool have_sync = events_[last_sync].kind == kSync;
      std::size_t durable_end = have_sync ? last_sync + 1 : 0;
      for (; applied < durable_end; ++applied) {
        if (events_[applied].write()) apply(base, events_[applied].offset, events_[applied].data);
      }
      std::string durable = base;
      std::vector<const Event*> unsynced;
      std::size_t window_end = k < barriers_.size() ? barriers_[k] : events_.size();
      for (std::size_t i = durable_end; i <= bk; ++i) {
        if (events_[i].kind == kDsyncWrite)
          apply(durable, events_[i].offset, events_[i].data);
        else if (events_[i].kind == kWrite)
          unsynced.push_back(&events_[i]);
      }
      for (std::size_t i = bk + 1; i < window_end; ++i) {
        if (events_[i].write()) unsynced.push_back(&events_[i]);
      }
      // The next barrier's own O_DSYNC write may be in flight at the cut.
      if (window_end < events_.size() && events_[window_end].kind == kDsyncWrite) {
        unsynced.push_back(&events_[window_end]);
      }
      for (int variant = 0; variant < variants; ++variant) {
        std::string image = durable;
        std::vector<const Event*> chosen = unsynced;
        std::shuffle(chosen.begin(), chosen.end(), rng);
        for (const Event* w : chosen) {
          if (variant == 0) break;
          if (variant == 1) {
            apply(image, w->offset, w->data);
          } else if (rng() % 2 == 0) {
            if (rng() % 3 == 0)
              apply_torn(image, *w, rng);
            else
              apply(image, w->offset, w->data);
          }
        }
        check(image, k, true, st);
      }
    }
    return st;
  }

  // Negative control: MDB_NOSYNC. No barrier makes anything durable, so a
  // crash after barrier k may leave any subset of the writes issued so far
  // (here each with probability 0.9, in issue order).
  ReplayStats replay_nosync(std::mt19937_64& rng) {
    ReplayStats st;
    for (std::size_t k = 1; k <= barriers_.size(); ++k) {
      std::size_t window_end = k < barriers_.size() ? barriers_[k] : events_.size();
      std::string image;
      for (std::size_t i = 0; i < window_end; ++i) {
        if (events_[i].write() && rng() % 10 != 0) apply(image, events_[i].offset, events_[i].data);
      }
      check(image, k, false, st);
    }
    return st;
  }

  std::size_t writes_before_first_barrier() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < (barriers_.empty() ? 0 : barriers_[0]); ++i)
      n += events_[i].write();
    return n;
  }

 private:
  static void note(ReplayStats& st, std::string what) {
    if (st.problems.size() < 20) st.problems.push_back(std::move(what));
  }

  std::vector<Event> events_;
  std::vector<Ack> acks_;
  std::vector<std::size_t> barriers_;
  fs::path reader_, work_;
};

TEST(T03, PowerLossReplay) {
  const int acks_wanted = long_tier() ? 1000 : 300;
  const int variants = long_tier() ? 6 : 3;
  fs::path shim = env_path("PORTD_WRITE_LOG_SHIM");
  fs::path reader = env_path("PORTD_LMDB_READER");
  const char* s = std::getenv("PORTD_SEED");
  const std::uint64_t seed = s ? std::strtoull(s, nullptr, 10) : std::random_device{}();
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);

  testing::TempDir work(true);
  fs::path log = work.path() / "write.log";
  ActivatedDaemon::Options opt;
  opt.prefer_memory = true;  // the shim records the syncs; the disk is not the subject
  opt.config_toml = "[[pool]]\nname = \"default\"\nrange = \"23000-24999\"\n";
  opt.extra_env = {"LD_PRELOAD=" + shim.string(), "PORTD_WRITE_LOG=" + log.string()};
  ActivatedDaemon daemon(opt);

  std::vector<Ack> acks;
  {
    testing::RawClient c(daemon.socket());
    int n = 0;
    while (n < acks_wanted) {
      // Bursts of 1-4 pipelined requests: group commit puts them in one txn.
      int burst = std::min<int>(1 + static_cast<int>(rng() % 4), acks_wanted - n);
      std::vector<AllocationKey> keys;
      for (int i = 0; i < burst; ++i, ++n) {
        keys.push_back({"t03", "i" + std::to_string(n), "web"});
        ASSERT_TRUE(c.send(
            testing::allocate_request(keys.back().app, keys.back().instance, keys.back().service)));
      }
      for (const AllocationKey& k : keys) {
        auto r = c.receive(10s);
        ASSERT_TRUE(r && r->ok) << daemon.log();
        struct stat st {};
        ASSERT_EQ(::stat(log.c_str(), &st), 0) << "the shim wrote no log: " << daemon.log();
        Allocation a = proto::unpack_allocation(*r->find("allocation"));
        EXPECT_EQ(a.key(), k);
        acks.push_back({k, a.port, a.id, static_cast<std::uint64_t>(st.st_size), 0});
      }
    }
  }
  ASSERT_EQ(daemon.stop(), 0) << daemon.log();

  std::vector<Event> events = read_log(log);
  std::size_t msyncs = 0, opens = 0, writes = 0, syncs = 0, dsync_writes = 0;
  for (const Event& e : events) {
    msyncs += e.kind == kMsync;
    opens += e.kind == kOpen;
    writes += e.kind == kWrite;
    syncs += e.kind == kSync;
    dsync_writes += e.kind == kDsyncWrite;
  }
  // portd never uses MDB_WRITEMAP, so LMDB never msyncs; and without the
  // O_DSYNC meta fd (MDB_NOMETASYNC/NOSYNC) there would be no durable writes.
  EXPECT_EQ(msyncs, 0u);
  ASSERT_GT(syncs, 0u) << "no fdatasync on data.mdb: is the store opened MDB_NOSYNC?";
  ASSERT_GT(dsync_writes, 0u) << "no O_DSYNC meta write: MDB_NOMETASYNC?";

  Replayer replayer(events, acks, reader, work.path() / "state");
  auto t0 = std::chrono::steady_clock::now();
  ReplayStats honest = replayer.replay(variants, rng);
  ReplayStats nosync = replayer.replay_nosync(rng);
  double replay_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::cout << "T03: " << acks.size() << " acked allocations; log: " << opens << " opens, "
            << writes << " writes, " << syncs << " fdatasyncs, " << dsync_writes
            << " O_DSYNC meta writes, " << replayer.barrier_count() << " barriers ("
            << replayer.writes_before_first_barrier() << " writes before the first, not replayed)\n"
            << "  honest: " << honest.states << " states, " << honest.opened << " opened, "
            << honest.integrity_failures << " integrity failures, " << honest.inconsistent
            << " inconsistent, " << honest.acks_checked << " ack checks, " << honest.lost
            << " lost; portd reopened " << honest.daemon_reopens << " of them, "
            << honest.daemon_failures << " failed\n"
            << "  NOSYNC control: " << nosync.states << " states, " << nosync.opened << " opened, "
            << nosync.lost << " lost ack checks in " << nosync.states_with_loss << " states\n"
            << "  replay took " << replay_s << " s\n";
  for (const std::string& p : honest.problems) std::cout << "  honest problem: " << p << "\n";
  for (std::size_t i = 0; i < nosync.problems.size() && i < 3; ++i) {
    std::cout << "  control example: " << nosync.problems[i] << "\n";
  }

  report_figure("T03", grouped(honest.states) + " crash states: " + grouped(honest.lost) +
                           " lost, " + grouped(honest.integrity_failures + honest.inconsistent) +
                           " corrupt; NOSYNC control lost " + grouped(nosync.lost));

  EXPECT_GE(honest.states, 500u);
  EXPECT_EQ(honest.opened, honest.states);
  EXPECT_EQ(honest.integrity_failures, 0u);
  EXPECT_EQ(honest.inconsistent, 0u);
  EXPECT_EQ(honest.lost, 0u);
  EXPECT_GT(honest.daemon_reopens, 0u);
  EXPECT_EQ(honest.daemon_failures, 0u);
  EXPECT_GT(honest.acks_checked, 0u);
  // The control must see loss, or this test could not see it either.
  EXPECT_GE(nosync.lost, 1u);
}

}  // namespace
}  // namespace portd::reliability
