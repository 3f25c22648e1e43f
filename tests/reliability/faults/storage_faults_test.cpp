// Storage faults (docs/testing.md T04-T07): a full disk, a full map, I/O
// errors and failed mallocs. The policy under test (portd(1) DURABILITY):
// a batch that cannot be stored gets store_full replies for its mutations
// while reads keep working; EIO or MDB_PANIC makes portd exit with status 75
// before acknowledging anything more; after a restart every acknowledged
// allocation is there, on its port, and no port is held twice.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "../../integration/support/daemon_process.hpp"
#include "../../unit/support/temp_dir.hpp"
#include "fault_support.hpp"

namespace portd::testing::faults {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A pool far larger than any test allocates, below the kernel's ephemeral range.
constexpr const char* kBigPool = "[[pool]]\nname = \"default\"\nrange = \"1024-32000\"\n";

// A tmpfs mounted for the lifetime of the object.
class TmpfsMount {
 public:
  TmpfsMount(const fs::path& where, const std::string& options) : where_(where) {
    fs::create_directories(where);
    mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0;
    error_ = errno;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const noexcept { return mounted_; }
  int error() const noexcept { return error_; }

 private:
  fs::path where_;
  bool mounted_ = false;
  int error_ = 0;
};

// Waits until the daemon answers or `pid` has exited; false on exit/timeout.
bool wait_up(const Layout& layout, pid_t pid, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive(pid)) return false;
    if (wait_for_socket(layout.socket, 20ms)) return true;
  }
  return false;
}

bool fill_file(const fs::path& path, std::size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  std::string chunk(4096, 'x');
  for (std::size_t done = 0; done < bytes && out; done += chunk.size()) out << chunk;
  out.flush();
  return static_cast<bool>(out);
}

bool is_store_full(const std::map<std::string, std::size_t>& codes) {
  for (const auto& [code, n] : codes) {
    if (code != "store_full") return false;
  }
  return true;
}

std::string codes_text(const std::map<std::string, std::size_t>& codes) {
  std::string s;
  for (const auto& [code, n] : codes) s += fmt::format("{}={} ", code, n);
  return s;
}

// ---------------------------------------------------------------- T04

TEST(StorageFaults, T04_DiskFullGivesStoreFullAndRecovers) {
  TempDir dir;
  Layout layout(dir.path());
  layout.write_config(kBigPool);
  TmpfsMount mount(dir.path() / "state", "size=2m,mode=0700");
  if (!mount.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(mount.error())
                 << "); run as root";
  }
  pid_t pid = start_daemon(layout);
  Reaper reap_pid{pid};
  ASSERT_TRUE(wait_up(layout, pid)) << fs::path(layout.log);
  // Leave the store a few hundred KiB: full after a few hundred commits.
  const fs::path filler = dir.path() / "state" / "filler";
  // The socket is bound before the store opens; a reply means both are up.
  ASSERT_TRUE(RawClient(layout.socket).call(make_request(proto::Op::health)).ok);
  ASSERT_TRUE(fs::exists(layout.state / "data.mdb"));
  std::error_code ec;
  auto space = fs::space(dir.path() / "state", ec);
  ASSERT_FALSE(ec);
  ASSERT_GT(space.available, 400u << 10);
  fill_file(filler, space.available - (300u << 10));

  Ledger ledger;
  std::map<std::string, std::size_t> codes;
  std::size_t next = 0, full_replies = 0, sent = 0;
  auto started = std::chrono::steady_clock::now();
  {
    RawClient c(layout.socket);
    // Small pipelined batches: each is one commit, so the disk fills
    // partway through the run rather than in one go.
    while (full_replies < 50 && sent < 20000) {
      std::vector<AllocationKey> keys;
      for (int i = 0; i < 10; ++i) keys.push_back(test_key("full", "disk", next++));
      sent += keys.size();
      std::size_t before = codes["store_full"];
      ASSERT_EQ(pipeline_allocations(c, keys, ledger, &codes), keys.size())
          << "a reply went missing; daemon alive: " << alive(pid);
      full_replies += codes["store_full"] - before;
    }
  }
  auto fill_time = std::chrono::steady_clock::now() - started;
  ASSERT_GE(full_replies, 50u) << "the disk never filled after " << sent << " allocations";
  EXPECT_TRUE(is_store_full(codes)) << codes_text(codes);
  EXPECT_EQ(ledger.uncertain_count(), 0u);
  ASSERT_TRUE(alive(pid)) << "portd died on a full disk";

  // Reads while full.
  std::size_t reads = 0, read_ok = 0;
  {
    RawClient c(layout.socket);
    for (int i = 0; i < 50; ++i) {
      ++reads;
      read_ok += c.call(make_request(proto::Op::list)).ok ? 1 : 0;
      proto::Request check = make_request(proto::Op::check);
      check.port = 3000;
      ++reads;
      read_ok += c.call(check).ok ? 1 : 0;
    }
    // A write still fails while the disk is full...
    std::map<std::string, std::size_t> again;
    Ledger probe;
    pipeline_allocations(c, {test_key("full", "probe", 0)}, probe, &again);
    EXPECT_EQ(probe.acked() + again["store_full"], 1u) << codes_text(again);
    for (const auto& [k, p] : probe.acked_map()) ledger.ack(k, p);
  }
  EXPECT_GE(read_ok * 100, reads * 99) << read_ok << "/" << reads << " reads ok while full";

  // ... and after space is freed, writes work again.
  fs::remove(filler);
  {
    RawClient c(layout.socket);
    std::map<std::string, std::size_t> after;
    std::size_t acked_before = ledger.acked();
    for (int b = 0; b < 10; ++b) {
      std::vector<AllocationKey> keys;
      for (int i = 0; i < 10; ++i) keys.push_back(test_key("full", "freed", b * 10 + i));
      pipeline_allocations(c, keys, ledger, &after);
    }
    EXPECT_EQ(ledger.acked() - acked_before, 100u) << codes_text(after);
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 10s), 0);
  auto problems = verify_after_restart(layout, ledger);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  std::string log;
  {
    std::ifstream in(layout.log);
    log.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::cout << fmt::format(
      "[T04] {} acked before the disk filled + 100 after freeing; {} store_full replies; "
      "reads ok while full {}/{}; fill phase {} ms; map grew {} times\n",
      ledger.acked() - 100, codes["store_full"], read_ok, reads,
      std::chrono::duration_cast<std::chrono::milliseconds>(fill_time).count(), [&] {
        std::size_t n = 0;
        for (auto p = log.find("store map grown"); p != std::string::npos;
             p = log.find("store map grown", p + 1)) {
          ++n;
        }
        return n;
      }());
}

