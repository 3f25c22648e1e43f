// The group-commit gather policy (daemon/gather.hpp): when a write batch
// waits for more clients, and for how long.
#include "gather.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>

namespace portd::daemon {
namespace {

constexpr std::uint64_t kUs = 1000;

TEST(CommitGather, ALoneClientNeverWaits) {
  CommitGather g;
  EXPECT_FALSE(g.should_wait(1, 0));  // nothing committed yet
  g.committed(1, 500 * kUs);
  EXPECT_FALSE(g.should_wait(1, 0));
}

TEST(CommitGather, ReadOnlyBatchesNeverWait) {
  CommitGather g;
  g.committed(16, 500 * kUs);
  EXPECT_FALSE(g.should_wait(0, 0));
}

TEST(CommitGather, WaitsForTheWritersOfTheLastBatchWithinHalfACommit) {
  CommitGather g;
  g.committed(16, 200 * kUs);  // window: 100 µs
  const std::uint64_t t0 = 1'000'000'000;
  EXPECT_TRUE(g.should_wait(3, t0));
  EXPECT_EQ(g.remaining(t0), 100 * kUs);
  EXPECT_TRUE(g.should_wait(9, t0 + 60 * kUs));
  EXPECT_EQ(g.remaining(t0 + 60 * kUs), 40 * kUs);  // the window does not restart
  EXPECT_FALSE(g.should_wait(16, t0 + 70 * kUs));   // everyone is here
  EXPECT_EQ(g.remaining(t0 + 70 * kUs), 0u);
}

TEST(CommitGather, AShortBatchDoesNotLowerTheExpectation) {
  CommitGather g;
  g.committed(16, 200 * kUs);
  g.committed(5, 200 * kUs);  // the others arrived while it committed
  EXPECT_TRUE(g.should_wait(11, 0));
}

TEST(CommitGather, GivesUpWhenTheWindowCloses) {
  CommitGather g;
  g.committed(16, 200 * kUs);
  const std::uint64_t t0 = 5'000'000;
  EXPECT_TRUE(g.should_wait(15, t0));
  EXPECT_FALSE(g.should_wait(15, t0 + 100 * kUs));
  // A client left: from now on 15 is everyone.
  g.committed(15, 200 * kUs);
  EXPECT_FALSE(g.should_wait(15, t0 + 600 * kUs));
  // A new window opens for the next short batch.
  EXPECT_TRUE(g.should_wait(2, t0 + 700 * kUs));
  EXPECT_EQ(g.remaining(t0 + 700 * kUs), 100 * kUs);
}

TEST(CommitGather, WindowIsBounded) {
  CommitGather g;
  g.committed(4, 2 * kUs);  // a commit on tmpfs
  EXPECT_TRUE(g.should_wait(1, 0));
  EXPECT_EQ(g.remaining(0), CommitGather::kMinWindowNs);
  CommitGather slow;
  slow.committed(4, 60'000 * kUs);  // a 60 ms fsync on a busy disk
  EXPECT_TRUE(slow.should_wait(1, 0));
  EXPECT_EQ(slow.remaining(0), CommitGather::kMaxWindowNs);
}

TEST(WaitReadable, ReturnsWhenTheFdBecomesReadable) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  auto t0 = std::chrono::steady_clock::now();
  wait_readable(fds[0], 10'000'000'000);  // 10 s unless readable
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(WaitReadable, WaitsAboutTheTimeout) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto t0 = std::chrono::steady_clock::now();
  wait_readable(fds[0], 2'000'000);  // 2 ms, nothing to read
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace portd::daemon
