// Other users and careless environments (docs/testing.md T14-T18): file
// modes and SO_PEERCRED against another local user, the /tmp fallback
// against squatters, over-long socket paths, a second instance, and closed
// standard fds. CI runs as root, which bypasses file modes, so the daemon
// and the attacker run as non-root uids (setpriv / setresuid).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "../../integration/support/daemon_process.hpp"
#include "../../unit/support/temp_dir.hpp"
#include "fault_support.hpp"

namespace portd::testing::faults {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Numeric uids nobody else on a CI box uses (T15 needs its own /tmp/portd-UID).
constexpr uid_t kDaemonUid = 4242;
constexpr uid_t kFallbackUid = 4343;
constexpr uid_t kAttackerUid = 65534;

bool is_root() {
  return ::geteuid() == 0;
}

std::vector<std::string> as_user(uid_t uid) {
  return {"/usr/bin/setpriv", fmt::format("--reuid={}", uid), fmt::format("--regid={}", uid),
          "--clear-groups"};
}

// Runs `fn` in a child process as uid:uid; returns its exit status.
int run_as(uid_t uid, const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(120);
    }
    ::_exit(fn());
  }
  return wait_pid(pid, 30s);
}

int connect_errno(const fs::path& socket) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int e = rc == 0 ? 0 : errno;
  ::close(fd);
  return e;
}

std::string read_log(const Layout& layout) {
  std::ifstream in(layout.log);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

uid_t owner_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return static_cast<uid_t>(-1);
  return st.st_uid;
}

bool wait_for_file(const fs::path& p, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(p)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// ---------------------------------------------------------------- T14

TEST(Isolation, T14_OtherUsersCannotReachTheDaemonOrItsStore) {
  if (!is_root()) GTEST_SKIP() << "needs root to run the daemon and the attacker as other uids";
  TempDir dir;
  Layout layout(dir.path());
  layout.chown_all(kDaemonUid, kDaemonUid);
  Launch launch;
  launch.prefix = as_user(kDaemonUid);
  pid_t pid = start_daemon(layout, launch);
  Reaper reap_pid{pid};
  ASSERT_TRUE(wait_for_socket(layout.socket, 10s)) << read_log(layout);
  ASSERT_TRUE(wait_for_file(layout.state / "lock.mdb", 10s)) << read_log(layout);

  EXPECT_EQ(mode_of(layout.socket.parent_path()), 0700u);
  EXPECT_EQ(mode_of(layout.socket) & 0777, 0600u);
  EXPECT_EQ(mode_of(layout.state), 0700u);
  EXPECT_EQ(mode_of(layout.state / "data.mdb"), 0600u);
  EXPECT_EQ(mode_of(layout.state / "lock.mdb"), 0600u);
  EXPECT_EQ(owner_of(layout.state / "data.mdb"), kDaemonUid);

  // The attacker can neither reach the socket nor read the store.
  EXPECT_EQ(run_as(kAttackerUid, [&] { return connect_errno(layout.socket) == EACCES ? 0 : 1; }), 0)
      << "attacker connect was not refused with EACCES";
  EXPECT_EQ(run_as(kAttackerUid,
                   [&] {
                     int fd = ::open((layout.state / "data.mdb").c_str(), O_RDONLY);
                     return fd < 0 && errno == EACCES ? 0 : 1;
                   }),
            0)
      << "attacker could open data.mdb";

  // Even with the modes opened up (a careless chmod), SO_PEERCRED keeps the
  // attacker out: a permission_denied reply, then EOF, nothing processed.
  ::chmod(dir.path().c_str(), 0711);  // the temp root; only traversal is needed
  fs::permissions(layout.runtime, fs::perms::all);
  fs::permissions(layout.socket.parent_path(), fs::perms::all);
  fs::permissions(layout.socket, fs::perms::all);
  int outcome = run_as(kAttackerUid, [&]() -> int {
    try {
      RawClient c(layout.socket);
      c.send(allocate_request("evil", "attacker", "web"));
      auto r = c.receive(5s);
      if (!r) return 2;
      if (r->ok || r->error->code() != ErrorCode::permission_denied) return 3;
      if (!c.closed_by_peer(5s)) return 4;
      return 0;
    } catch (const std::exception&) {
      return 5;
    }
  });
  EXPECT_EQ(outcome, 0) << "2: no reply, 3: not permission_denied, 4: not closed, 5: no connect";
  EXPECT_TRUE(alive(pid));

  // No abstract socket that would bypass all of the above.
  std::string ss;
  EXPECT_EQ(run_command({"/usr/bin/ss", "-xlp"}, &ss), 0);
  EXPECT_EQ(ss.find("@portd"), std::string::npos) << ss;
  EXPECT_NE(ss.find(layout.socket.string()), std::string::npos) << "ss shows no socket at all?";

  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 10s), 0);
  std::string dump;
  EXPECT_EQ(run_command({"/usr/bin/mdb_dump", "-p", "-a", layout.state.string()}, &dump), 0);
  EXPECT_EQ(dump.find("evil"), std::string::npos) << "the attacker's request was stored";
  std::cout << "[T14] modes 0700/0600/0700/0600; attacker connect EACCES, data.mdb EACCES; with "
               "0777 modes: permission_denied + close, 0 requests stored; no abstract socket\n";
}

