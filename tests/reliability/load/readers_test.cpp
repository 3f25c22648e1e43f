// T19 stale readers (docs/testing.md, F19): an offline reader (a backup,
// an inspection tool) that is killed inside a read transaction leaves its
// slot in lock.mdb, and the slot pins the snapshot it read: LMDB cannot
// reuse pages freed after it, so the file grows while the daemon writes.
// portd clears such slots with mdb_reader_check on its 5 s sweep.
//
// The test churns allocate/release on a fixed key set through the daemon.
// Baseline: 20 times, `lmdb_reader hold` (a separate process that opens the
// env and sits in a read txn) holds a snapshot for 200 commits, then ends
// its txn cleanly. Victims: the same 20 readers, SIGKILLed instead.
// `mdb_stat -r` (which lists reader slots without clearing them) is polled:
// every dead pid must be seen listed at least once (the test can see a
// stale slot) and must be gone within the sweep interval (5 s, plus 1.5 s
// for polling and load). After more churn, data.mdb may be at most 10 %
// larger than after the baseline, and must have stopped growing.
//
// Quick tier: 3,000 ops per phase, 200 ops under each pin. PORTD_LONG=1:
// 20,000 and 1,000.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "../../integration/support/daemon_process.hpp"
#include "figure.hpp"
#include "history.hpp"

