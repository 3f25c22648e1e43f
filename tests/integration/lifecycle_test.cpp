// The daemon's life: restarts keep what was acknowledged, single instance,
// idle exit, SIGHUP reload, socket activation, command line, closed stdio.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"
#include "support/test_util.hpp"

namespace portd::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<Allocation> allocate_some(RawClient& c, const std::string& app, int n) {
  std::vector<Allocation> out;
  for (int i = 0; i < n; ++i) {
    proto::Response r = c.call(allocate_request(app, "main", "s" + std::to_string(i)));
    if (!r.ok) throw std::runtime_error(describe(r));
    out.push_back(allocation_of(r));
  }
  return out;
}

// Shared by the SIGTERM and SIGKILL variants: what was acknowledged is
// there after the restart, and ids continue above every id ever used
// (including released ones).
void check_restart(bool clean) {
  DaemonProcess d;
  std::vector<Allocation> kept;
  std::uint64_t highest = 0;
  {
    RawClient c(d.socket());
    kept = allocate_some(c, "restart", 20);
    Filter f;
    f.id = kept.back().id;
    ASSERT_TRUE(c.call([&] {
                   proto::Request q = make_request(proto::Op::release);
                   q.filter = f;
                   return q;
                 }())
                    .ok);
    highest = kept.back().id;
    kept.pop_back();
  }
  if (clean) {
    EXPECT_EQ(d.stop(), 0) << d.log();
    EXPECT_FALSE(fs::exists(d.socket())) << "a clean stop removes its own socket";
  } else {
    d.kill();
    EXPECT_TRUE(fs::exists(d.socket())) << "SIGKILL should leave the socket file behind";
  }
  d.start();
  RawClient c(d.socket());
  EXPECT_EQ(list_all(c), kept);
  proto::Response r = c.call(allocate_request("restart", "main", "new"));
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_GT(allocation_of(r).id, highest) << "an id was reused after restart";
}

TEST(Lifecycle, RestartAfterSigtermKeepsAllocations) {
  check_restart(true);
}

TEST(Lifecycle, RestartAfterSigkillKeepsAllocationsAndReplacesTheStaleSocket) {
  check_restart(false);
}

TEST(Lifecycle, SecondDaemonOnTheSameSocketExitsOneAndLeavesTheFirstAlone) {
  DaemonProcess first;
  TempDir other_state;
  fs::path log = first.root() / "second.log";
  pid_t second = spawn({portd_binary().string(), "--socket", first.socket().string(), "--state-dir",
                        other_state.path().string(), "--config", first.config_file().string()},
                       first.environment(), log);
  EXPECT_EQ(wait_pid(second, 20s), 1);
  std::string msg = read_file(log);
  EXPECT_NE(msg.find("already serving"), std::string::npos) << msg;
  EXPECT_TRUE(fs::exists(first.socket())) << "the second daemon removed the first one's socket";
  RawClient c(first.socket());
  proto::Response r = c.call(make_request(proto::Op::hello));
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "pid")), static_cast<std::uint64_t>(first.pid()));
}

TEST(Lifecycle, SecondDaemonOnTheSameStateDirExitsOne) {
  DaemonProcess first;
  fs::path other_socket = first.root() / "runtime" / "other" / "portd.sock";
  fs::path log = first.root() / "second.log";
  pid_t second = spawn({portd_binary().string(), "--socket", other_socket.string(), "--state-dir",
                        first.state_dir().string(), "--config", first.config_file().string()},
                       first.environment(), log);
  EXPECT_EQ(wait_pid(second, 20s), 1);
  std::string msg = read_file(log);
  EXPECT_NE(msg.find("state directory"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(first.pid())), std::string::npos)
      << "the message should name the running daemon's pid: " << msg;
  EXPECT_FALSE(fs::exists(other_socket)) << "the refused daemon left its socket behind";
  RawClient c(first.socket());
  EXPECT_TRUE(c.call(make_request(proto::Op::health)).ok);
}

TEST(Lifecycle, IdleExitStopsWithoutClientsAndRemovesItsSocket) {
  DaemonProcess::Options o;
  o.extra_args = {"--idle-exit", "1"};
  auto started = std::chrono::steady_clock::now();
  DaemonProcess d(o);
  EXPECT_EQ(d.wait_exit(20s), 0) << d.log();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms) << "exited before the idle time";
  EXPECT_FALSE(fs::exists(d.socket())) << "idle exit left its own socket behind";
}

