// doctor: $XDG_RUNTIME_DIR and the private directories portd insists on.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "portctl/doctor/checks.hpp"

namespace portctl::doctor {
namespace {

namespace fs = std::filesystem;

// The rule of ensure_private_dir() (src/paths/paths.hpp), as a finding.
void check_private_dir(Report& report, const std::string& name, const fs::path& dir,
                       const std::string& missing_detail) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      report.ok(name, fmt::format("'{}' {}", dir.string(), missing_detail));
    } else {
      report.fail(name, fmt::format("cannot inspect '{}': {}", dir.string(), std::strerror(errno)),
                  fmt::format("ls -ld '{}'", dir.string()));
    }
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    report.fail(name, fmt::format("'{}' is a symbolic link; portd refuses it", dir.string()),
                fmt::format("rm '{}' (portd creates the directory itself)", dir.string()));
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    report.fail(name, fmt::format("'{}' is not a directory", dir.string()),
                fmt::format("mv '{}' '{}.old'", dir.string(), dir.string()));
    return;
  }
  if (st.st_uid != ::geteuid()) {
    report.fail(name,
                fmt::format("'{}' is owned by uid {}, not by you (uid {}); portd refuses it",
                            dir.string(), st.st_uid, ::geteuid()),
                fmt::format("sudo chown {} '{}'", ::geteuid(), dir.string()));
    return;
  }
  unsigned mode = st.st_mode & 07777;
  if ((mode & 077) != 0) {
    report.fail(name,
                fmt::format("'{}' has mode {:04o}; portd refuses directories others can use",
                            dir.string(), mode),
                fmt::format("chmod 700 '{}'", dir.string()));
    return;
  }
  report.ok(name, fmt::format("'{}' is yours, mode {:04o}", dir.string(), mode));
}

}  // namespace

void check_environment(Report& report) {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime == nullptr || runtime[0] == '\0') {
#ifdef __APPLE__
    // macOS has no XDG_RUNTIME_DIR; the per-user temporary directory is the
    // intended home of the socket there.
    report.ok("runtime-dir",
              "XDG_RUNTIME_DIR is not set; the socket is in the per-user "
              "temporary directory (the macOS default)");
#else
    const char* override_socket = std::getenv("PORTD_SOCKET");
    if (override_socket != nullptr && override_socket[0] != '\0') {
      report.ok("runtime-dir", "XDG_RUNTIME_DIR is not set; PORTD_SOCKET names the socket");
      return;
    }
    report.warn("runtime-dir",
                fmt::format("XDG_RUNTIME_DIR is not set; the socket falls back to /tmp/portd-{}",
                            ::geteuid()),
                "log in through a session that sets it (pam_systemd), or export "
                "XDG_RUNTIME_DIR=/run/user/$(id -u) if that directory exists");
#endif
    return;
  }
  if (runtime[0] != '/') {
    report.warn("runtime-dir",
                fmt::format("XDG_RUNTIME_DIR='{}' is relative, so it is ignored", runtime),
                "export XDG_RUNTIME_DIR=/run/user/$(id -u) (an absolute path)");
    return;
  }
  struct stat st {};
  if (::stat(runtime, &st) != 0 || !S_ISDIR(st.st_mode)) {
    report.fail("runtime-dir", fmt::format("XDG_RUNTIME_DIR='{}' is not a directory", runtime),
                "log in again so that pam_systemd creates it, or unset XDG_RUNTIME_DIR");
    return;
  }
  report.ok("runtime-dir", fmt::format("XDG_RUNTIME_DIR='{}'", runtime));
}

void check_directories(Report& report, const Setup& setup) {
  check_private_dir(report, "socket-dir", setup.socket.parent_path(),
                    "does not exist yet (portd creates it, mode 0700)");
  check_private_dir(report, "state-dir", setup.state_dir,
                    "does not exist yet (portd creates it, mode 0700)");
}

}  // namespace portctl::doctor
