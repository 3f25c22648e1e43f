// Injected storage faults (docs/testing.md T06, T07): EIO from writes and
// syncs (strace) and failed mallocs and short writes (libfiu). The policy
// under test (portd(1) DURABILITY): EIO or MDB_PANIC makes portd exit with
// status 75 before acknowledging anything more, a failed malloc gets an
// error reply; after a restart every acknowledged allocation is there, on
// its port, and no port is held twice. A fault that never shows (no exit
// 75, no error reply in any run) fails the test: it was not tested.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "../../integration/support/daemon_process.hpp"
#include "../../unit/support/temp_dir.hpp"
#include "../support/figure.hpp"
#include "fault_support.hpp"

namespace portd::testing::faults {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using reliability::grouped;
using reliability::report_figure;

// Waits until the daemon answers or `pid` has exited; false on exit/timeout.
bool wait_up(const Layout& layout, pid_t pid, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive(pid)) return false;
    if (wait_for_socket(layout.socket, 20ms)) return true;
  }
  return false;
}

// "exit 75 in 5, exit 1 in 2": how the runs of a fault test ended, for its
// figure.
std::string exits_text(const std::map<int, std::size_t>& statuses) {
  std::string out;
  for (const auto& [status, n] : statuses) {
    out += fmt::format("{}exit {} in {}", out.empty() ? "" : ", ", status, n);
  }
  return out;
}

// ---------------------------------------------------------------- T06

struct Injection {
  std::string syscall;
  int n;
  bool persistent;
};

std::string name(const Injection& i) {
  return fmt::format("{}:when={}{}", i.syscall, i.n, i.persistent ? "+" : "");
}

// What one fault-injection run ended with.
struct RunStats {
  int status = 0;            ///< portd's exit status (128+n: signal n; -1: hung)
  std::size_t acked = 0;     ///< allocations acknowledged
  std::size_t errors = 0;    ///< error replies
  std::size_t injected = 0;  ///< calls strace marks (INJECTED) (T06 only)
  bool bit() const { return status == 75 || errors > 0; }
};

// Counts the calls strace marks "(INJECTED)" in its output file.
std::size_t count_injected(const fs::path& strace_log) {
  std::ifstream in(strace_log);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    n += line.find("(INJECTED)") != std::string::npos;
  }
  return n;
}

