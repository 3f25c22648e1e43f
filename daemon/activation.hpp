// Getting the listening socket: inherited from systemd or launchd (socket
// activation), or bound by portd itself.
#pragma once

#include <filesystem>

namespace portd::daemon {

/// A listening Unix stream socket ready for uv_pipe_open().
struct Listener {
  int fd = -1;
  /// Inherited from a service manager: never unlink its path, and idle exit
  /// loses no request because the manager keeps the socket.
  bool activated = false;
  /// Where the socket lives (empty when the manager did not say).
  std::filesystem::path path;
};

/// Returns the listener: systemd's (sd_listen_fds(3): the first inherited
/// fd that is a listening AF_UNIX stream socket), launchd's
/// (launch_activate_socket("Listeners"), macOS), or a new socket bound at
/// `socket_path`. For the last: the parent directory is created 0700 and
/// checked like ssh-agent/tmux do; the path length is checked (bind would
/// truncate); the socket is created under umask 0177 so it is 0600 from the
/// start; an exclusive flock on "<socket_path>.lock" (held until exit)
/// serialises daemons on one path; a stale socket file nobody answers on is
/// replaced.
/// Throws portd::Error: permission_denied (unsafe directory),
/// invalid_request (path too long), and AlreadyRunning when a live daemon
/// answers at `socket_path`.
Listener acquire_listener(const std::filesystem::path& socket_path);

/// Thrown when another daemon already serves the socket or the state dir.
class AlreadyRunning : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Holds an exclusive flock on `<state_dir>/portd.lock` for the process's
/// lifetime, so two daemons can never open one LMDB store (LMDB itself
/// allows several writer processes). Waits up to `wait_ms` for a daemon
/// that is exiting to let go. Throws AlreadyRunning naming the holder's pid.
void lock_state_dir(const std::filesystem::path& state_dir, int wait_ms);

}  // namespace portd::daemon
