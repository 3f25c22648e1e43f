// Exclusive file locks with a deadline (flock(2)), for the locks that
// serialise daemon start-up: the socket's and the state directory's in
// portd, the autostart lock in libportd-client (portd(1) "FILES").
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>

#include "sys/unique_fd.hpp"

namespace portd::sys {

/// Opens (creating it mode 0600 if needed) the lock file `path`: read-write,
/// close-on-exec, and not through a symbolic link (O_NOFOLLOW), so nobody
/// can point it at another file. Throws std::system_error naming the path
/// and the open(2) error.
UniqueFd open_lock_file(const std::filesystem::path& path);

/// How lock_until() ended.
enum class LockOutcome {
  locked,     ///< the lock is held (until `fd` and its duplicates close)
  timed_out,  ///< another open file description held it until the deadline
  gave_up,    ///< `give_up` returned true before the deadline
};

/// Takes an exclusive flock(2) on `fd`: LOCK_EX | LOCK_NB, retried every
/// `poll` until `deadline` (steady clock), so a holder that hangs (stopped
/// in a debugger, say) cannot hang its waiters forever. `give_up`, when
/// set, is asked before each wait and ends the wait early by returning
/// true. The first attempt is made even if `deadline` has passed. Throws
/// std::system_error for flock errors other than EWOULDBLOCK and EINTR
/// (EBADF, ENOLCK, ...).
LockOutcome lock_until(int fd, std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10),
                       const std::function<bool()>& give_up = {});

}  // namespace portd::sys
