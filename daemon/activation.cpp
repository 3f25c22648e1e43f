#include "activation.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "config.h"
#include "log.hpp"
#include "model/error.hpp"
#include "paths/paths.hpp"
#include "sys/flock.hpp"
#include "sys/unique_fd.hpp"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif
#if HAVE_LAUNCHD
#include <launch.h>
#endif

namespace portd::daemon {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START
constexpr int kLockWaitMs = 3000;

bool is_listening_unix_stream(int fd) {
#if HAVE_LIBSYSTEMD
  return sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) > 0;
#else
  int type = 0, listening = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof(listening);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
    return false;
  }
  sockaddr_storage ss{};
  len = sizeof(ss);
  return ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_UNIX;
#endif
}

// sd_listen_fds(3): the fds start at 3 and are ours only if LISTEN_PID is
// our pid (the check PipeWire's copy skips).
int systemd_fd_count() {
#if HAVE_LIBSYSTEMD
  int n = sd_listen_fds(1);
  return n < 0 ? 0 : n;
#else
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds) return 0;
  char* end = nullptr;
  long p = std::strtol(pid, &end, 10);
  if (*end != '\0' || p != static_cast<long>(::getpid())) return 0;
  long n = std::strtol(fds, &end, 10);
  if (*end != '\0' || n <= 0 || n > 64) return 0;
  for (int fd = kListenFdsStart; fd < kListenFdsStart + n; ++fd) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return static_cast<int>(n);
#endif
}

std::filesystem::path socket_name(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.sun_path[0] == '\0') {
    return {};
  }
  return std::filesystem::path(
      std::string(addr.sun_path, ::strnlen(addr.sun_path, sizeof(addr.sun_path))));
}

std::optional<Listener> from_systemd() {
  int n = systemd_fd_count();
  for (int fd = kListenFdsStart; fd < kListenFdsStart + n; ++fd) {
    if (is_listening_unix_stream(fd)) return Listener{fd, true, socket_name(fd)};
  }
  if (n > 0) {
    throw Error(
        ErrorCode::internal,
        fmt::format("systemd passed {} socket(s) but none is a listening Unix stream socket", n));
  }
  return std::nullopt;
}

std::optional<Listener> from_launchd() {
#if HAVE_LAUNCHD
  int* fds = nullptr;
  std::size_t count = 0;
  int rc = launch_activate_socket("Listeners", &fds, &count);
  if (rc == 0 && count > 0) {
    Listener l{fds[0], true, socket_name(fds[0])};
    for (std::size_t i = 1; i < count; ++i) ::close(fds[i]);
    std::free(fds);
    return l;
  }
  std::free(fds);
#endif
  return std::nullopt;
}

sockaddr_un make_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& s = path.native();
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);  // length checked by the caller
  return addr;
}

// Someone answering means a live daemon; ECONNREFUSED means a stale file.
bool someone_listens(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

sys::UniqueFd lock_file(const std::filesystem::path& path) {
  try {
    return sys::open_lock_file(path);
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::internal, fmt::format("failed to open lock file '{}': {}", path.string(),
                                                 std::strerror(e.code().value())));
  }
}

// lock_until for a lock the daemon cannot start without; flock failures
// other than contention become Error(internal) naming the file.
sys::LockOutcome lock_or_throw(const sys::UniqueFd& fd, const std::filesystem::path& path,
                               int wait_ms, const std::function<bool()>& give_up = {}) {
  try {
    return sys::lock_until(fd.get(),
                           std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms),
                           std::chrono::milliseconds(10), give_up);
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::internal, fmt::format("failed to lock '{}': {}", path.string(),
                                                 std::strerror(e.code().value())));
  }
}

Listener bind_socket(const std::filesystem::path& path) {
  check_socket_path_length(path);
  ensure_private_dir(path.parent_path());
  sockaddr_un addr = make_address(path);

  // Held (never closed) until exit: a second daemon on this path waits here
  // instead of unlinking a socket that is being set up.
  const std::filesystem::path lock_path = path.string() + ".lock";
  sys::UniqueFd lock = lock_file(lock_path);
  // A live daemon is final; one that holds the lock without answering is
  // starting or idle-exiting, so give it a moment.
  if (lock_or_throw(lock, lock_path, kLockWaitMs, [&] { return someone_listens(addr); }) !=
      sys::LockOutcome::locked) {
    throw AlreadyRunning(fmt::format("another portd is already serving '{}'", path.string()));
  }

  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd)
    throw Error(ErrorCode::internal,
                fmt::format("failed to create socket: {}", std::strerror(errno)));
  // bind() creates the file with the umask applied: 0600 from the first
  // instant (uv_pipe_chmod could only widen it).
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  if (rc != 0 && errno == EADDRINUSE) {
    if (someone_listens(addr)) {
      ::umask(old);
      throw AlreadyRunning(fmt::format("another portd is already serving '{}'", path.string()));
    }
    logger("activation")->info("replacing stale socket '{}'", path.string());
    ::unlink(path.c_str());
    rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  }
  int bind_errno = errno;
  ::umask(old);
  if (rc != 0) {
    throw Error(ErrorCode::internal, fmt::format("failed to bind socket '{}': {}", path.string(),
                                                 std::strerror(bind_errno)));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    throw Error(ErrorCode::internal,
                fmt::format("failed to listen on '{}': {}", path.string(), std::strerror(errno)));
  }
  (void)lock.release();  // held until exit, with the socket
  return Listener{fd.release(), false, path};
}

}  // namespace

Listener acquire_listener(const std::filesystem::path& socket_path) {
  if (auto l = from_systemd()) {
    logger("activation")->info("using the socket passed by systemd ({})", l->path.string());
    return *l;
  }
  if (auto l = from_launchd()) {
    logger("activation")->info("using the socket passed by launchd ({})", l->path.string());
    return *l;
  }
  return bind_socket(socket_path);
}

void lock_state_dir(const std::filesystem::path& state_dir, int wait_ms) {
  std::filesystem::path path = state_dir / "portd.lock";
  sys::UniqueFd fd = lock_file(path);
  if (lock_or_throw(fd, path, wait_ms) != sys::LockOutcome::locked) {
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    throw AlreadyRunning(fmt::format("another portd (pid {}) is using the state directory '{}'",
                                     holder, state_dir.string()));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) (void)::pwrite(fd.get(), pid.data(), pid.size(), 0);
  // The descriptor stays open: the lock lasts as long as the process.
  (void)fd.release();
}

}  // namespace portd::daemon
