#include "lib/autostart.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "config.h"
#include "lib/convert.hpp"
#include "lib/transport.hpp"
#include "paths/paths.hpp"
#include "sys/flock.hpp"

namespace portd::client {
namespace {

using detail::Clock;
using detail::UniqueFd;

// How often a waiting client polls: short enough that an autostarted daemon
// is used within a few ms of binding, long enough not to spin.
constexpr auto kPollInterval = std::chrono::milliseconds(5);
// Arguments of an autostarted daemon. It exits after 15 idle minutes so that
// an on-demand daemon does not linger for the whole login session.
constexpr const char* kIdleExitSeconds = "900";

bool is_executable(const std::filesystem::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

std::filesystem::path self_executable() {
#if defined(__linux__)
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::filesystem::path(std::string(buf, static_cast<std::size_t>(n)));
#elif defined(__APPLE__)
  char buf[PATH_MAX];
  std::uint32_t size = sizeof buf;
  if (_NSGetExecutablePath(buf, &size) != 0) return {};
  return std::filesystem::path(buf);
#else
  return {};
#endif
}

std::string errno_text(int err) {
  return std::strerror(err);
}

[[noreturn]] void rethrow_core(const portd::Error& e) {
  throw detail::to_client_error(e);
}

// Holds an exclusive flock; released (with the descriptor) on destruction.
UniqueFd lock_file(const std::filesystem::path& path, Clock::time_point deadline) {
  UniqueFd fd;
  try {
    fd = sys::open_lock_file(path);
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::unavailable, fmt::format("failed to open the autostart lock '{}': {}",
                                                    path.string(), errno_text(e.code().value())));
  }
  // A deadline: a holder that hangs (stopped in a debugger, say) must not
  // hang every other client forever.
  sys::LockOutcome outcome{};
  try {
    outcome = sys::lock_until(fd.get(), deadline, kPollInterval);
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::unavailable, fmt::format("failed to lock '{}': {}", path.string(),
                                                    errno_text(e.code().value())));
  }
  if (outcome != sys::LockOutcome::locked) {
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to lock '{}': another client holds it", path.string()));
  }
  return fd;
}

// The last non-empty line the daemon wrote to its log after `offset`, for
// error messages ("" when there is none).
std::string last_log_line(const std::filesystem::path& log, std::uintmax_t offset) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) last = line;
  }
  if (last.size() > 300) last.resize(300);
  return last;
}

// Repeats on stderr the warnings the daemon we started logged after
// `offset` (e.g. a damaged store set aside and replaced by an empty
// registry, portd(1) FILES): the user ran portctl, not portd, and would
// otherwise never see them. Lines look like "<time> portd[<pid>] warning
// <domain>: <text>".
void print_startup_warnings(const std::filesystem::path& log, std::uintmax_t offset) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find("] warning ");
    if (at == std::string::npos) continue;
    std::string text = line.substr(at + 10);
    if (text.size() > 1000) text.resize(1000);
    std::fprintf(stderr, "portctl: portd warned at start-up: %s\n", text.c_str());
  }
}

// Starts `argv` detached: fork, setsid, fork again (so the daemon is no child
// of ours and never becomes a zombie we must reap), with stdin from
// /dev/null and stdout/stderr appended to `log_fd`. Only async-signal-safe
// calls happen between fork and exec, as the host program may have threads.
// Returns the daemon's pid; throws Error(unavailable) when exec fails.
pid_t spawn_detached(const std::vector<std::string>& args, int log_fd) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull) {
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to open '/dev/null': {}", errno_text(errno)));
  }
  int pipe_fds[2];
