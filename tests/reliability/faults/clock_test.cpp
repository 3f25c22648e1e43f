// T22 leases under a moved clock (docs/testing.md, F21). portd runs with
// libfaketime preloaded, its wall clock read from a file the test rewrites
// (an offset from the real time, re-read on every call), while its
// monotonic clock stays real: the threat is a stepped wall clock, and
// libuv's timers must keep working. A lease (`portctl allocate --ttl`,
// portctl(1)) must
//   - expire on time: `gc` keeps it a minute before its end and releases it
//     a minute after;
//   - survive restarts with its end unchanged;
//   - never come back once released, and never end earlier because the
//     clock stepped back (its end is absolute, so a step back only delays
//     the moment `gc` may release it).
// Skips, saying so, when libfaketime is not installed (packages faketime,
// libfaketime).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "../../integration/support/daemon_process.hpp"
#include "../../unit/support/temp_dir.hpp"
#include "../support/figure.hpp"
#include "fault_support.hpp"
#include "proto/codec.hpp"

namespace portd::testing::faults {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using reliability::report_figure;

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;
// Margin around each lease's end: far more than the test's real duration.
constexpr std::int64_t kMargin = 60;

fs::path find_libfaketime() {
  for (const char* dir :
       {"/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime",
        "/usr/lib/faketime", "/usr/lib64/faketime", "/usr/local/lib/faketime"}) {
    fs::path p = fs::path(dir) / "libfaketimeMT.so.1";
    if (fs::exists(p)) return p;
  }
  return {};
}

// A daemon whose wall clock is the real one plus an offset the test sets.
class ClockedDaemon {
 public:
  ClockedDaemon(const fs::path& root, const fs::path& libfaketime)
      : layout_(root), clock_file_(root / "faketime.rc") {
    layout_.write_config("[[pool]]\nname = \"default\"\nrange = \"23000-23099\"\n");
    set_offset(0);
    launch_.extra_env = {
        "LD_PRELOAD=" + libfaketime.string(), "FAKETIME_TIMESTAMP_FILE=" + clock_file_.string(),
        "FAKETIME_NO_CACHE=1",             // re-read the file at every clock call
        "FAKETIME_DONT_FAKE_MONOTONIC=1",  // only the wall clock steps
    };
  }
  ~ClockedDaemon() {
    if (pid_ > 0) kill_and_reap(pid_);
  }
  ClockedDaemon(const ClockedDaemon&) = delete;
  ClockedDaemon& operator=(const ClockedDaemon&) = delete;

  /// Moves the daemon's wall clock to real time + `seconds`.
  void set_offset(std::int64_t seconds) {
    fs::path tmp = clock_file_;
    tmp += ".new";
    std::ofstream(tmp) << fmt::format("{:+d}\n", seconds);
    fs::rename(tmp, clock_file_);
    offset_ = seconds;
  }
  std::int64_t offset() const noexcept { return offset_; }

  void start() {
    pid_ = start_daemon(layout_, launch_);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!alive(pid_)) break;
      if (wait_for_socket(layout_.socket, 20ms)) return;
    }
    throw std::runtime_error("portd did not start under libfaketime:\n" + read_file(layout_.log));
  }
  /// SIGTERM; returns the exit status.
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = wait_exit(pid_, 10s);
    if (status == -1) kill_and_reap(pid_);
    pid_ = -1;
    return status;
  }

  Allocation allocate(const std::string& service, std::int64_t ttl) {
    proto::Request req = allocate_request("t22", "lease", service);
    req.ttl_seconds = ttl;
    proto::Response r = RawClient(layout_.socket).call(req);
    if (!r.ok) throw std::runtime_error("allocate failed: " + std::string(r.error->what()));
    return proto::unpack_allocation(*r.find("allocation"));
  }
  void gc() {
    proto::Response r = RawClient(layout_.socket).call(make_request(proto::Op::gc));
    if (!r.ok) throw std::runtime_error("gc failed: " + std::string(r.error->what()));
  }
  /// The listed allocation of `service`, if any.
  std::optional<Allocation> find(const std::string& service) {
    for (const Allocation& a : list_all(layout_.socket)) {
      if (a.service == service) return a;
    }
    return std::nullopt;
  }

 private:
  Layout layout_;
  fs::path clock_file_;
  Launch launch_;
  pid_t pid_ = -1;
  std::int64_t offset_ = 0;
};

