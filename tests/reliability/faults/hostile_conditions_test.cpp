// Hostile conditions from outside the protocol (issue 13): a damaged store
// file, a watcher that never reads, a full map, idle connections that pile
// up, and start-up failures. Each case once crashed portd, grew it without
// bound, locked the user out or hid the reason from portctl.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../../integration/support/daemon_process.hpp"
#include "../../integration/support/test_util.hpp"
#include "fault_support.hpp"

namespace portd::testing::faults {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using portd::testing::describe;

std::uintmax_t size_of(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// Runs portctl (autostarting a daemon with `env`); returns its exit status
// and puts stdout+stderr into `output`.
int portctl(const std::vector<std::string>& env, const std::vector<std::string>& args,
            std::string& output) {
  const char* bin = std::getenv("PORTCTL");
  if (bin == nullptr) return -1;
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back("PORTD_BIN=" + portd_binary().string());
  argv.push_back(bin);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, &output, 60s);
}

// Stops the daemon portctl autostarted in `root` (its pid is in the state lock).
void stop_autostarted(const fs::path& root) {
  Layout layout(root);
  if (pid_t pid = daemon_pid_from_lock(layout); pid > 0) ::kill(pid, SIGTERM);
}

void fill(DaemonProcess& d, int n) {
  RawClient c(d.socket());
  for (int i = 0; i < n; ++i) {
    proto::Response r = c.call(allocate_request("app", "main", fmt::format("s{}", i)));
    ASSERT_TRUE(r.ok) << describe(r);
  }
}

TEST(HostileStore, TruncatedStoreFileIsRefusedByNameAndLeftUntouched) {
  DaemonProcess d;
  fill(d, 300);
  ASSERT_EQ(d.stop(), 0);
  const fs::path data = d.state_dir() / "data.mdb";
  fs::resize_file(data, 8192);

  pid_t pid = spawn({portd_binary().string(), "--socket", d.socket().string(), "--state-dir",
                     d.state_dir().string(), "--config", d.config_file().string()},
                    d.environment(), d.root() / "truncated.log");
  const int status = wait_pid(pid, 20s);
  const std::string log = read_file(d.root() / "truncated.log");
  EXPECT_EQ(status, 1) << log;  // not 128+SIGBUS
  EXPECT_NE(log.find("truncated"), std::string::npos) << log;
  EXPECT_NE(log.find(data.string()), std::string::npos) << log;
  EXPECT_NE(log.find("backup"), std::string::npos) << log;
  EXPECT_EQ(size_of(data), 8192u);
  EXPECT_FALSE(fs::exists(d.socket())) << "it listened before opening its store";
}

TEST(HostileStore, AutostartReportsTheDaemonsOwnStartupError) {
  DaemonProcess d;
  fill(d, 300);
  ASSERT_EQ(d.stop(), 0);
  fs::resize_file(d.state_dir() / "data.mdb", 8192);
  std::string out;
  const int status = portctl(d.environment(), {"list"}, out);
  if (status == -1) GTEST_SKIP() << "PORTCTL is not set";
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("is truncated"), std::string::npos) << out;
}

TEST(HostileStore, PartialStoreFileIsSetAsideWithAWarningPortctlShows) {
  if (std::getenv("PORTCTL") == nullptr) GTEST_SKIP() << "PORTCTL is not set";
  DaemonProcess probe_env;  // started once for its layout, then stopped
  probe_env.stop();
  const fs::path state = probe_env.state_dir();
  fs::create_directories(state);
  std::ofstream(state / "data.mdb") << std::string(100, 'x');
  std::string out;
  const int status = portctl(probe_env.environment(), {"list"}, out);
  stop_autostarted(probe_env.root());
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("warn"), std::string::npos) << out;
  EXPECT_NE(out.find("data.mdb.partial"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(state / "data.mdb.partial"));
}

TEST(HostileStore, ConfigFileNamedOnTheCommandLineMustExist) {
  TempDir dir(true);
  const fs::path missing = dir.path() / "no-such.toml";
  fs::path log = dir.path() / "portd.log";
  pid_t pid = spawn({portd_binary().string(), "--socket", (dir.path() / "s.sock").string(),
                     "--state-dir", (dir.path() / "state").string(), "--config", missing.string()},
                    {"HOME=" + dir.path().string(), "PATH=/usr/bin:/bin"}, log);
  EXPECT_EQ(wait_pid(pid, 20s), 1);
  const std::string text = read_file(log);
  EXPECT_NE(text.find(missing.string()), std::string::npos) << text;
}

// Reads replies until EOF; returns them.
std::vector<proto::Response> drain(RawClient& c) {
  std::vector<proto::Response> out;
  while (auto r = c.receive(10s)) out.push_back(std::move(*r));
  return out;
}