// One run: portd under strace failing the n-th `syscall` with EIO; 200
// sequential allocations (one commit each). Returns problems.
std::vector<std::string> run_injection(const Injection& inj, RunStats& stats) {
  std::vector<std::string> problems;
  TempDir dir(true);
  Layout layout(dir.path());
  Launch launch;
  const fs::path strace_log = dir.path() / "strace.log";
  launch.prefix = {
      "/usr/bin/strace",
      "-f",
      "-qq",
      "-o",
      strace_log.string(),
      "-e",
      "trace=" + inj.syscall,
      "-e",
      fmt::format("inject={}:error=EIO:when={}{}", inj.syscall, inj.n, inj.persistent ? "+" : "")};
  pid_t tracer = start_daemon(layout, launch);
  Reaper reap_tracer{tracer};
  Ledger ledger;
  std::map<std::string, std::size_t> codes;
  if (wait_up(layout, tracer)) {
    reap_tracer.inner = first_child(tracer);
    std::unique_ptr<RawClient> c;
    for (std::size_t i = 0; i < 200; ++i) {
      const AllocationKey key = test_key("eio", "run", i);
      if (!c) {
        try {
          c = std::make_unique<RawClient>(layout.socket);
        } catch (const std::exception&) {
          ledger.uncertain(key);
          break;
        }
      }
      if (pipeline_allocations(*c, {key}, ledger, &codes, 10s) == 0) {
        // No reply: the daemon exited, or (writev also writes replies) the
        // reply to this client failed and the daemon closed the connection.
        c.reset();
        if (!alive(tracer)) break;
      }
    }
  }
  if (alive(tracer)) {
    pid_t real = daemon_pid_from_lock(layout);
    // With the pid write into portd.lock failed (pwrite64:when=1), ask
    // the kernel which process strace runs.
    if (real <= 0) real = first_child(tracer);
    if (real > 0) ::kill(real, SIGTERM);
  }
  int status = wait_exit(tracer, 20s);
  if (status == -1) {
    kill_and_reap(tracer);
    problems.push_back(name(inj) + ": portd did not exit");
  }
  stats.status = status;
  stats.acked = ledger.acked();
  for (const auto& [code, n] : codes) stats.errors += n;
  stats.injected = count_injected(strace_log);
  if (status != 0 && status != 75 && status != 1) {
    problems.push_back(fmt::format("{}: exit status {} (128+n is signal n)", name(inj), status));
  }
  if (status == 1) {
    // Only a startup failure may exit 1, and then nothing was acknowledged.
    if (ledger.acked() != 0) problems.push_back(name(inj) + ": exit 1 after serving");
  }
  for (const std::string& p : verify_after_restart(layout, ledger)) {
    problems.push_back(name(inj) + ": " + p);
  }
  if (!problems.empty()) {
    std::ifstream in(layout.log);
    std::string log(std::istreambuf_iterator<char>(in), {});
    problems.push_back("log of the failed run:\n" +
                       log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  }
  return problems;
}

TEST(StorageFaults, T06_IoErrorsExitSeventyFiveAndLoseNothing) {
  if (!fs::exists("/usr/bin/strace")) GTEST_SKIP() << "strace is not installed";
  // Without ptrace (a container's seccomp policy, yama ptrace_scope=3)
  // strace injects nothing and every run would look clean: skip instead.
  std::string probe;
  if (run_command({"/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", "-e",
                   "inject=getpid:error=EIO", "/bin/true"},
                  &probe) != 0) {
    GTEST_SKIP() << "strace cannot trace here, T06 NOT RUN: " << probe;
  }
  // LMDB 0.9.24 commits with writev (data pages), fdatasync, and pwrite64
  // on the O_DSYNC fd (meta page); measured with `strace -f -c`.
  std::vector<Injection> runs;
  if (long_tier()) {
    for (const char* sc : {"pwrite64", "fdatasync"}) {
      for (int n = 1; n <= 100; ++n) {
        runs.push_back({sc, n, false});
        runs.push_back({sc, n, true});
      }
    }
    for (int n = 1; n <= 100; n += 3) runs.push_back({"writev", n, n % 2 == 0});
  } else {
    for (int n : {2, 9, 40, 120}) {
      runs.push_back({"pwrite64", n, false});
      runs.push_back({"pwrite64", n, true});
    }
    for (int n : {1, 5, 60, 150}) {
      runs.push_back({"fdatasync", n, false});
      runs.push_back({"fdatasync", n, true});
    }
    for (int n : {3, 30}) {
      runs.push_back({"writev", n, false});
      runs.push_back({"writev", n, true});
    }
  }
  std::map<int, std::size_t> statuses;
  std::size_t total_acked = 0;
  // Per syscall: runs in which strace injected EIO, and in which that
  // showed (exit 75 or an error reply). A syscall whose failures never
  // show was not tested at all: that is a failure, not a pass.
  std::map<std::string, std::pair<std::size_t, std::size_t>> effect;
  std::vector<std::string> all;
  for (const Injection& inj : runs) {
    RunStats stats;
    auto problems = run_injection(inj, stats);
    ++statuses[stats.status];
    total_acked += stats.acked;
    auto& [injected, bit] = effect[inj.syscall];
    injected += stats.injected > 0;
    bit += stats.injected > 0 && stats.bit();
    all.insert(all.end(), problems.begin(), problems.end());
  }
  EXPECT_TRUE(all.empty()) << describe(all);
  std::string st, eff;
  for (auto [s, n] : statuses) st += fmt::format("exit {}: {} runs; ", s, n);
  for (const auto& [sc, e] : effect) {
    eff += fmt::format("{}: injected in {} runs, exit 75 or error reply in {}; ", sc, e.first,
                       e.second);
    EXPECT_GT(e.second, 0u) << sc << ": no injected EIO ever produced exit 75 or an error reply";
  }
  std::string injected, showed, names;
  for (const auto& [sc, e] : effect) {
    const char* sep = names.empty() ? "" : ", ";
    injected += fmt::format("{}{}", sep, e.first);
    showed += fmt::format("{}{}", sep, e.second);
    names += fmt::format("{}{}", sep, sc);
  }
  report_figure("T06", fmt::format("{} runs: {}; EIO injected in {} runs ({}), showing in {}; {} "
                                   "acked: {} problems",
                                   runs.size(), exits_text(statuses), injected, names, showed,
                                   grouped(total_acked), all.size()));
  std::cout << fmt::format("[T06] {} runs, {} acknowledged allocations checked; {}\n[T06] {}\n",
                           runs.size(), total_acked, st, eff);
}

// ---------------------------------------------------------------- T07

// One run: portd under fiu-run, `failpoint` enabled with `probability`
// either from exec (`from_start`, which mostly exercises start-up) or
// through fiu-ctrl once the daemon serves (the request paths).
std::vector<std::string> run_fiu(const std::string& failpoint, double probability, bool from_start,
                                 int seed_ops, RunStats& stats) {
  std::vector<std::string> problems;
  const std::string what =
      fmt::format("{}@{}{}", failpoint, probability, from_start ? " from start" : "");
  TempDir dir(true);
  Layout layout(dir.path());
  Launch launch;
  const std::string enable =
      fmt::format("enable_random name={},probability={}", failpoint, probability);
  const fs::path ctrl = dir.path() / "fiu-ctrl";
  launch.prefix = {"/usr/bin/fiu-run", "-x", "-f", ctrl.string()};
  if (from_start) launch.prefix.insert(launch.prefix.end(), {"-c", enable});
  pid_t pid = start_daemon(layout, launch);
  Reaper reap_pid{pid};  // fiu-run execs portd: same pid
  Ledger ledger;
  std::map<std::string, std::size_t> codes;
  bool up = wait_up(layout, pid);
  if (up && !from_start) {
    std::string out;
    if (run_command({"/usr/bin/fiu-ctrl", "-f", ctrl.string(), "-c", enable, std::to_string(pid)},
                    &out) != 0) {
      problems.push_back(what + ": fiu-ctrl failed: " + out);
    }
  }
  if (up) {
    std::unique_ptr<RawClient> c;
    for (int n = 0; n < seed_ops; n += 25) {
      std::vector<AllocationKey> keys;
      for (int i = n; i < n + 25; ++i) keys.push_back(test_key("fiu", "run", i));
      if (!c) {
        try {
          c = std::make_unique<RawClient>(layout.socket);
        } catch (const std::exception&) {
          for (const auto& k : keys) ledger.uncertain(k);
          if (!alive(pid)) break;
          continue;
        }
      }
      if (pipeline_allocations(*c, keys, ledger, &codes, 10s) < keys.size()) {
        c.reset();
        if (!alive(pid)) break;
      }
    }
  }
  if (alive(pid)) ::kill(pid, SIGTERM);
  int status = wait_exit(pid, 20s);
  if (status == -1) {
    kill_and_reap(pid);
    problems.push_back(what + ": portd did not exit");
  }
  stats.status = status;
  stats.acked = ledger.acked();
  for (const auto& [code, n] : codes) stats.errors += n;
  if (status != 0 && status != 75 && status != 1) {
    problems.push_back(fmt::format("{}: exit status {} (128+n is signal n)", what, status));
  }
  if (status == 1 && ledger.acked() != 0) problems.push_back(what + ": exit 1 after serving");
  // An error reply under injected OOM must still mean "not stored"; the
  // verdict counts a key that was answered with an error but is present
  // as unexpected.
  for (const std::string& p : verify_after_restart(layout, ledger)) {
    problems.push_back(what + ": " + p);
  }
  if (!problems.empty()) {
    std::ifstream in(layout.log);
    std::string log(std::istreambuf_iterator<char>(in), {});
    problems.push_back("log of the failed run:\n" +
                       log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  }
  return problems;
}

TEST(StorageFaults, T07_MallocFailuresAndShortWrites) {
  if (!fs::exists("/usr/bin/fiu-run") || !fs::exists("/usr/lib/fiu/fiu_posix_preload.so")) {
    GTEST_SKIP() << "libfiu (fiu-utils) is not installed";
  }
  // fiu-run works by LD_PRELOAD: where that is ignored (a setuid wrapper,
  // a static libc) nothing fails and every run would look clean. A failed
  // open must fail `cat`; otherwise skip.
  std::string probe;
  if (run_command({"/usr/bin/fiu-run", "-x", "-c", "enable name=posix/io/oc/open", "/bin/cat",
                   "/proc/self/stat"},
                  &probe) == 0) {
    GTEST_SKIP() << "fiu-run injects nothing here, T07 NOT RUN";
  }
  struct Run {
    const char* failpoint;
    double probability;
    bool from_start;
  };
  std::vector<Run> runs = {
      {"libc/mm/malloc", 0.001, true},         {"libc/mm/malloc", 0.01, true},
      {"libc/mm/malloc", 0.001, false},        {"libc/mm/malloc", 0.01, false},
      {"libc/mm/malloc", 0.05, false},         {"posix/io/rw/pwrite/reduce", 0.05, false},
      {"posix/io/rw/pwrite/reduce", 0.5, true}};
  const int repeats = long_tier() ? 20 : 1;
  std::map<int, std::size_t> statuses;
  std::size_t total_acked = 0;
  // Per failpoint: runs that showed a failure (exit 75 or an error reply).
  // libfiu cannot say how often it fired, so a failpoint that never shows
  // in any run counts as not tested, which fails the test.
  std::map<std::string, std::size_t> bit;
  std::vector<std::string> all;
  for (int r = 0; r < repeats; ++r) {
    for (const Run& run : runs) {
      RunStats stats;
      auto problems = run_fiu(run.failpoint, run.probability, run.from_start, 500, stats);
      ++statuses[stats.status];
      total_acked += stats.acked;
      bit[run.failpoint] += stats.bit();
      all.insert(all.end(), problems.begin(), problems.end());
    }
  }
  EXPECT_TRUE(all.empty()) << describe(all);
  std::string st, eff;
  for (auto [s, n] : statuses) st += fmt::format("exit {}: {} runs; ", s, n);
  for (const auto& [fp, n] : bit) {
    eff += fmt::format("{}: exit 75 or error reply in {} runs; ", fp, n);
    EXPECT_GT(n, 0u) << fp << ": no run produced exit 75 or an error reply";
  }
  report_figure("T07", fmt::format("{} runs: {}; {} acked: {} problems", runs.size() * repeats,
                                   exits_text(statuses), grouped(total_acked), all.size()));
  std::cout << fmt::format("[T07] {} runs, {} acknowledged allocations checked; {}\n[T07] {}\n",
                           runs.size() * repeats, total_acked, st, eff);
}

}  // namespace
}  // namespace portd::testing::faults