#if defined(__linux__)
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
#else
  if (::pipe(pipe_fds) != 0 || ::fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
      ::fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC) != 0) {
#endif
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to create a pipe: {}", errno_text(errno)));
  }
  UniqueFd status_read(pipe_fds[0]);
  UniqueFd status_write(pipe_fds[1]);

  pid_t child = ::fork();
  if (child < 0) {
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to start '{}': fork: {}", args[0], errno_text(errno)));
  }
  if (child == 0) {
    // Intermediate child: new session (no controlling terminal, so Ctrl-C in
    // the user's shell does not reach the daemon), then fork the daemon.
    ::setsid();
    pid_t daemon_pid = ::fork();
    if (daemon_pid != 0) {
      if (daemon_pid < 0) {
        int err = errno;
        std::int32_t msg[2] = {0, err};
        (void)!::write(status_write.get(), msg, sizeof msg);
      }
      ::_exit(daemon_pid < 0 ? 1 : 0);
    }
    std::int32_t me = static_cast<std::int32_t>(::getpid());
    (void)!::write(status_write.get(), &me, sizeof me);
    ::dup2(devnull.get(), STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    (void)!::chdir("/");  // do not pin the caller's directory (a worktree may be deleted)
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);  // drop inherited SIG_IGN
#if defined(__linux__) && defined(CLOSE_RANGE_CLOEXEC)
    // Descriptors the host program leaked (a $(...) pipe of a shell, say)
    // must not stay open for the daemon's lifetime.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#else
    for (int fd = 3; fd < 1024; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
    ::execv(argv[0], argv.data());
    std::int32_t err = errno;
    (void)!::write(status_write.get(), &err, sizeof err);
    ::_exit(127);
  }

  status_write.reset();
  int wstatus = 0;
  while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  // Protocol on the status pipe: 4 bytes daemon pid (0 when the second fork
  // failed), then 4 bytes errno only if exec failed; EOF means exec worked.
  std::int32_t words[2] = {0, 0};
  std::size_t got = 0;
  auto* bytes = reinterpret_cast<char*>(words);
  while (got < sizeof words) {
    ssize_t n = ::read(status_read.get(), bytes + got, sizeof words - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < sizeof(std::int32_t) || words[0] == 0) {
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to start '{}': fork failed: {}", args[0],
                            errno_text(got == sizeof words ? words[1] : EAGAIN)));
  }
  if (got == sizeof words) {
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to start '{}': {}", args[0], errno_text(words[1])));
  }
  return static_cast<pid_t>(words[0]);
}

}  // namespace

