// When to hold a write batch back for a moment so that more clients join
// its commit.
//
// A synced commit takes about half a millisecond, and every client waiting
// on one sends its next request within tens of microseconds of the reply.
// Run the next batch as soon as the first of them arrives and the rest miss
// it: N busy clients split into two alternating batches of about N/2, and
// each commit carries half what it could (bench/RESULTS.md, section B:
// 16 clients averaged 7 allocations per commit). Waiting part of one
// commit for the clients that have been writing restores full batches.
#pragma once

#include <cstddef>
#include <cstdint>

namespace portd::daemon {

/// Decides, each time a batch could run, whether to wait for more writers.
/// Times are monotonic nanoseconds (uv_hrtime()).
class CommitGather {
 public:
  /// The longest wait: half the last commit's duration, within
  /// [kMinWindowNs, kMaxWindowNs]. Less than a commit, so a writer that
  /// is waited for is answered sooner than if it waited for the next one.
  static constexpr std::uint64_t kMinWindowNs = 20'000;
  static constexpr std::uint64_t kMaxWindowNs = 1'000'000;

  /// Records a committed write batch: how many connections had mutations
  /// in it and how long its commit took. The number of writers to wait for
  /// becomes the highest seen since a window last closed.
  void committed(std::size_t writers, std::uint64_t commit_ns) noexcept;

  /// True when the batch about to run should wait: `writers` connections
  /// have mutations queued (0: a read-only batch, which never waits), fewer
  /// than the writers expected, and the window opened by the first such
  /// call has not yet closed. False ends the window (a closed window also
  /// lowers the expectation to `writers`); the next true call opens a new one.
  bool should_wait(std::size_t writers, std::uint64_t now_ns) noexcept;

  /// Nanoseconds left in the open window (0 when none is open or it has passed).
  std::uint64_t remaining(std::uint64_t now_ns) const noexcept;

 private:
  std::size_t expected_ = 0;  ///< writers to wait for
  std::uint64_t window_ns_ = kMinWindowNs;
  std::uint64_t deadline_ns_ = 0;  ///< 0: no window open
};

/// Blocks until `fd` is readable or `timeout_ns` has passed. Used on the
/// event loop's backend fd, which is readable when any watched socket is.
/// Errors (EINTR included) return early; the caller just polls again.
void wait_readable(int fd, std::uint64_t timeout_ns) noexcept;

}  // namespace portd::daemon
