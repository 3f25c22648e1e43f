// A supervisor that emulates systemd socket activation (docs/internals.md, "systemd socket
// activation", "Socket activation"): the test process binds and holds the listening socket, and
// every daemon it starts inherits it as fd 3 with LISTEN_FDS=1 and LISTEN_PID=<the daemon's pid>.
// Connections made while no daemon runs wait in the socket's backlog, so kill -9 and restart loses
// no client.
//
//   ActivatedDaemon d;           // binds, listens (backlog 128), starts portd
//   d.kill();                    // SIGKILL + reap
//   d.start();                   // a new portd on the same socket and store
//
// The daemon gets a private HOME/XDG_* under the temp dir, like
// testing::DaemonProcess. `wrapper` programs (setpriv, prlimit, env,
// fiu-run) run before portd and must exec it in place: LISTEN_PID is the
// pid of the forked child, so a wrapper that forks (strace -f) breaks
// activation (portd would then bind the socket path itself and fail,
// since the supervisor's socket is there).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "../../unit/support/temp_dir.hpp"

namespace portd::reliability {

class ActivatedDaemon {
 public:
  struct Options {
    bool prefer_memory = false;  ///< state under /dev/shm (no real fsync); default: $TMPDIR
    int backlog = 128;           ///< listen(2) backlog of the held socket
    std::string config_toml;     ///< written to the config file when non-empty
    std::vector<std::string> extra_args;  ///< appended to portd's command line
    std::vector<std::string> extra_env;   ///< NAME=value entries added to its environment
    std::vector<std::string> wrapper;     ///< argv prefix (full path first), exec-in-place only
    bool start = true;                    ///< start a daemon in the constructor
  };

  ActivatedDaemon();
  explicit ActivatedDaemon(Options options);
  /// SIGKILLs a running daemon and closes the listening socket.
  ~ActivatedDaemon();
  ActivatedDaemon(const ActivatedDaemon&) = delete;
  ActivatedDaemon& operator=(const ActivatedDaemon&) = delete;

  /// Forks and execs portd with the held socket as fd 3. Does not wait for
  /// it: connections queue in the backlog until it serves them.
  pid_t start();
  /// SIGKILL and reap; returns the wait status as wait_pid() reports it.
  int kill();
  /// SIGTERM and wait; returns the exit status (128+signal), -1 on timeout
  /// (after which the daemon is SIGKILLed).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Waits for the daemon to exit by itself: exit status, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  /// True while the started daemon has not exited (reaps it if it has).
  bool running();
  /// Exit status of the last daemon that was reaped (128+signal), -1 if none.
  int last_status() const noexcept { return last_status_; }

  pid_t pid() const noexcept { return pid_; }
  int listener_fd() const noexcept { return listener_; }
  const std::filesystem::path& socket() const noexcept { return socket_; }
  const std::filesystem::path& state_dir() const noexcept { return state_dir_; }
  const std::filesystem::path& root() const noexcept { return dir_.path(); }
  const std::filesystem::path& log_file() const noexcept { return log_file_; }
  /// Everything every daemon started here wrote to stdout/stderr.
  std::string log() const;

 private:
  Options options_;
  testing::TempDir dir_;
  std::filesystem::path socket_, state_dir_, config_file_, log_file_;
  int listener_ = -1;
  pid_t pid_ = -1;
  int last_status_ = -1;
};

}  // namespace portd::reliability