// ---------------------------------------------------------------- T15

struct Squat {
  std::string name;
  std::function<void(const fs::path& where, const fs::path& scratch)> make;
};

std::string describe_path(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return "absent";
  std::string s =
      fmt::format("mode {:o} uid {} type {:o}", st.st_mode & 07777, st.st_uid, st.st_mode & S_IFMT);
  if (S_ISDIR(st.st_mode)) {
    for (const auto& e : fs::directory_iterator(p)) s += " " + e.path().filename().string();
  }
  return s;
}

TEST(Isolation, T15_SquattedTmpFallbackIsRefused) {
  if (!is_root()) GTEST_SKIP() << "needs root to run the daemon and the squatter as other uids";
  const fs::path fallback = fmt::format("/tmp/portd-{}", kFallbackUid);
  std::vector<Squat> squats = {
      {"0777 dir owned by another uid",
       [](const fs::path& w, const fs::path&) {
         fs::create_directory(w);
         (void)!::chown(w.c_str(), kAttackerUid, kAttackerUid);
         ::chmod(w.c_str(), 0777);
       }},
      {"symlink to a dir",
       [](const fs::path& w, const fs::path& scratch) {
         fs::path target = scratch / "target";
         fs::create_directory(target);
         (void)!::chown(target.c_str(), kFallbackUid, kFallbackUid);
         ::chmod(target.c_str(), 0700);
         fs::create_directory_symlink(target, w);
       }},
      {"regular file",
       [](const fs::path& w, const fs::path&) {
         std::ofstream(w) << "squat";
         (void)!::chown(w.c_str(), kAttackerUid, kAttackerUid);
       }},
      {"0755 dir owned by the user",
       [](const fs::path& w, const fs::path&) {
         fs::create_directory(w);
         (void)!::chown(w.c_str(), kFallbackUid, kFallbackUid);
         ::chmod(w.c_str(), 0755);
       }},
  };
  std::error_code ec;
  for (const Squat& squat : squats) {
    SCOPED_TRACE(squat.name);
    fs::remove_all(fallback, ec);
    TempDir dir;
    TempDir scratch;
    ::chmod(scratch.path().c_str(), 0755);
    Layout layout(dir.path());
    layout.chown_all(kFallbackUid, kFallbackUid);
    squat.make(fallback, scratch.path());
    const std::string before = describe_path(fallback);
    const std::string target_before = describe_path(scratch.path() / "target");
    Launch launch;
    launch.prefix = as_user(kFallbackUid);
    launch.use_socket_option = false;
    launch.runtime_env = false;
    pid_t pid = start_daemon(layout, launch);
    Reaper reap_pid{pid};
    int status = wait_exit(pid, 15s);
    if (status == -1) kill_and_reap(pid);
    std::string log = read_log(layout);
    EXPECT_NE(status, 0) << log;
    EXPECT_NE(status, -1) << "portd kept running on a squatted fallback";
    EXPECT_NE(log.find(fallback.string()), std::string::npos) << "message names no path: " << log;
    EXPECT_EQ(describe_path(fallback), before) << "the squatted path was changed";
    EXPECT_EQ(describe_path(scratch.path() / "target"), target_before)
        << "the symlink's target was changed";
    std::cout << fmt::format("[T15] {}: exit {}: {}", squat.name, status,
                             log.substr(0, log.find('\n') + 1));
    fs::remove_all(fallback, ec);
  }
}