TEST(HostileClients, WatcherThatDoesNotReadGetsOverflowAndIsDropped) {
  DaemonProcess::Options o;
  o.config_toml = "[limits]\nmax_pending_output_bytes = 65536\n";
  DaemonProcess d(o);
  RawClient watcher(d.socket());
  int small = 4096;
  ::setsockopt(watcher.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  proto::Response ack = watcher.call(make_request(proto::Op::watch));
  ASSERT_TRUE(ack.ok) << describe(ack);

  const std::size_t rss_before = faults::rss_kib(d.pid());
  RawClient writer(d.socket());
  const std::string description(400, 'd');
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 100; ++i) {
      proto::Request req =
          allocate_request("app", fmt::format("r{}", round), fmt::format("s{}", i));
      req.description = description;
      proto::Response r = writer.call(std::move(req));
      ASSERT_TRUE(r.ok) << describe(r);
    }
  }
  // 2,000 events of about 0.5 KiB were published: far over the bound.
  EXPECT_LT(faults::rss_kib(d.pid()), rss_before + 16 * 1024)
      << "the daemon buffered for the watcher";
  std::vector<proto::Response> seen = drain(watcher);
  ASSERT_FALSE(seen.empty());
  const proto::Response& last = seen.back();
  ASSERT_TRUE(last.ok) << describe(last);
  EXPECT_EQ(as_str(field(last, "event")), "overflow");
  EXPECT_LT(seen.size(), 2000u);
  EXPECT_TRUE(watcher.closed_by_peer(5s));
  // Everyone else is still served.
  RawClient other(d.socket());
  EXPECT_TRUE(other.call(make_request(proto::Op::health)).ok);
}

TEST(HostileClients, IdleConnectionsAreClosedButWatchersStay) {
  DaemonProcess::Options o;
  o.config_toml = "[limits]\nidle_timeout_seconds = 1\nmax_connections = 8\n";
  DaemonProcess d(o);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(std::make_unique<RawClient>(d.socket()));
    ASSERT_TRUE(idle.back()->call(make_request(proto::Op::hello)).ok);
  }
  RawClient watcher(d.socket());  // over the limit while the 8 are open
  std::optional<proto::Response> busy = watcher.receive(5s);
  ASSERT_TRUE(busy && !busy->ok) << "the connection limit did not apply";

  for (auto& c : idle) EXPECT_TRUE(c->closed_by_peer(10s)) << "an idle connection stayed open";
  RawClient fresh(d.socket());
  ASSERT_TRUE(fresh.call(make_request(proto::Op::watch)).ok);
  EXPECT_FALSE(fresh.closed_by_peer(3s)) << "a watcher was timed out";
  RawClient writer(d.socket());
  ASSERT_TRUE(writer.call(allocate_request("app", "main", "web")).ok);
  std::optional<proto::Response> event = fresh.receive(5s);
  ASSERT_TRUE(event && event->ok);
  EXPECT_EQ(as_str(field(*event, "event")), "allocated");
}

TEST(HostileStore, FullMapStillTakesEveryRelease) {
  DaemonProcess::Options o;
  o.config_toml =
      "[[pool]]\nname = \"default\"\nrange = \"1024-65000\"\n"
      "[limits]\nmap_size_mib = 1\nmax_map_size_mib = 1\n";
  DaemonProcess d(o);
  RawClient c(d.socket());
  const std::string description(900, 'd');
  std::vector<std::uint64_t> ids;
  bool full = false;
  for (int i = 0; i < 20000 && !full; ++i) {
    proto::Request req = allocate_request("app", fmt::format("i{}", i), "web");
    req.description = description;
    proto::Response r = c.call(std::move(req));
    if (r.ok) {
      ids.push_back(allocation_of(r).id);
    } else {
      ASSERT_EQ(r.error->code(), ErrorCode::store_full) << describe(r);
      full = true;
    }
  }
  ASSERT_TRUE(full) << "the map never filled";
  ASSERT_GT(ids.size(), 100u);
  for (std::uint64_t id : ids) {
    proto::Request req = make_request(proto::Op::release);
    req.filter.id = id;
    proto::Response r = c.call(std::move(req));
    ASSERT_TRUE(r.ok) << "release of id " << id << ": " << describe(r);
  }
  EXPECT_TRUE(portd::testing::list_all(c).empty());
  proto::Request again = allocate_request("app", "after", "web");
  EXPECT_TRUE(c.call(std::move(again)).ok) << "space freed by releases was not reused";
}

}  // namespace
}  // namespace portd::testing::faults