std::int64_t real_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Clock, T22_LeasesUnderAMovedClock) {
  const fs::path lib = find_libfaketime();
  if (lib.empty()) GTEST_SKIP() << "libfaketime is not installed, T22 NOT RUN";
  TempDir dir(true);
  ClockedDaemon d(dir.path(), lib);
  d.start();

  // The daemon must really run on the faked clock, or nothing below means
  // anything: a lease taken a day ahead starts a day ahead.
  d.set_offset(kDay);
  Allocation probe = d.allocate("probe", kHour);
  EXPECT_NEAR(static_cast<double>(probe.created_at), static_cast<double>(real_now() + kDay),
              static_cast<double>(kMargin))
      << "portd does not see libfaketime's clock";
  d.set_offset(0);

  const Allocation hour = d.allocate("hour", kHour);
  const Allocation day = d.allocate("day", kDay);
  ASSERT_NEAR(static_cast<double>(hour.expires_at), static_cast<double>(real_now() + kHour),
              static_cast<double>(kMargin));

  // On time: kept a minute before the end, released a minute after.
  d.set_offset(kHour - kMargin);
  d.gc();
  ASSERT_TRUE(d.find("hour")) << "a lease was released a minute early";
  d.set_offset(kHour + kMargin);
  d.gc();
  EXPECT_FALSE(d.find("hour")) << "a lease outlived its end by a minute after gc";
  ASSERT_TRUE(d.find("day"));

  // A restart keeps the lease and its end.
  ASSERT_EQ(d.stop(), 0);
  d.start();
  std::optional<Allocation> after = d.find("day");
  ASSERT_TRUE(after) << "a lease did not survive a restart";
  EXPECT_EQ(after->expires_at, day.expires_at);
  EXPECT_EQ(after->port, day.port);
  EXPECT_FALSE(d.find("hour")) << "a released lease came back after a restart";

  // The clock steps back a day: nothing released comes back, nothing held
  // ends earlier, with gc and across a restart.
  d.set_offset(-kDay);
  d.gc();
  EXPECT_FALSE(d.find("hour")) << "a clock step back resurrected a released lease";
  after = d.find("day");
  ASSERT_TRUE(after) << "a clock step back released a lease";
  EXPECT_EQ(after->expires_at, day.expires_at) << "a clock step back moved a lease's end";
  ASSERT_EQ(d.stop(), 0);
  d.start();
  d.gc();
  after = d.find("day");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->expires_at, day.expires_at);

  // Forward again: still held until its end, released after it.
  d.set_offset(kDay - kMargin);
  d.gc();
  ASSERT_TRUE(d.find("day")) << "after a step back, a lease ended early";
  d.set_offset(kDay + kMargin);
  d.gc();
  EXPECT_FALSE(d.find("day")) << "a lease outlived its end after a step back";
  EXPECT_EQ(d.stop(), 0);
  // Every step above asserts: the sentence holds exactly when none failed.
  report_figure("T22", ::testing::Test::HasFailure()
                           ? std::string("FAILED, see the test log")
                           : fmt::format("leases released within {} s of their end, kept across 2 "
                                         "restarts and a 1 day step back with their end unchanged",
                                         kMargin));
  std::cout << fmt::format(
      "[T22] leases of 1 h and 1 d released within {} s of their end, kept across 2 restarts and "
      "a 1 d step back with their end unchanged\n",
      kMargin);
}

}  // namespace
}  // namespace portd::testing::faults