std::filesystem::path find_daemon_binary() {
  if (const char* env = std::getenv("PORTD_BIN"); env && *env) {
    std::filesystem::path p(env);
    if (!is_executable(p)) {
      throw Error(ErrorCode::unavailable,
                  fmt::format("failed to use PORTD_BIN '{}': not an executable file", env));
    }
    return p;
  }
  if (auto self = self_executable(); !self.empty()) {
    auto sibling = self.parent_path() / "portd";
    if (is_executable(sibling)) return sibling;
    // Run from a meson build tree (the README's quick start): <build>/client/portctl
    // starts <build>/daemon/portd, never an older installed one.
    auto build_dir = self.parent_path().parent_path();
    auto in_tree = build_dir / "daemon" / "portd";
    if (std::filesystem::exists(build_dir / "build.ninja") && is_executable(in_tree)) {
      return in_tree;
    }
  }
  if (std::filesystem::path installed = std::filesystem::path(PORTD_BINDIR) / "portd";
      is_executable(installed)) {
    return installed;
  }
  if (const char* path = std::getenv("PATH"); path && *path) {
    std::string_view rest(path);
    while (true) {
      auto colon = rest.find(':');
      std::string_view dir = rest.substr(0, colon);
      if (!dir.empty()) {
        auto candidate = std::filesystem::path(dir) / "portd";
        if (is_executable(candidate)) return candidate;
      }
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  throw Error(ErrorCode::unavailable,
              "failed to find the portd binary: install portd in $PATH or set PORTD_BIN");
}

namespace detail {

bool autostart_enabled(const Options& options) {
  if (!options.autostart) return false;
  const char* env = std::getenv("PORTD_NO_AUTOSTART");
  return env == nullptr || *env == '\0' || std::string_view(env) == "0";
}

UniqueFd connect_daemon(const std::filesystem::path& socket, const Options& options) {
  ConnectAttempt first = connect_unix(socket, options.connect_timeout);
  if (first.fd) {
    check_peer_uid(first.fd.get(), socket);
    return std::move(first.fd);
  }
  if (!nobody_listening(first.error)) {
    throw Error(ErrorCode::unavailable, fmt::format("failed to connect to portd at '{}': {}",
                                                    socket.string(), errno_text(first.error)));
  }
  if (!autostart_enabled(options)) {
    // Name the switch that is actually off: the caller's option (portctl
    // --no-autostart) or the environment.
    throw Error(ErrorCode::unavailable,
                fmt::format("failed to connect to portd at '{}': {} (autostart is off{}; start "
                            "portd first)",
                            socket.string(), errno_text(first.error),
                            options.autostart ? " by PORTD_NO_AUTOSTART" : ""));
  }

  std::filesystem::path log;
  UniqueFd lock;
  UniqueFd log_fd;
  try {
    const auto socket_dir = socket.parent_path();
    std::error_code ec;
    if (!std::filesystem::exists(socket_dir, ec)) ensure_private_dir(socket_dir);
    lock = lock_file(socket_dir / "portd.autostart.lock",
                     Clock::now() + 2 * options.autostart_timeout);

    // Someone else may have started it while we waited for the lock.
    ConnectAttempt again = connect_unix(socket, options.connect_timeout);
    if (again.fd) {
      check_peer_uid(again.fd.get(), socket);
      return std::move(again.fd);
    }

    const auto state_dir = default_state_dir();
    ensure_private_dir(state_dir);
    log = default_log_path(state_dir);
  } catch (const portd::Error& e) {
    rethrow_core(e);
  }
  log_fd.reset(::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!log_fd) {
    throw Error(ErrorCode::unavailable, fmt::format("failed to open the log file '{}': {}",
                                                    log.string(), errno_text(errno)));
  }
  struct stat log_st {};
  std::uintmax_t log_offset = ::fstat(log_fd.get(), &log_st) == 0 ? log_st.st_size : 0;

  const auto binary = options.daemon_path.empty() ? find_daemon_binary() : options.daemon_path;
  pid_t daemon_pid = spawn_detached(
      {binary.string(), "--socket", socket.string(), "--idle-exit", kIdleExitSeconds},
      log_fd.get());
  log_fd.reset();

  const auto deadline = Clock::now() + options.autostart_timeout;
  for (;;) {
    ConnectAttempt attempt = connect_unix(socket, options.connect_timeout);
    if (attempt.fd) {
      check_peer_uid(attempt.fd.get(), socket);
      // The daemon opens its store before it listens, so whatever it had
      // to warn about is in the log by now.
      print_startup_warnings(log, log_offset);
      return std::move(attempt.fd);  // the lock is released on return
    }
    if (!nobody_listening(attempt.error) && attempt.error != ETIMEDOUT) {
      throw Error(ErrorCode::unavailable,
                  fmt::format("failed to connect to portd at '{}': {} (see the log '{}')",
                              socket.string(), errno_text(attempt.error), log.string()));
    }
    // A daemon that already exited will never answer: report it at once.
    bool exited = ::kill(daemon_pid, 0) != 0 && errno == ESRCH;
    if (exited || Clock::now() >= deadline) {
      std::string why = last_log_line(log, log_offset);
      std::string what = exited ? fmt::format("'{}' exited during start-up", binary.string())
                                : fmt::format("nothing answered at '{}' within {} ms",
                                              socket.string(), options.autostart_timeout.count());
      throw Error(ErrorCode::unavailable,
                  fmt::format("failed to start portd: {}{}{} (socket '{}', log '{}')", what,
                              why.empty() ? "" : ": ", why, socket.string(), log.string()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace detail
}  // namespace portd::client
