// doctor: the daemon behind the socket, the socket file itself, and the
// lock that keeps a second daemon off the state directory.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "config.h"
#include "portctl/doctor/checks.hpp"
#include "proto/codec.hpp"

namespace portctl::doctor {
namespace {

namespace fs = std::filesystem;
namespace pc = portd::client;

constexpr const char* kStartFix =
    "portctl health (autostarts) or systemctl --user start portd.socket";

// True when a connect() to `path` is refused: a socket file nobody listens
// on, which portd replaces when it starts (docs/internals.md).
bool refused(const fs::path& path) {
  sockaddr_un addr{};
  if (path.native().size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool result = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 &&
                errno == ECONNREFUSED;
  ::close(fd);
  return result;
}

// The pid recorded in <state dir>/portd.lock when a daemon holds that lock
// now; 0 when none does. A shared, non-blocking flock only tests the lock:
// a daemon starting at this instant retries for seconds (portd(1)).
std::uint32_t state_lock_holder(const fs::path& state_dir) {
  fs::path path = state_dir / "portd.lock";
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  std::uint32_t holder = 0;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
  } else if (errno == EWOULDBLOCK) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    holder = n > 0 ? static_cast<std::uint32_t>(std::strtoul(buf, nullptr, 10)) : 0;
    if (holder == 0) holder = UINT32_MAX;  // held, pid not written yet
  }
  ::close(fd);
  return holder;
}

std::string holder_text(std::uint32_t pid) {
  return pid == UINT32_MAX ? std::string("a starting portd") : fmt::format("portd pid {}", pid);
}

void check_socket_file(Report& report, const fs::path& socket, bool answered) {
  struct stat st {};
  if (::lstat(socket.c_str(), &st) != 0) return;  // the daemon line says it is missing
  if (!S_ISSOCK(st.st_mode)) {
    report.fail("socket", fmt::format("'{}' is not a socket", socket.string()),
                fmt::format("rm '{}'", socket.string()));
    return;
  }
  if (st.st_uid != ::geteuid()) {
    report.fail("socket",
                fmt::format("'{}' belongs to uid {}, not to you (uid {})", socket.string(),
                            st.st_uid, ::geteuid()),
                fmt::format("sudo rm '{}' (portd then creates its own)", socket.string()));
    return;
  }
  if (!answered && refused(socket)) {
    report.warn(
        "socket",
        fmt::format("stale socket '{}': the file exists but no daemon listens", socket.string()),
        "portctl health (portd replaces a stale socket when it starts)");
    return;
  }
  report.ok("socket", fmt::format("'{}' is yours, mode {:04o}", socket.string(),
                                  static_cast<unsigned>(st.st_mode & 07777)));
}

}  // namespace

std::optional<std::uint32_t> check_daemon(Report& report, const Setup& setup) {
  std::optional<pc::HelloResult> hello;
  try {
    pc::Client client(setup.client);
    hello = client.hello();
  } catch (const pc::Error& e) {
    if (e.code() == pc::ErrorCode::unavailable) {
      bool exists = ::access(setup.socket.c_str(), F_OK) == 0;
      report.fail("daemon",
                  fmt::format("portd is not running: nothing answers at '{}'{}",
                              setup.socket.string(), exists ? "" : " (no socket file)"),
                  kStartFix);
    } else if (e.code() == pc::ErrorCode::unsupported_version) {
      report.fail("versions",
                  fmt::format("portctl {} and the daemon speak different protocols: {}",
                              PORTD_VERSION, e.what()),
                  "systemctl --user restart portd.service, or stop the old portd (portctl "
                  "version shows its pid) and run portctl health");
    } else {
      report.fail("daemon",
                  fmt::format("the daemon at '{}' failed: {}", setup.socket.string(), e.what()),
                  "read portd's log (portd(1) \"FILES\"), then restart it");
    }
  }

  if (hello) {
    std::string versions = fmt::format("portctl {}, portd {} (protocol {}, pid {})", PORTD_VERSION,
                                       hello->version, hello->protocol, hello->pid);
    if (hello->protocol != portd::proto::kProtocolVersion) {
      report.fail(
          "versions",
          fmt::format("{}: portctl speaks protocol {}", versions, portd::proto::kProtocolVersion),
          fmt::format("systemctl --user restart portd.service, or kill {} and run "
                      "portctl health",
                      hello->pid));
    } else if (hello->version != PORTD_VERSION) {
      report.warn("versions", versions + ": portd runs another version",
                  fmt::format("systemctl --user restart portd.service, or kill {} and run "
                              "portctl health",
                              hello->pid));
    } else {
      report.ok("versions", versions);
    }
  }

  check_socket_file(report, setup.socket, hello.has_value());

  std::uint32_t holder = state_lock_holder(setup.state_dir);
  if (hello && holder != 0 && holder != UINT32_MAX && holder != hello->pid) {
    report.fail("second-daemon",
                fmt::format("{} holds the state directory '{}' while pid {} answers at '{}'",
                            holder_text(holder), setup.state_dir.string(), hello->pid,
                            setup.socket.string()),
                fmt::format("kill {} (keep the daemon that answers)", holder));
  } else if (!hello && holder != 0) {
    report.fail("second-daemon",
                fmt::format("{} holds the state directory '{}' but does not answer at '{}' "
                            "(started with another --socket, or stuck)",
                            holder_text(holder), setup.state_dir.string(), setup.socket.string()),
                holder == UINT32_MAX ? std::string("wait a moment and run portctl doctor again")
                                     : fmt::format("kill {}, then portctl health", holder));
  } else {
    report.ok("second-daemon", "no other portd holds the state directory");
  }
  if (hello) return hello->pid;
  return std::nullopt;
}

}  // namespace portctl::doctor