namespace portd::reliability {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool long_tier() {
  const char* v = std::getenv("PORTD_LONG");
  return v && *v && std::string(v) != "0";
}

std::uintmax_t data_size(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<std::uintmax_t>(st.st_size) : 0;
}

// A running `lmdb_reader hold <dir>`: it holds a read txn until its stdin
// is closed (a reader that finishes) or it is killed (one that dies).
struct Holder {
  pid_t pid = -1;
  int stdin_fd = -1;
};

// Starts a holder and waits for its READY line.
Holder start_holder(const fs::path& reader, const fs::path& dir) {
  int out[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::string r = reader.string(), d = dir.string();
  char* args[] = {r.data(), const_cast<char*>("hold"), d.data(), nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::execv(args[0], args);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(in[0]);
  std::string got;
  char buf[64];
  auto deadline = Clock::now() + 10s;
  while (got.find("READY\n") == std::string::npos && Clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (got.find("READY\n") == std::string::npos) {
    ::kill(pid, SIGKILL);
    testing::wait_pid(pid, 10s);
    ::close(in[1]);
    throw std::runtime_error("lmdb_reader hold did not get ready: " + got);
  }
  return {pid, in[1]};
}

// Pids in the reader table, per `mdb_stat -r` (which lists, never clears).
std::set<long> listed_readers(const fs::path& dir) {
  fs::path tool = find_tool("mdb_stat");
  testing::TempDir tmp(true);
  fs::path out = tmp.path() / "r.out";
  pid_t pid = testing::spawn({tool.string(), "-r", dir.string()}, {"PATH=/usr/bin:/bin"}, out);
  // mdb_stat 0.9.24 exits 1 after printing only the reader table (-r
  // without -e); the header line below is what shows that it worked.
  int status = testing::wait_pid(pid, 30s);
  if (status != 0 && status != 1) throw std::runtime_error("mdb_stat -r failed");
  std::ifstream in(out);
  std::set<long> pids;
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string first;
    ls >> first;
    if (first == "pid") {
      table = true;  // header "    pid     thread     txnid"
      continue;
    }
    if (table && !first.empty() && std::isdigit(static_cast<unsigned char>(first[0]))) {
      pids.insert(std::stol(first));
    }
  }
  if (!table) throw std::runtime_error("mdb_stat -r printed no reader table");
  return pids;
}

TEST(T19, StaleReadersAreClearedAndGrowthStops) {
  const std::uint64_t phase_ops = long_tier() ? 20000 : 3000;
  const std::uint64_t pinned_ops = long_tier() ? 1000 : 200;
  constexpr int kVictims = 20;
  const char* r = std::getenv("PORTD_LMDB_READER");
  ASSERT_TRUE(r && *r) << "PORTD_LMDB_READER is not set (run through meson)";
  fs::path reader = r;

  testing::DaemonProcess::Options opt;
  opt.config_toml = "[[pool]]\nname = \"default\"\nrange = \"25000-25999\"\n";
  testing::DaemonProcess daemon(opt);
  fs::path data = daemon.state_dir() / "data.mdb";

  // The writes come from this thread, in exact counts, so that the
  // baseline readers and the killed ones pin the same number of commits.
  History history;
  ResilientClient writer(daemon.socket(), history, 0);
  std::uint64_t done = 0;
  auto churn = [&](std::uint64_t n) {
    for (std::uint64_t end = done + n; done < end; ++done) {
      // 32 keys, each allocated then released: every op is one commit that
      // frees the pages the previous one wrote.
      AllocationKey key{"t19", "w", "k" + std::to_string(done / 2 % 32)};
      CallResult res = done % 2 == 0 ? writer.allocate(key) : writer.release(key);
      if (res.outcome != Outcome::ok) {
        ADD_FAILURE() << "writer: " << res.error_code;
        return false;
      }
    }
    return true;
  };

  // Phase 0: steady state without readers.
  ASSERT_TRUE(churn(phase_ops));
  std::uintmax_t steady = data_size(data);

  // Phase 1, the baseline: 20 readers that each hold a snapshot while the
  // daemon commits `pinned_ops` times, then finish cleanly. A live reader
  // legitimately pins pages; this is the growth that costs.
  for (int i = 0; i < kVictims; ++i) {
    Holder h = start_holder(reader, daemon.state_dir());
    ASSERT_TRUE(churn(pinned_ops));
    ::close(h.stdin_fd);
    ASSERT_EQ(testing::wait_pid(h.pid, 10s), 0);
  }
  ASSERT_TRUE(churn(phase_ops));
  std::uintmax_t baseline = data_size(data);

  // Phase 2: the same 20 readers, but killed inside their txns.
  struct Victim {
    pid_t pid;
    Clock::time_point killed;
    bool seen_stale = false;
    std::optional<double> cleared_after_s;
  };
  std::vector<Victim> victims;
  auto poll_table = [&] {
    std::set<long> listed = listed_readers(daemon.state_dir());
    auto now = Clock::now();
    for (Victim& v : victims) {
      if (v.cleared_after_s) continue;
      if (listed.contains(v.pid)) {
        v.seen_stale = true;
      } else {
        v.cleared_after_s = std::chrono::duration<double>(now - v.killed).count();
      }
    }
  };
  for (int i = 0; i < kVictims; ++i) {
    Holder h = start_holder(reader, daemon.state_dir());
    ASSERT_TRUE(churn(pinned_ops));
    ::kill(h.pid, SIGKILL);
    ASSERT_EQ(testing::wait_pid(h.pid, 10s), 128 + SIGKILL);
    ::close(h.stdin_fd);
    victims.push_back({h.pid, Clock::now(), false, std::nullopt});
    poll_table();
    ASSERT_TRUE(churn(pinned_ops));  // the daemon writes on with the slot stale
  }
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    bool all = true;
    for (const Victim& v : victims) all = all && v.cleared_after_s.has_value();
    if (all) break;
    ASSERT_TRUE(churn(50));
    std::this_thread::sleep_for(200ms);
    poll_table();
  }
  std::uintmax_t cleared_size = data_size(data);

  // Phase 3: the same churn again, no readers.
  ASSERT_TRUE(churn(phase_ops));
  std::uintmax_t after = data_size(data);

  std::vector<Allocation> final_list = writer.list();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  Verdict verdict = history.check(final_list);
  verdict.integrity = check_store_integrity(daemon.state_dir());

  double worst = 0;
  int seen = 0, uncleared = 0;
  for (const Victim& v : victims) {
    seen += v.seen_stale;
    if (v.cleared_after_s)
      worst = std::max(worst, *v.cleared_after_s);
    else
      ++uncleared;
  }
  std::cout << verdict.report() << "T19: " << done << " writes, " << kVictims
            << " readers killed in a txn; " << seen << " seen stale by mdb_stat -r, " << uncleared
            << " never cleared, slowest cleared after " << worst << " s\n"
            << "  data.mdb: " << steady << " B steady, " << baseline
            << " B after 20 readers that finished, " << cleared_size
            << " B after 20 that were killed, " << after << " B after " << phase_ops
            << " more writes\n";

  report_figure("T19", std::to_string(static_cast<int>(victims.size()) - uncleared) + " of " +
                           std::to_string(victims.size()) + " killed readers cleared within " +
                           fixed(worst, 2) + " s");

  EXPECT_TRUE(verdict.valid()) << verdict.report();
  // The oracle must be able to see a stale slot, or "cleared" means nothing.
  EXPECT_GT(seen, 0) << "no killed reader was ever listed: the test cannot see stale slots";
  EXPECT_EQ(uncleared, 0);
  EXPECT_LE(worst, 6.5) << "a stale slot outlived the daemon's 5 s sweep";
  // Killed readers cost no more than readers that finished (docs/testing.md:
  // growth < 10 % versus a run without killed readers)...
  EXPECT_LE(after, baseline + baseline / 10)
      << "stale reader slots made data.mdb grow beyond what live readers cost";
  // ...and once their slots are gone, pages are reused again.
  EXPECT_LE(after, cleared_size + cleared_size / 10)
      << "data.mdb kept growing after the stale readers were cleared";
}

}  // namespace
}  // namespace portd::reliability