TEST(Isolation, T15_ClientRefusesAServerOfAnotherUid) {
  if (!is_root()) GTEST_SKIP() << "needs root to run the client as another uid";
  const char* portctl = std::getenv("PORTCTL");
  if (!portctl || !fs::exists(portctl)) GTEST_SKIP() << "PORTCTL not set: portctl is not built";
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const fs::path socket = dir.path() / "fake.sock";
  // The fake daemon: root's socket, open to everyone, recording what it gets.
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  ::chmod(socket.c_str(), 0777);
  std::atomic<std::size_t> received{0};
  std::atomic<int> accepted{0};
  std::thread server([&] {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    int fd = ::accept(listener, nullptr, nullptr);
    ++accepted;
    char buf[4096];
    for (;;) {
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 3000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      received += static_cast<std::size_t>(n);
    }
    ::close(fd);
  });
  std::string out;
  std::vector<std::string> argv = as_user(kFallbackUid);
  argv.insert(argv.end(), {"/usr/bin/env", "HOME=/nonexistent", "PORTD_NO_AUTOSTART=1", portctl,
                           "--socket", socket.string(), "--no-autostart", "health"});
  int status = run_command(argv, &out, 20s);
  server.join();
  ::close(listener);
  EXPECT_NE(status, 0) << out;
  EXPECT_EQ(accepted.load(), 1) << "portctl never connected: the test proves nothing. " << out;
  EXPECT_EQ(received.load(), 0u) << "portctl sent bytes to a server of another uid";
  std::cout << fmt::format("[T15] portctl vs a root-owned fake server: exit {}, {} bytes sent: {}",
                           status, received.load(), out);
}

// ---------------------------------------------------------------- T16

std::set<std::string> listing(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(it->path().string());
  }
  return out;
}