TEST(Lifecycle, IdleExitWaitsWhileAClientIsConnected) {
  DaemonProcess::Options o;
  o.extra_args = {"--idle-exit", "1"};
  DaemonProcess d(o);
  {
    RawClient c(d.socket());
    ASSERT_TRUE(c.call(make_request(proto::Op::health)).ok);
    // Three idle periods with the connection open: it must not exit. A
    // negative check needs some wall time; it cannot be polled for.
    EXPECT_EQ(d.wait_exit(3s), -1) << "exited with a client connected\n" << d.log();
    proto::Response r = c.call(make_request(proto::Op::health));
    EXPECT_TRUE(r.ok) << describe(r);
  }
  EXPECT_EQ(d.wait_exit(20s), 0) << d.log();
}

std::set<std::string> pool_names(RawClient& c) {
  proto::Response r = c.call(make_request(proto::Op::stats));
  if (!r.ok) throw std::runtime_error(describe(r));
  std::set<std::string> out;
  const msgpack::object& pools = field(r, "pools");
  for (std::uint32_t i = 0; i < pools.via.array.size; ++i) {
    out.insert(as_str(field(pools.via.array.ptr[i], "name")));
  }
  return out;
}

TEST(Lifecycle, SighupReloadsTheConfigAndKeepsItOnError) {
  DaemonProcess::Options o;
  o.config_toml = "[[pool]]\nname = \"default\"\nrange = \"21000-21009\"\n";
  DaemonProcess d(o);
  RawClient c(d.socket());
  ASSERT_EQ(pool_names(c), (std::set<std::string>{"default"}));

  {
    std::ofstream(d.config_file(), std::ios::trunc)
        << "[[pool]]\nname = \"default\"\nrange = \"21000-21009\"\n"
        << "[[pool]]\nname = \"extra\"\nrange = \"21010-21019\"\nservices = [\"web\"]\n";
  }
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return pool_names(c).count("extra") == 1; }))
      << "the new pool never appeared\n"
      << d.log();
  proto::Response r = c.call(allocate_request("shop", "main", "web"));
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(allocation_of(r).pool, "extra");

  { std::ofstream(d.config_file(), std::ios::trunc) << "[[pool]\nname = \n"; }
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] {
    return d.log().find("kept the old configuration") != std::string::npos;
  })) << d.log();
  EXPECT_TRUE(d.running()) << "a broken config on reload must not stop the daemon";
  EXPECT_EQ(pool_names(c), (std::set<std::string>{"default", "extra"}));
  EXPECT_TRUE(c.call(make_request(proto::Op::health)).ok);
}

std::optional<fs::path> find_socket_activate() {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/lib/systemd", "/lib/systemd"}) {
    fs::path p = fs::path(dir) / "systemd-socket-activate";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

// systemd-socket-activate binds the socket, waits for the first client,
// then execs portd with the socket as fd 3 (LISTEN_FDS/LISTEN_PID), like a
// user unit with Accept=no. It passes on only the variables named with -E.
TEST(Lifecycle, SocketActivationServesTheInheritedSocketAndNeverUnlinksIt) {
  std::optional<fs::path> activate = find_socket_activate();
  if (!activate) GTEST_SKIP() << "systemd-socket-activate not installed";
  TempDir root(true);
  fs::path runtime = root.path() / "runtime";
  fs::create_directories(runtime / "portd");
  fs::permissions(runtime, fs::perms::owner_all);
  fs::permissions(runtime / "portd", fs::perms::owner_all);
  fs::path sock = runtime / "portd" / "portd.sock";
  fs::path state = root.path() / "state" / "portd";
  fs::path log = root.path() / "activate.log";
  std::vector<std::string> env = {
      "HOME=" + root.path().string(),
      "XDG_RUNTIME_DIR=" + runtime.string(),
      "XDG_STATE_HOME=" + (root.path() / "state").string(),
      "XDG_CONFIG_HOME=" + (root.path() / "config").string(),
      "PATH=/usr/bin:/bin",
  };
  pid_t pid = spawn({activate->string(), "-l", sock.string(), "-E", "HOME", "-E", "XDG_RUNTIME_DIR",
                     "-E", "XDG_STATE_HOME", "-E", "XDG_CONFIG_HOME", portd_binary().string(),
                     "--state-dir", state.string(), "--idle-exit", "1", "--log-level", "debug"},
                    env, log);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && wait_pid(pid, 0ms) == -1) {
        ::kill(pid, SIGKILL);
        wait_pid(pid, 10s);
      }
    }
  } reaper{pid};
  ASSERT_TRUE(wait_until([&] { return fs::exists(sock); })) << read_file(log);

  {
    // The first connection starts portd; it queues in the backlog meanwhile.
    RawClient c(sock);
    proto::Response r = c.call(make_request(proto::Op::hello));
    ASSERT_TRUE(r.ok) << describe(r) << "\n" << read_file(log);
    EXPECT_EQ(as_u64(field(r, "pid")), static_cast<std::uint64_t>(pid))
        << "portd should run in place of systemd-socket-activate";
    r = c.call(allocate_request("shop", "main", "web"));
    ASSERT_TRUE(r.ok) << describe(r);
  }
  int status = wait_pid(pid, 30s);
  reaper.pid = -1;
  std::string text = read_file(log);
  EXPECT_EQ(status, 0) << text;
  EXPECT_NE(text.find("socket activation"), std::string::npos) << text;
  EXPECT_TRUE(fs::exists(sock)) << "portd unlinked the socket it inherited\n" << text;
  EXPECT_TRUE(fs::exists(state / "data.mdb")) << "the state went somewhere else";
  EXPECT_FALSE(fs::exists(sock.string() + ".lock")) << "an activated daemon binds nothing";
}

