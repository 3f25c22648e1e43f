// What a port's state is "now": ended leases and OS-bound ports, as check,
// auto-assign and stats see them (portd-protocol(7) "check", "stats").
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "registry/registry.hpp"
#include "support/registry_fixture.hpp"

namespace portd {
namespace {

using testing::kNow;
using testing::small_config;
using RegistryNowTest = testing::RegistryFixture;

TEST_F(RegistryNowTest, ExpiredLeaseStopsHoldingItsPortBeforeGc) {
  open(small_config(3000, 3000));
  auto t = req("a", "b", "web");
  t.ttl_seconds = 10;
  Port leased = allocate(t).allocation.port;
  {
    Batch b = registry_->begin(false);
    EXPECT_TRUE(registry_->check(b, leased, kNow + 5).holder.has_value());
    EXPECT_FALSE(registry_->check(b, leased, kNow + 10).holder.has_value());
    EXPECT_TRUE(registry_->check(b, leased, kNow + 10).available());
  }
  // The pool's only port goes to the next auto-assign once the lease ended.
  auto next = allocate(req("other", "b", "web"), kNow + 11);
  EXPECT_EQ(next.allocation.port, leased);
  EXPECT_EQ(list().size(), 1u);
}

TEST_F(RegistryNowTest, StatsFreeLeavesOutPortsTheOsHolds) {
  open(small_config(3000, 3003));
  allocate(req("a", "b", "web", 3000));
  probe_.busy.insert(3001);
  probe_.busy.insert(3002);
  Batch b = registry_->begin(false);
  auto s = registry_->stats(b);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].size, 4u);
  EXPECT_EQ(s[0].allocated, 1u);
  EXPECT_EQ(s[0].bound, 2u);
  EXPECT_EQ(s[0].free, 1u);
  EXPECT_DOUBLE_EQ(s[0].percent, 75.0);
}

}  // namespace
}  // namespace portd
