// Locks with a deadline (src/sys/flock.hpp, flock(2)): the daemon's
// start-up and the client's autostart rely on a waiter giving up in time.
#include "sys/flock.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>

#include "support/temp_dir.hpp"

namespace portd::sys {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(Flock, ASecondDescriptionTimesOutWhileTheFirstHoldsTheLock) {
  testing::TempDir dir;
  const auto path = dir.path() / "x.lock";
  UniqueFd first = open_lock_file(path);
  UniqueFd second = open_lock_file(path);
  ASSERT_EQ(lock_until(first.get(), steady_clock::now()), LockOutcome::locked);
  EXPECT_EQ(lock_until(second.get(), steady_clock::now() + milliseconds(30), milliseconds(5)),
            LockOutcome::timed_out);
  first.reset();  // closing the holder releases the lock
  EXPECT_EQ(lock_until(second.get(), steady_clock::now()), LockOutcome::locked);
}

TEST(Flock, GiveUpEndsTheWaitBeforeTheDeadline) {
  testing::TempDir dir;
  UniqueFd first = open_lock_file(dir.path() / "x.lock");
  UniqueFd second = open_lock_file(dir.path() / "x.lock");
  ASSERT_EQ(lock_until(first.get(), steady_clock::now()), LockOutcome::locked);
  int asked = 0;
  EXPECT_EQ(lock_until(second.get(), steady_clock::now() + std::chrono::hours(1), milliseconds(1),
                       [&] { return ++asked == 3; }),
            LockOutcome::gave_up);
  EXPECT_EQ(asked, 3);
}

TEST(Flock, OtherFailuresThrowWithTheErrno) {
  try {
    lock_until(-1, steady_clock::now());
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
  }
}

TEST(Flock, OpenLockFileRefusesASymlinkAndNamesThePath) {
  testing::TempDir dir;
  const auto link = dir.path() / "link.lock";
  ASSERT_EQ(::symlink((dir.path() / "target").c_str(), link.c_str()), 0);
  try {
    open_lock_file(link);
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ELOOP);
    EXPECT_NE(std::string(e.what()).find(link.string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "target"));
}

}  // namespace
}  // namespace portd::sys