int run_and_wait(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv = {portd_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  TempDir home;
  pid_t pid = spawn(argv, {"HOME=" + home.path().string(), "PATH=/usr/bin:/bin"}, log);
  return wait_pid(pid, 20s);
}

TEST(Lifecycle, CommandLine) {
  TempDir dir;
  EXPECT_EQ(run_and_wait({"--help"}, dir.path() / "help"), 0);
  EXPECT_NE(read_file(dir.path() / "help").find("--idle-exit"), std::string::npos);
  EXPECT_EQ(run_and_wait({"--version"}, dir.path() / "version"), 0);
  EXPECT_EQ(read_file(dir.path() / "version").rfind("portd ", 0), 0u)
      << read_file(dir.path() / "version");
  EXPECT_EQ(run_and_wait({"--no-such-flag"}, dir.path() / "bad"), 2);
  EXPECT_EQ(run_and_wait({"--idle-exit", "soon"}, dir.path() / "bad2"), 2);
  EXPECT_EQ(run_and_wait({"--log-level", "loud"}, dir.path() / "bad3"), 2);
}

// Runs portd with fds 0, 1 and 2 closed, as some launchers do.
pid_t spawn_without_stdio(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env) {
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(0);
    ::close(1);
    ::close(2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

TEST(Lifecycle, WorksWithStdioClosedAndKeepsTheDatabaseOffFdsZeroToTwo) {
  TempDir root(true);
  fs::path runtime = root.path() / "runtime";
  fs::create_directories(runtime);
  fs::permissions(runtime, fs::perms::owner_all);
  fs::path sock = runtime / "portd" / "portd.sock";
  fs::path state = root.path() / "state" / "portd";
  pid_t pid = spawn_without_stdio(
      {portd_binary().string(), "--socket", sock.string(), "--state-dir", state.string()},
      {"HOME=" + root.path().string(), "XDG_CONFIG_HOME=" + (root.path() / "config").string(),
       "PATH=/usr/bin:/bin"});
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid <= 0) return;  // never kill(-1, ...)
      ::kill(pid, SIGKILL);
      wait_pid(pid, 10s);
    }
  } reaper{pid};
  ASSERT_TRUE(wait_for_socket(sock, 20s)) << "portd did not start with stdio closed";
  RawClient c(sock);
  proto::Response r = c.call(allocate_request("shop", "main", "web"));
  ASSERT_TRUE(r.ok) << describe(r);

  bool saw_data = false;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    fs::path target = fs::read_symlink(e.path(), ec);
    if (ec) continue;
    int fd = std::stoi(e.path().filename().string());
    bool is_state = target.parent_path() == state;
    if (target.filename() == "data.mdb" && is_state) saw_data = true;
    if (fd <= 2) {
      EXPECT_FALSE(is_state) << "fd " << fd << " is " << target;
      EXPECT_NE(target.filename(), "portd.sock") << "fd " << fd << " is the socket";
    }
  }
  EXPECT_TRUE(saw_data) << "data.mdb is not open at all";
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_pid(pid, 20s), 0);
  reaper.pid = -1;
}

}  // namespace
}  // namespace portd::testing
