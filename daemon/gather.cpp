#include "gather.hpp"

#include <algorithm>

#ifdef __linux__
#include <poll.h>
#else
#include <sys/select.h>
#endif

namespace portd::daemon {

void CommitGather::committed(std::size_t writers, std::uint64_t commit_ns) noexcept {
  // Keep the highest count seen: a batch that ran with only part of the
  // writers (they arrived while it committed) must not lower the bar for
  // the next one. Only a window that closes lowers it (should_wait).
  expected_ = std::max(expected_, writers);
  window_ns_ = std::clamp(commit_ns / 2, kMinWindowNs, kMaxWindowNs);
}

bool CommitGather::should_wait(std::size_t writers, std::uint64_t now_ns) noexcept {
  // A lone client never waits: there is nobody to wait for.
  if (writers == 0 || expected_ < 2 || writers >= expected_) {
    deadline_ns_ = 0;
    return false;
  }
  if (deadline_ns_ == 0) deadline_ns_ = now_ns + window_ns_;
  if (now_ns >= deadline_ns_) {
    // Those missing have gone quiet: expect only those who came.
    deadline_ns_ = 0;
    expected_ = writers;
    return false;
  }
  return true;
}

std::uint64_t CommitGather::remaining(std::uint64_t now_ns) const noexcept {
  return deadline_ns_ > now_ns ? deadline_ns_ - now_ns : 0;
}

void wait_readable(int fd, std::uint64_t timeout_ns) noexcept {
  if (fd < 0 || timeout_ns == 0) return;
#ifdef __linux__
  pollfd p{fd, POLLIN, 0};
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
              static_cast<long>(timeout_ns % 1'000'000'000)};
  ::ppoll(&p, 1, &ts, nullptr);
#else
  // poll(2) counts in milliseconds, too coarse for a window of microseconds.
  if (fd >= FD_SETSIZE) return;
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd, &set);
  timeval tv{static_cast<time_t>(timeout_ns / 1'000'000'000),
             static_cast<suseconds_t>((timeout_ns % 1'000'000'000) / 1000)};
  ::select(fd + 1, &set, nullptr, nullptr, &tv);
#endif
}

}  // namespace portd::daemon
