#include "paths/paths.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/error.hpp"

namespace portd {
namespace {

namespace fs = std::filesystem;

// An XDG variable's value if it is set to an absolute path. The spec says
// relative values are invalid and must be ignored, not resolved against
// the cwd (which would make the daemon's paths depend on where it started).
std::optional<fs::path> xdg_dir(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || value[0] != '/') return std::nullopt;
  return fs::path(value);
}

#ifdef __APPLE__
// The per-user, 0700 temp dir (/var/folders/.../T/); confstr(3).
std::optional<fs::path> darwin_user_temp_dir() {
  char buf[PATH_MAX];
  std::size_t n = ::confstr(_CS_DARWIN_USER_TEMP_DIR, buf, sizeof buf);
  if (n == 0 || n > sizeof buf) return std::nullopt;
  return fs::path(buf);
}
#endif

[[noreturn]] void refuse(const fs::path& dir, std::string_view why) {
  throw Error(ErrorCode::permission_denied,
              fmt::format("unsafe directory '{}': {}", dir.string(), why));
}

}  // namespace

fs::path default_socket_path() {
  if (const char* explicit_path = std::getenv("PORTD_SOCKET");
      explicit_path != nullptr && explicit_path[0] != '\0') {
    return fs::path(explicit_path);
  }
  if (auto runtime = xdg_dir("XDG_RUNTIME_DIR")) return *runtime / "portd" / "portd.sock";
#ifdef __APPLE__
  if (auto tmp = darwin_user_temp_dir()) return *tmp / "portd" / "portd.sock";
#endif
  // Without a runtime dir, a per-uid directory in /tmp; ensure_private_dir()
  // refuses it if someone else created it first (tmux's defence).
  return fs::path(fmt::format("/tmp/portd-{}", ::geteuid())) / "portd.sock";
}

fs::path default_state_dir() {
  if (auto state = xdg_dir("XDG_STATE_HOME")) return *state / "portd";
#ifdef __APPLE__
  return home_dir() / "Library" / "Application Support" / "portd";
#else
  return home_dir() / ".local" / "state" / "portd";
#endif
}

fs::path default_config_path() {
  if (auto config = xdg_dir("XDG_CONFIG_HOME")) return *config / "portd" / "portd.toml";
  return home_dir() / ".config" / "portd" / "portd.toml";
}

fs::path default_log_path(const fs::path& state_dir) {
  return state_dir / "portd.log";
}

fs::path home_dir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return fs::path(home);
  }
  // No usable $HOME (systemd-socket-activate passes no environment): ask
  // the passwd database, as ssh and gpg do.
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* result = nullptr;
  int rc = 0;
  while ((rc = ::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &result)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0 || result == nullptr || pw.pw_dir == nullptr || pw.pw_dir[0] != '/') {
    throw Error(ErrorCode::internal,
                fmt::format("failed to find the home directory: $HOME is not set and uid {} "
                            "has no passwd entry with a home directory",
                            ::geteuid()));
  }
  return fs::path(pw.pw_dir);
}

void ensure_private_dir(const fs::path& dir) {
  if (dir.empty()) {
    throw Error(ErrorCode::internal, "failed to create directory '': empty path");
  }
  // "/tmp/x/" must be checked as "/tmp/x": lstat() follows a symlink when
  // the path ends in a slash, which would defeat the symlink check.
  fs::path target = dir.lexically_normal();
  while (target.has_relative_path() && target.filename().empty()) target = target.parent_path();

  // mkdir -p: each missing component is created 0700. Existing components
  // are left alone (never chmod/chown what we did not create).
  fs::path prefix;
  for (const fs::path& part : target) {
    prefix /= part;
    if (part == "/" || part == "." || part == "..") continue;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error(ErrorCode::internal, fmt::format("failed to create directory '{}': {}",
                                                   prefix.string(), std::strerror(errno)));
    }
  }

  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0) {
    throw Error(ErrorCode::internal, fmt::format("failed to inspect directory '{}': {}",
                                                 target.string(), std::strerror(errno)));
  }
  if (S_ISLNK(st.st_mode)) refuse(target, "is a symbolic link");
  if (!S_ISDIR(st.st_mode)) refuse(target, "is not a directory");
  if (st.st_uid != ::geteuid()) refuse(target, fmt::format("owned by uid {}", st.st_uid));
  // Checked here rather than left to the kernel: root bypasses modes, and a
  // group/other-accessible dir lets others replace our socket.
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    refuse(target, fmt::format("mode {:04o} allows group/other access",
                               static_cast<unsigned>(st.st_mode & 07777)));
  }
}

std::size_t max_socket_path_length() noexcept {
  return sizeof(sockaddr_un::sun_path) - 1;
}

void check_socket_path_length(const fs::path& path) {
  const std::size_t len = path.native().size();
  if (len > max_socket_path_length()) {
    throw Error(ErrorCode::invalid_request,
                fmt::format("socket path '{}' is too long ({} bytes, at most {})", path.string(),
                            len, max_socket_path_length()));
  }
}

}  // namespace portd
