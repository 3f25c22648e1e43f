#include "alloc/allocator.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace portd {
namespace {

// A probe whose answers the test controls; it records every port asked.
class FakeProbe final : public PortProbe {
 public:
  bool in_use(Port port) override {
    asked.push_back(port);
    return busy.contains(port);
  }
  std::optional<PortOwner> owner(Port) override { return std::nullopt; }

  std::set<Port> busy;
  std::vector<Port> asked;
};

const AllocationKey kA{"app", "main", "web"};
const AllocationKey kB{"app", "feature", "web"};
const AllocationKey kC{"other", "main", "db"};

constexpr std::int64_t kT0 = 1'700'000'000;

class AllocatorTest : public ::testing::Test {
 protected:
  AllocatorTest() : alloc_(make_config(), probe_, PortRange{3900, 3999}) {}

  static Config make_config() {
    Config cfg = default_config();
    cfg.pools = {pool()};
    cfg.default_pool = "web";
    cfg.reserved = {{3002, 3003}};
    cfg.freeze_seconds = 3600;
    return cfg;
  }
  static PoolConfig pool() { return PoolConfig{"web", {3000, 3009}, {"web"}}; }

  std::optional<Port> choose(const AllocationKey& key, std::optional<Port> sticky = std::nullopt,
                             std::int64_t now = kT0) {
    return alloc_.choose(pool(), key, sticky, now);
  }

