// Test support: run the real portd binary in private temporary directories.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "../../unit/support/temp_dir.hpp"

namespace portd::testing {

/// Path of the portd binary under test: $PORTD_BIN (set by meson).
std::filesystem::path portd_binary();

/// A portd started on a socket and state directory of its own. The
/// environment of the child has XDG_* and HOME pointed into the temporary
/// directory, so nothing touches the real user's files.
class DaemonProcess {
 public:
  struct Options {
    std::vector<std::string> extra_args;  ///< appended to the command line
    std::string config_toml;              ///< written to the config file when non-empty
    bool wait_ready = true;               ///< wait until the socket answers
  };

  DaemonProcess();
  explicit DaemonProcess(Options options);
  /// Stops the daemon with SIGTERM if it still runs; a exit status other
  /// than 0 (a LeakSanitizer report, a hang) is a gtest failure.
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  /// Starts (or restarts, with the same directories) the daemon.
  void start();
  /// SIGTERM and wait; returns the exit status (or 128+signal).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// SIGKILL and reap.
  void kill();
  /// Waits for the process to exit by itself; returns its status, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  bool running();
  /// Sends `sig` to the daemon.
  void signal(int sig);

  pid_t pid() const noexcept { return pid_; }
  const std::filesystem::path& socket() const noexcept { return socket_; }
  const std::filesystem::path& state_dir() const noexcept { return state_dir_; }
  const std::filesystem::path& config_file() const noexcept { return config_file_; }
  const std::filesystem::path& root() const noexcept { return dir_.path(); }
  /// Everything the daemon wrote to stdout/stderr so far.
  std::string log() const;
  /// Environment entries (NAME=value) given to the daemon.
  std::vector<std::string> environment() const;

 private:
  Options options_;
  TempDir dir_;
  std::filesystem::path socket_, state_dir_, config_file_, log_file_;
  pid_t pid_ = -1;
};

/// Runs `argv` with `env` (NAME=value entries) and stdout+stderr going to
/// `log`; returns the child's pid.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const std::filesystem::path& log);

/// Waits for `pid` up to `timeout`; returns exit status, 128+signal, or -1.
int wait_pid(pid_t pid, std::chrono::milliseconds timeout);

/// The whole contents of `path` ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

/// True once something accepts connections at `socket` (polls up to `timeout`).
bool wait_for_socket(const std::filesystem::path& socket, std::chrono::milliseconds timeout);

}  // namespace portd::testing
