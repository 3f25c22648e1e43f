// Storage faults (docs/testing.md T04, T05): a full disk and a full map;
// T06/T07 (I/O errors, failed mallocs) are in injected_faults_test.cpp.
// The policy under test (portd(1) DURABILITY): a batch that cannot be
// stored gets store_full replies for its mutations while reads keep
// working; after a restart every acknowledged allocation is there, on its
// port, and no port is held twice.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
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
    if (std::getenv("PORTD_T04_UNSHARED")) {
      FAIL() << "cannot mount a tmpfs even under unshare: " << std::strerror(mount.error());
    }
    // Not root: run this test again in a mount namespace of its own, as
    // root of a user namespace, where tmpfs may be mounted (unshare(1)).
    std::string out;
    if (run_command({"/usr/bin/unshare", "-m", "--map-root-user", "/bin/true"}, &out) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(mount.error())
                   << ") and `unshare -m --map-root-user` fails, T04 NOT RUN: " << out;
    }
    const fs::path self = fs::read_symlink("/proc/self/exe");
    // run_command gives the child only PATH: pass on what the test needs.
    std::vector<std::string> argv = {
        "/usr/bin/unshare",     "-m",
        "--map-root-user",      "/usr/bin/env",
        "PORTD_T04_UNSHARED=1", "PORTD_BIN=" + portd_binary().string()};
    for (const char* name : {"TMPDIR", "HOME"}) {
      if (const char* v = std::getenv(name)) argv.push_back(std::string(name) + "=" + v);
    }
    argv.insert(argv.end(), {self.string(), "--gtest_filter=StorageFaults.T04_*"});
    int status = run_command(argv, &out, 300s);
    std::cout << "[T04] under unshare -m --map-root-user:\n" << out;
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << "T04 did not run";
    return;
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
  const std::size_t acked_while_filling = ledger.acked();
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
  std::size_t acked_after_freeing = 0;
  {
    RawClient c(layout.socket);
    std::map<std::string, std::size_t> after;
    std::size_t acked_before = ledger.acked();
    for (int b = 0; b < 10; ++b) {
      std::vector<AllocationKey> keys;
      for (int i = 0; i < 10; ++i) keys.push_back(test_key("full", "freed", b * 10 + i));
      pipeline_allocations(c, keys, ledger, &after);
    }
    acked_after_freeing = ledger.acked() - acked_before;
    EXPECT_EQ(acked_after_freeing, 100u) << codes_text(after);
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 10s), 0);
  auto problems = verify_after_restart(layout, ledger);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  report_figure(
      "T04",
      fmt::format(
          "{} acked, then {} `store_full`; {}/{} reads while full; {}/100 "
          "acked after freeing ({}); {} problems after restart",
          grouped(acked_while_filling), codes["store_full"], read_ok, reads, acked_after_freeing,
          std::getenv("PORTD_T04_UNSHARED") ? "in a user namespace through `unshare`" : "as root",
          problems.size()));
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
  report_figure("T05", fmt::format("{} allocations: {} acked, {} `store_full`; {} problems after "
                                   "restart",
                                   grouped(total), grouped(ledger.acked()),
                                   grouped(codes["store_full"]), problems.size()));
  std::cout << fmt::format("[T05] {} allocations: {} acked, {} store_full; 0 crashes\n", total,
                           ledger.acked(), codes["store_full"]);
}

}  // namespace
}  // namespace portd::testing::faults