  FakeProbe probe_;
  Allocator alloc_;
};

TEST_F(AllocatorTest, FirstFreePortOfThePool) {
  EXPECT_EQ(choose(kA), Port{3000});
  EXPECT_EQ(probe_.asked, std::vector<Port>{3000});
  EXPECT_FALSE(alloc_.is_allocated(3000));  // choose does not mark
}

TEST_F(AllocatorTest, SkipsAllocatedAndReservedWithoutProbingThem) {
  alloc_.mark_allocated(3000);
  alloc_.mark_allocated(3001);
  EXPECT_EQ(choose(kA), Port{3004});
  // 3000-3003 fail the in-memory checks and never reach the probe.
  EXPECT_EQ(probe_.asked, std::vector<Port>{3004});
  alloc_.mark_free(3000);
  EXPECT_EQ(choose(kA), Port{3000});
}

TEST_F(AllocatorTest, PortTheProbeReportsInUseIsSkipped) {
  probe_.busy = {3000, 3001, 3004};
  EXPECT_EQ(choose(kA), Port{3005});
  EXPECT_EQ(probe_.asked, (std::vector<Port>{3000, 3001, 3004, 3005}));
}

TEST_F(AllocatorTest, StickyPortComesFirst) {
  EXPECT_EQ(choose(kA, Port{3007}), Port{3007});
  EXPECT_EQ(probe_.asked, std::vector<Port>{3007});
}

TEST_F(AllocatorTest, StickyPortIgnoredWhenNotFree) {
  alloc_.mark_allocated(3007);
  EXPECT_EQ(choose(kA, Port{3007}), Port{3000});  // allocated
  EXPECT_EQ(choose(kA, Port{3002}), Port{3000});  // reserved
  EXPECT_EQ(choose(kA, Port{4500}), Port{3000});  // outside the pool
  probe_.busy = {3006};
  probe_.asked.clear();
  EXPECT_EQ(choose(kA, Port{3006}), Port{3000});  // the OS has it
  EXPECT_EQ(probe_.asked, (std::vector<Port>{3006, 3000}));
}

TEST_F(AllocatorTest, StickyPortThatFailedTheProbeIsNotProbedAgain) {
  probe_.busy = {3000, 3001};
  EXPECT_EQ(choose(kA, Port{3000}), Port{3004});
  EXPECT_EQ(probe_.asked, (std::vector<Port>{3000, 3001, 3004}));
}

TEST_F(AllocatorTest, ReservedPortsAreNeverChosen) {
  std::vector<Port> got;
  while (auto p = choose(kA)) {
    got.push_back(*p);
    alloc_.mark_allocated(*p);
  }
  EXPECT_EQ(got, (std::vector<Port>{3000, 3001, 3004, 3005, 3006, 3007, 3008, 3009}));
  EXPECT_TRUE(alloc_.is_excluded(3002));
  EXPECT_TRUE(alloc_.is_excluded(3003));
  EXPECT_EQ(alloc_.usable_in(pool().range), 8u);
  EXPECT_EQ(alloc_.allocated_in(pool().range), 8u);
}

TEST_F(AllocatorTest, ExhaustedPoolGivesNullopt) {
  for (Port p = 3000; p <= 3009; ++p) alloc_.mark_allocated(p);
  EXPECT_EQ(choose(kA), std::nullopt);
  EXPECT_TRUE(probe_.asked.empty());
  alloc_.mark_free(3009);
  probe_.busy = {3009};
  EXPECT_EQ(choose(kA), std::nullopt);  // the only candidate is held by the OS
}

TEST_F(AllocatorTest, ReleasedPortIsFrozenForOtherKeysOnly) {
  alloc_.freeze(3000, kA, kT0);
  EXPECT_TRUE(alloc_.is_frozen_for_other(3000, kB, kT0 + 10));
  EXPECT_FALSE(alloc_.is_frozen_for_other(3000, kA, kT0 + 10));
  EXPECT_EQ(choose(kB, std::nullopt, kT0 + 10), Port{3001});
  EXPECT_EQ(choose(kB, Port{3000}, kT0 + 10), Port{3001});  // not even as B's sticky
  // Its own key gets it back, with or without the sticky hint.
  EXPECT_EQ(choose(kA, Port{3000}, kT0 + 10), Port{3000});
  EXPECT_EQ(choose(kA, std::nullopt, kT0 + 10), Port{3000});
}

TEST_F(AllocatorTest, OwnFrozenPortCompetesInPortOrder) {
  alloc_.freeze(3005, kA, kT0);
  alloc_.mark_allocated(3000);
  EXPECT_EQ(choose(kA, std::nullopt, kT0 + 1), Port{3001});
  alloc_.mark_allocated(3001);
  EXPECT_EQ(choose(kA, std::nullopt, kT0 + 1), Port{3004});
  alloc_.mark_allocated(3004);
  EXPECT_EQ(choose(kA, std::nullopt, kT0 + 1), Port{3005});  // its own frozen port
  EXPECT_EQ(choose(kB, std::nullopt, kT0 + 1), Port{3006});  // B skips it
}

TEST_F(AllocatorTest, FreezeEndsAfterFreezePeriod) {
  alloc_.freeze(3000, kA, kT0);
  EXPECT_EQ(choose(kB, std::nullopt, kT0 + 3599), Port{3001});
  EXPECT_FALSE(alloc_.is_frozen_for_other(3000, kB, kT0 + 3600));
  EXPECT_EQ(choose(kB, std::nullopt, kT0 + 3600), Port{3000});
}

TEST_F(AllocatorTest, ZeroFreezePeriodFreezesNothing) {
  Config cfg = make_config();
  cfg.freeze_seconds = 0;
  alloc_.reconfigure(cfg);
  alloc_.freeze(3000, kA, kT0);
  EXPECT_FALSE(alloc_.is_frozen_for_other(3000, kB, kT0));
  EXPECT_EQ(choose(kB, std::nullopt, kT0), Port{3000});
}

TEST_F(AllocatorTest, UnfreezeAndResetClearFreezes) {
  alloc_.freeze(3000, kA, kT0);
  alloc_.unfreeze(3000);
  EXPECT_FALSE(alloc_.is_frozen_for_other(3000, kB, kT0));
  EXPECT_EQ(choose(kB, std::nullopt, kT0), Port{3000});
  alloc_.freeze(3000, kA, kT0);
  alloc_.mark_allocated(3001);
  alloc_.reset();
  EXPECT_FALSE(alloc_.is_allocated(3001));
  EXPECT_FALSE(alloc_.is_frozen_for_other(3000, kB, kT0));
  EXPECT_EQ(choose(kB, std::nullopt, kT0), Port{3000});
}

TEST_F(AllocatorTest, RefreezeReplacesOwnerAndTime) {
  alloc_.freeze(3000, kA, kT0);
  alloc_.freeze(3000, kB, kT0 + 100);
  EXPECT_FALSE(alloc_.is_frozen_for_other(3000, kB, kT0 + 200));
  EXPECT_TRUE(alloc_.is_frozen_for_other(3000, kA, kT0 + 200));
  EXPECT_TRUE(alloc_.is_frozen_for_other(3000, kA, kT0 + 3650));  // timed from the new release
  EXPECT_EQ(choose(kA, std::nullopt, kT0 + 200), Port{3001});
}

TEST_F(AllocatorTest, FrozenPortsAreTheLastResortOldestReleaseFirst) {
  for (Port p : {3000, 3001, 3004, 3005, 3006}) alloc_.mark_allocated(p);
  alloc_.freeze(3007, kA, kT0 + 30);
  alloc_.freeze(3008, kC, kT0 + 10);  // released first
  alloc_.freeze(3009, kA, kT0 + 20);
  const std::int64_t now = kT0 + 100;
  EXPECT_EQ(choose(kB, std::nullopt, now), Port{3008});
  alloc_.mark_allocated(3008);
  EXPECT_EQ(choose(kB, std::nullopt, now), Port{3009});
  probe_.busy = {3009};
  EXPECT_EQ(choose(kB, std::nullopt, now), Port{3007});  // probe says 3009 is taken
  probe_.busy = {3007, 3009};
  EXPECT_EQ(choose(kB, std::nullopt, now), std::nullopt);
}

TEST_F(AllocatorTest, ReconfigureChangesReservedPorts) {
  Config cfg = make_config();
  cfg.reserved = {{3000, 3000}};
  alloc_.reconfigure(cfg);
  EXPECT_TRUE(alloc_.is_excluded(3000));
  EXPECT_FALSE(alloc_.is_excluded(3002));
  EXPECT_EQ(choose(kA), Port{3001});
  EXPECT_EQ(alloc_.usable_in(pool().range), 9u);
}

TEST_F(AllocatorTest, EphemeralRangeIsExcluded) {
  EXPECT_TRUE(alloc_.is_excluded(3900));
  EXPECT_TRUE(alloc_.is_excluded(3999));
  EXPECT_FALSE(alloc_.is_excluded(3899));
  EXPECT_EQ(alloc_.usable_in({3890, 4009}), 20u);
  EXPECT_EQ(alloc_.choose({"e", {3890, 3999}, {}}, kA, std::nullopt, kT0), Port{3890});
  for (Port p = 3890; p < 3900; ++p) alloc_.mark_allocated(p);
  EXPECT_EQ(alloc_.choose({"e", {3890, 3999}, {}}, kA, std::nullopt, kT0), std::nullopt);
}

TEST(AllocatorScale, FiftyThousandAllocationsProbeOnlyTheAnswer) {
  Config cfg = default_config();
  PoolConfig big{"big", {10000, 65535}, {}};
  cfg.pools = {big};
  cfg.default_pool = "big";
  FakeProbe probe;
  Allocator alloc(cfg, probe, std::nullopt);
  for (std::uint32_t p = 10000; p < 60000; ++p) alloc.mark_allocated(static_cast<Port>(p));
  // 10080 is a bad port but already inside the allocated block.
  EXPECT_EQ(alloc.allocated_in(big.range), 50000u);
  EXPECT_EQ(alloc.choose(big, kA, std::nullopt, kT0), Port{60000});
  EXPECT_EQ(probe.asked, std::vector<Port>{60000});
  // Frozen ports spread over the pool are skipped word-wise too.
  for (std::uint32_t p = 60000; p < 65000; ++p) alloc.freeze(static_cast<Port>(p), kC, kT0);
  probe.asked.clear();
  EXPECT_EQ(alloc.choose(big, kA, std::nullopt, kT0 + 1), Port{65000});
  EXPECT_EQ(probe.asked, std::vector<Port>{65000});
}

}  // namespace
}  // namespace portd