TEST(Isolation, T16_OverlongSocketPathIsRefusedNotTruncated) {
  TempDir dir;
  Layout layout(dir.path());
  fs::path deep = dir.path() / "run";
  while (deep.string().size() < 110) deep /= "dddddddddd";
  fs::create_directories(deep);
  ::chmod(deep.c_str(), 0700);
  const fs::path socket = deep / "portd.sock";
  ASSERT_GT(socket.string().size(), 107u);
  const auto before = listing(dir.path() / "run");
  const auto tmp_before = listing("/tmp");
  Launch launch;
  launch.use_socket_option = false;
  launch.extra_args = {"--socket", socket.string()};
  pid_t pid = start_daemon(layout, launch);
  Reaper reap_pid{pid};
  int status = wait_exit(pid, 10s);
  if (status == -1) kill_and_reap(pid);
  std::string log;
  {
    std::ifstream in(layout.log);
    log.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(status, 1) << log;
  EXPECT_NE(log.find("too long"), std::string::npos) << log;
  EXPECT_EQ(listing(dir.path() / "run"), before) << "something was created next to the socket";
  for (std::size_t cut : {107u, 108u}) {
    EXPECT_FALSE(fs::exists(fs::path(socket.string().substr(0, cut))))
        << "a truncated socket exists";
  }
  auto tmp_after = listing("/tmp");
  for (const std::string& p : tmp_after) {
    if (!tmp_before.contains(p) && p.find(".sock") != std::string::npos &&
        p.rfind(dir.path().string(), 0) != 0) {
      ADD_FAILURE() << "new socket in /tmp: " << p;
    }
  }
  std::cout << fmt::format("[T16] {}-byte socket path: exit {}: {}", socket.string().size(), status,
                           log.substr(0, log.find('\n') + 1));
}

// ---------------------------------------------------------------- T17

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(Isolation, T17_SecondInstanceExitsOneAndLeavesTheFirstAlone) {
  TempDir dir(true);
  Layout layout(dir.path());
  pid_t first = start_daemon(layout);
  Reaper reap_first{first};
  ASSERT_TRUE(wait_for_socket(layout.socket, 10s));
  ASSERT_TRUE(RawClient(layout.socket).call(make_request(proto::Op::health)).ok);
  const ino_t inode = inode_of(layout.socket);

  // Same socket and state directory.
  pid_t second = start_daemon(layout);
  Reaper reap_second{second};
  EXPECT_EQ(wait_exit(second, 10s), 1);
  // Another socket, same state directory: the state lock refuses it.
  Launch other;
  other.use_socket_option = false;
  other.extra_args = {"--socket", (layout.runtime / "other.sock").string()};
  pid_t third = start_daemon(layout, other);
  Reaper reap_third{third};
  EXPECT_EQ(wait_exit(third, 10s), 1);
  EXPECT_FALSE(fs::exists(layout.runtime / "other.sock")) << "the refused daemon left its socket";

  EXPECT_EQ(inode_of(layout.socket), inode) << "the first daemon's socket was replaced";
  EXPECT_TRUE(alive(first));
  Ledger ledger;
  std::map<std::string, std::size_t> codes;
  {
    RawClient c(layout.socket);
    for (std::size_t n = 0; n < 1000; n += 100) {
      std::vector<AllocationKey> keys;
      for (std::size_t i = n; i < n + 100; ++i) keys.push_back(test_key("single", "i", i));
      pipeline_allocations(c, keys, ledger, &codes);
    }
  }
  EXPECT_EQ(ledger.acked(), 1000u);
  ::kill(first, SIGTERM);
  EXPECT_EQ(wait_exit(first, 10s), 0);
  auto problems = verify_after_restart(layout, ledger);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  std::cout << fmt::format(
      "[T17] 2nd and 3rd instance exit 1; first socket untouched; {}/1000 ops\n", ledger.acked());
}

// ---------------------------------------------------------------- T18

TEST(Isolation, T18_ClosedStdFdsNeverBecomeTheStore) {
  TempDir dir(true);
  Layout layout(dir.path());
  std::vector<std::string> argv = daemon_argv(layout);
  std::vector<std::string> env = daemon_env(layout);
  std::vector<char*> args, envp;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    for (int fd = 0; fd <= 2; ++fd) ::close(fd);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  Reaper reap_pid{pid};
  ASSERT_TRUE(wait_for_socket(layout.socket, 10s));
  ASSERT_TRUE(RawClient(layout.socket).call(make_request(proto::Op::health)).ok);
  int store_fd = -1;
  std::string std_targets;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid))) {
    std::error_code ec;
    fs::path target = fs::read_symlink(e.path(), ec);
    int fd = std::stoi(e.path().filename().string());
    if (fd <= 2) std_targets += fmt::format("{}->{} ", fd, target.string());
    if (target == layout.state / "data.mdb" || target == layout.state / "lock.mdb") {
      EXPECT_GT(fd, 2) << target;
      if (target.filename() == "data.mdb") store_fd = fd;
    }
  }
  EXPECT_GT(store_fd, 2);
  Ledger ledger;
  {
    RawClient c(layout.socket);
    for (std::size_t n = 0; n < 1000; n += 100) {
      std::vector<AllocationKey> keys;
      for (std::size_t i = n; i < n + 100; ++i) keys.push_back(test_key("stdfd", "i", i));
      pipeline_allocations(c, keys, ledger, nullptr);
    }
  }
  EXPECT_EQ(ledger.acked(), 1000u);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 10s), 0);
  EXPECT_EQ(mdb_dump_status(layout.state), 0);
  auto problems = verify_after_restart(layout, ledger);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  std::cout << fmt::format(
      "[T18] started with fds 0-2 closed: {}; data.mdb is fd {}; {}/1000 "
      "ops; mdb_dump ok\n",
      std_targets, store_fd, ledger.acked());
}

}  // namespace
}  // namespace portd::testing::faults
