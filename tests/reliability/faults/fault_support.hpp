// Support for the storage-fault, hostile-input and isolation tests
// (docs/testing.md T04-T18): a portd started with the layout, wrapper command
// (strace, fiu-run, setpriv, prlimit) and user each test needs, a ledger of
// acknowledged allocations, and the "nothing lost, nothing doubled" verdict.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../../integration/support/raw_client.hpp"

namespace portd::testing::faults {

/// True when PORTD_LONG=1: run the long tier.
bool long_tier();

/// Where one daemon keeps its socket, state and config. All paths live under
/// `root`, which the test owns (and removes).
struct Layout {
  explicit Layout(const std::filesystem::path& root);
  std::filesystem::path root, runtime, socket, state, config, log;
  /// Writes `toml` to `config` (creating its directory).
  void write_config(const std::string& toml) const;
  /// chowns root, runtime, state's parent and config recursively to uid:gid
  /// (for a daemon that runs as a non-root user).
  void chown_all(uid_t uid, gid_t gid) const;
};

/// How to start one portd.
struct Launch {
  std::vector<std::string> prefix;      ///< wrapper command, e.g. {"strace", "-f", ...}
  std::vector<std::string> extra_args;  ///< appended after the layout's options
  bool use_socket_option = true;        ///< pass --socket (T15 tests the default path)
  std::vector<std::string> extra_env;   ///< NAME=value entries added to the environment
  bool runtime_env = true;              ///< set XDG_RUNTIME_DIR
};

/// The environment a daemon of `layout` gets.
std::vector<std::string> daemon_env(const Layout& layout, const Launch& launch = {});
/// The full command line for `layout`.
std::vector<std::string> daemon_argv(const Layout& layout, const Launch& launch = {});
/// Starts portd (through launch.prefix); returns the pid of the outermost process.
pid_t start_daemon(const Layout& layout, const Launch& launch = {});
/// The pid portd wrote into <state>/portd.lock (the real daemon under a
/// wrapper), or -1.
pid_t daemon_pid_from_lock(const Layout& layout);

/// The first child of `pid` (/proc/PID/task/PID/children), or -1: the
/// daemon under a wrapper that forks (strace).
pid_t first_child(pid_t pid);

/// Exit status of `pid` (WEXITSTATUS, or 128+signal), -1 on timeout.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout);
/// SIGKILL and reap, if still running.
void kill_and_reap(pid_t pid);
/// True if `pid` has not exited (without reaping it).
bool alive(pid_t pid);

/// Kills and reaps a daemon the test started if it still runs at scope exit
/// (an ASSERT that returns early must not leave an orphan behind). For a
/// wrapper such as strace, `inner()` names the real daemon to kill as well.
class Reaper {
 public:
  explicit Reaper(pid_t pid) : pid_(pid) {}
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  pid_t inner = -1;

 private:
  pid_t pid_;
};

/// Runs argv to completion; returns the exit status (128+signal) and puts
/// stdout+stderr into `output` when given.
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// VmRSS of `pid` in KiB (0 if unknown).
std::size_t rss_kib(pid_t pid);
/// utime+stime of `pid` in clock ticks.
std::uint64_t cpu_ticks(pid_t pid);
/// Number of open fds of `pid`.
std::size_t fd_count(pid_t pid);

/// Key of the i-th test allocation: app/instance/s<i>.
AllocationKey test_key(const std::string& app, const std::string& instance, std::size_t i);

/// What the tests saw acknowledged. An allocate answered ok is `acked`;
/// one whose reply never came (connection or daemon gone) is uncertain and
/// may or may not be in the store afterwards (Jepsen's :info).
class Ledger {
 public:
  void ack(const AllocationKey& key, Port port);
  void fail(const AllocationKey& key);
  void uncertain(const AllocationKey& key);
  std::size_t acked() const noexcept { return acked_.size(); }
  std::size_t failed() const noexcept { return failed_; }
  std::size_t uncertain_count() const noexcept { return uncertain_.size(); }
  const std::map<AllocationKey, Port>& acked_map() const noexcept { return acked_; }

  /// Compares a final list with what was acknowledged. Returns the
  /// problems found (empty: 0 lost, 0 dup, 0 unexpected, same ports).
  /// An allocation for a key that was only failed (never acked or
  /// uncertain) is "unexpected": a failed reply must mean nothing happened.
  std::vector<std::string> verify(const std::vector<Allocation>& final_list) const;

 private:
  std::map<AllocationKey, Port> acked_;
  std::map<AllocationKey, bool> uncertain_;
  std::map<AllocationKey, bool> failed_keys_;
  std::size_t failed_ = 0;
};

/// Every allocation the daemon at `socket` lists; throws on failure.
std::vector<Allocation> list_all(const std::filesystem::path& socket);

/// Starts a plain portd on `layout` (no wrapper), lists, stops it with
/// SIGTERM, and checks `ledger` against the list and the store with
/// mdb_dump. Returns the problems found.
std::vector<std::string> verify_after_restart(const Layout& layout, const Ledger& ledger);

/// mdb_dump -a of the store: exit status 0 means LMDB can walk every page.
int mdb_dump_status(const std::filesystem::path& state_dir);

/// Sends `requests` pipelined on `client` and reads one reply per request.
/// Outcomes go to `ledger` (only allocate requests are recorded). Returns
/// the number of replies received (fewer means the connection ended).
std::size_t pipeline_allocations(RawClient& client, const std::vector<AllocationKey>& keys,
                                 Ledger& ledger, std::map<std::string, std::size_t>* error_codes,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// Joins problems into one message for a gtest assertion.
std::string describe(const std::vector<std::string>& problems);

}  // namespace portd::testing::faults