// ---------------------------------------------------------------- T05

TEST(StorageFaults, T05_MapFullGrowsThenStoreFull) {
  TempDir dir(true);
  Layout layout(dir.path());
  // The top-level key must come before any table.
  layout.write_config("freeze_hours = 0\n" + std::string(kBigPool) +
                      "[limits]\nmap_size_mib = 1\nmax_map_size_mib = 2\n");
  pid_t pid = start_daemon(layout);
  Reaper reap_pid{pid};
  ASSERT_TRUE(wait_up(layout, pid)) << "portd did not start";
  // 2 MiB hold about 10,000 allocations: go well past that.
  const std::size_t total = long_tier() ? 40000 : 20000;
  Ledger ledger;
  std::map<std::string, std::size_t> codes;
  {
    RawClient c(layout.socket);
    for (std::size_t n = 0; n < total; n += 100) {
      std::vector<AllocationKey> keys;
      for (std::size_t i = n; i < n + 100; ++i) keys.push_back(test_key("map", "full", i));
      ASSERT_EQ(pipeline_allocations(c, keys, ledger, &codes), keys.size())
          << "reply missing at " << n << "; daemon alive: " << alive(pid);
    }
    // Reads still work on a full map.
    EXPECT_TRUE(c.call(make_request(proto::Op::stats)).ok);
  }
  EXPECT_TRUE(alive(pid));
  EXPECT_TRUE(is_store_full(codes)) << codes_text(codes);
  EXPECT_EQ(ledger.acked() + ledger.failed(), total);
  EXPECT_GT(ledger.acked(), 1000u) << "the map never grew past 1 MiB?";
  EXPECT_GT(codes["store_full"], 0u) << "max_map_size_mib = 2 was never reached";
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 10s), 0);
  auto problems = verify_after_restart(layout, ledger);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  std::cout << fmt::format("[T05] {} allocations: {} acked, {} store_full; 0 crashes\n", total,
                           ledger.acked(), codes["store_full"]);
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

// One run: portd under strace failing the n-th `syscall` with EIO; 200
// sequential allocations (one commit each). Returns problems.
std::vector<std::string> run_injection(const Injection& inj, int& status_out,
                                       std::size_t& acked_out) {
  std::vector<std::string> problems;
  TempDir dir(true);
  Layout layout(dir.path());
  Launch launch;
  launch.prefix = {
      "/usr/bin/strace",
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-e",
      "trace=" + inj.syscall,
      "-e",
      fmt::format("inject={}:error=EIO:when={}{}", inj.syscall, inj.n, inj.persistent ? "+" : "")};
  pid_t tracer = start_daemon(layout, launch);
  Reaper reap_tracer{tracer};
  Ledger ledger;
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
      if (pipeline_allocations(*c, {key}, ledger, nullptr, 10s) == 0) {
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
  status_out = status;
  acked_out = ledger.acked();
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
  std::vector<std::string> all;
  for (const Injection& inj : runs) {
    int status = 0;
    std::size_t acked = 0;
    auto problems = run_injection(inj, status, acked);
    ++statuses[status];
    total_acked += acked;
    all.insert(all.end(), problems.begin(), problems.end());
  }
  EXPECT_TRUE(all.empty()) << describe(all);
  std::string st;
  for (auto [s, n] : statuses) st += fmt::format("exit {}: {} runs; ", s, n);
  std::cout << fmt::format("[T06] {} runs, {} acknowledged allocations checked; {}\n", runs.size(),
                           total_acked, st);
}

// ---------------------------------------------------------------- T07

// One run: portd under fiu-run, `failpoint` enabled with `probability`
// either from exec (`from_start`, which mostly exercises start-up) or
// through fiu-ctrl once the daemon serves (the request paths).
std::vector<std::string> run_fiu(const std::string& failpoint, double probability, bool from_start,
                                 int seed_ops, int& status_out, std::size_t& acked_out) {
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
  status_out = status;
  acked_out = ledger.acked();
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
  std::vector<std::string> all;
  for (int r = 0; r < repeats; ++r) {
    for (const Run& run : runs) {
      int status = 0;
      std::size_t acked = 0;
      auto problems = run_fiu(run.failpoint, run.probability, run.from_start, 500, status, acked);
      ++statuses[status];
      total_acked += acked;
      all.insert(all.end(), problems.begin(), problems.end());
    }
  }
  EXPECT_TRUE(all.empty()) << describe(all);
  std::string st;
  for (auto [s, n] : statuses) st += fmt::format("exit {}: {} runs; ", s, n);
  std::cout << fmt::format("[T07] {} runs, {} acknowledged allocations checked; {}\n",
                           runs.size() * repeats, total_acked, st);
}

}  // namespace
}  // namespace portd::testing::faults
