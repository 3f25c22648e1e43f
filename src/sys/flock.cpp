#include "sys/flock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <thread>

namespace portd::sys {

UniqueFd open_lock_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    throw std::system_error(errno, std::generic_category(),
                            "failed to open lock file '" + path.string() + "'");
  }
  return fd;
}

LockOutcome lock_until(int fd, std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds poll, const std::function<bool()>& give_up) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      throw std::system_error(errno, std::generic_category(), "flock");
    }
    if (give_up && give_up()) return LockOutcome::gave_up;
    if (std::chrono::steady_clock::now() >= deadline) return LockOutcome::timed_out;
    std::this_thread::sleep_for(poll);
  }
  return LockOutcome::locked;
}

}  // namespace portd::sys
