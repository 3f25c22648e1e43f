// Registry semantics (portd-protocol(7) "OPERATIONS") on a real LMDB store with an
// OS probe whose answers the test controls.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "registry/registry.hpp"
#include "support/registry_fixture.hpp"

namespace portd {
namespace {

using testing::kNow;
using testing::small_config;

class RegistryTest : public testing::RegistryFixture {
 protected:
  void SetUp() override { open(small_config()); }
};

TEST_F(RegistryTest, AutoAssignStartsAtThePoolAndFillsIt) {
  auto a = allocate(req("myapp", "main", "postgres"));
  auto b = allocate(req("myapp", "main", "redis"));
  EXPECT_TRUE(a.created);
  EXPECT_EQ(a.allocation.port, 3000);
  EXPECT_EQ(b.allocation.port, 3001);
  EXPECT_EQ(a.allocation.id, 1u);
  EXPECT_EQ(b.allocation.id, 2u);
  EXPECT_EQ(a.allocation.pool, "default");
  EXPECT_EQ(a.allocation.allocated_by, "dev@host");
  EXPECT_EQ(a.allocation.created_at, kNow);
}

TEST_F(RegistryTest, AllocateIsIdempotentOnTheKey) {
  auto first = allocate(req("myapp", "main", "web"));
  auto again = allocate(req("myapp", "main", "web"));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.allocation, first.allocation);
  auto explicit_same = allocate(req("myapp", "main", "web", first.allocation.port));
  EXPECT_FALSE(explicit_same.created);
  EXPECT_EQ(list().size(), 1u);
}

TEST_F(RegistryTest, ExplicitPortHeldByAnotherKeyIsPortTakenWithHolder) {
  auto holder = allocate(req("other", "dev", "db", 5432));
  EXPECT_EQ(error_of([&] { allocate(req("myapp", "dev", "postgres", 5432)); }),
            ErrorCode::port_taken);
  ASSERT_TRUE(last_error_->holder().has_value());
  EXPECT_EQ(last_error_->holder()->id, holder.allocation.id);
  EXPECT_EQ(std::string(last_error_->what()), "port 5432 is allocated to other/dev/db (id=1)");
}

TEST_F(RegistryTest, DifferentExplicitPortForExistingKeyNeedsReplace) {
  allocate(req("myapp", "dev", "web", 8080));
  EXPECT_EQ(error_of([&] { allocate(req("myapp", "dev", "web", 8081)); }), ErrorCode::key_exists);
  EXPECT_EQ(last_error_->holder()->port, 8080);
  auto r = req("myapp", "dev", "web", 8081);
  r.replace = true;
  auto moved = allocate(r);
  EXPECT_TRUE(moved.created);
  EXPECT_EQ(moved.allocation.port, 8081);
  auto all = list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].port, 8081);
}

TEST_F(RegistryTest, ExplicitPortBoundInTheOsIsPortInUseUnlessForced) {
  probe_.busy.insert(6006);
  EXPECT_EQ(error_of([&] { allocate(req("myapp", "dev", "storybook", 6006)); }),
            ErrorCode::port_in_use);
  ASSERT_TRUE(last_error_->owner().has_value());
  EXPECT_EQ(last_error_->owner()->pid, 4242u);
  auto r = req("myapp", "dev", "storybook", 6006);
  r.force = true;
  EXPECT_EQ(allocate(r).allocation.port, 6006);
}

TEST_F(RegistryTest, AutoAssignSkipsPortsTheOsHasBound) {
  probe_.busy = {3000, 3001};
  EXPECT_EQ(allocate(req("a", "b", "c")).allocation.port, 3002);
}

TEST_F(RegistryTest, ReservedPortsAreNeverAutoAssignedButMayBeAskedFor) {
  Config c = small_config();
  c.reserved = {{3000, 3002}};
  open(c);
  EXPECT_EQ(allocate(req("a", "b", "c")).allocation.port, 3003);
  EXPECT_EQ(allocate(req("a", "b", "d", 3001)).allocation.port, 3001);
}

TEST_F(RegistryTest, ServicesMapToTheirPool) {
  Config c = small_config();
  c.pools.push_back(PoolConfig{"db", {5400, 5409}, {"postgres", "redis"}});
  open(c);
  auto pg = allocate(req("a", "b", "postgres"));
  EXPECT_EQ(pg.allocation.port, 5400);
  EXPECT_EQ(pg.allocation.pool, "db");
  EXPECT_EQ(allocate(req("a", "b", "web")).allocation.port, 3000);
  auto r = req("a", "b", "worker");
  r.pool = "db";
  EXPECT_EQ(allocate(r).allocation.port, 5401);
  r = req("a", "b", "other");
  r.pool = "nope";
  EXPECT_EQ(error_of([&] { allocate(r); }), ErrorCode::invalid_request);
}

TEST_F(RegistryTest, ReleasedPortIsStickyForItsKeyAndFrozenForOthers) {
  auto a = allocate(req("myapp", "main", "web"));
  ASSERT_EQ(a.allocation.port, 3000);
  release(Filter{.id = a.allocation.id});
  // Another key must not get 3000 during the freeze.
  EXPECT_EQ(allocate(req("other", "main", "web"), kNow + 10).allocation.port, 3001);
  // Its own key gets it back, with a new id.
  auto back = allocate(req("myapp", "main", "web"), kNow + 20);
  EXPECT_EQ(back.allocation.port, 3000);
  EXPECT_NE(back.allocation.id, a.allocation.id);
}

TEST_F(RegistryTest, FreezeEndsAfterItsPeriod) {
  auto a = allocate(req("myapp", "main", "web"));
  release(Filter{.id = a.allocation.id});
  std::int64_t later = kNow + registry_->config().freeze_seconds + 1;
  EXPECT_EQ(allocate(req("other", "main", "web"), later).allocation.port, 3000);
}

TEST_F(RegistryTest, FrozenPortsAreUsedOldestFirstWhenNothingElseIsLeft) {
  open(small_config(3000, 3002));
  std::vector<std::uint64_t> ids;
  for (const char* s : {"a", "b", "c"}) ids.push_back(allocate(req("app", "i", s)).allocation.id);
  release(Filter{.id = ids[2]}, kNow + 1);  // 3002 released first
  release(Filter{.id = ids[0]}, kNow + 2);  // then 3000
  EXPECT_EQ(allocate(req("new", "i", "x"), kNow + 3).allocation.port, 3002);
  EXPECT_EQ(allocate(req("new", "i", "y"), kNow + 4).allocation.port, 3000);
  EXPECT_EQ(error_of([&] { allocate(req("new", "i", "z"), kNow + 5); }), ErrorCode::pool_exhausted);
  EXPECT_NE(std::string(last_error_->what()).find("pool 'default' (3000-3002)"), std::string::npos);
}

TEST_F(RegistryTest, ReleaseByFilterNeedsAFieldAndTouchesOnlyMatches) {
  allocate(req("myapp", "dev", "postgres"));
  allocate(req("myapp", "dev", "web"));
  allocate(req("myapp", "feature", "web"));
  allocate(req("other", "dev", "web"));
  EXPECT_EQ(error_of([&] { release(Filter{}); }), ErrorCode::invalid_request);
  EXPECT_EQ(list().size(), 4u);
  EXPECT_EQ(release(Filter{.app = "myapp", .instance = "dev"}).size(), 2u);
  auto rest = list();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].instance, "feature");
  EXPECT_EQ(rest[1].app, "other");
  EXPECT_TRUE(release(Filter{.app = "nobody"}).empty());
  EXPECT_EQ(release(Filter{.port = rest[1].port}).size(), 1u);
}

TEST_F(RegistryTest, ReleaseByUnknownIdIsNotFound) {
  EXPECT_EQ(error_of([&] { release(Filter{.id = 99}); }), ErrorCode::not_found);
}

TEST_F(RegistryTest, CheckReportsHolderReservedAndOsUse) {
  Config c = small_config();
  c.reserved = {{4000, 4000}};
  open(c);
  auto a = allocate(req("myapp", "dev", "web"));
  probe_.busy.insert(3005);
  Batch b = registry_->begin(false);
  CheckResult held = registry_->check(b, a.allocation.port, kNow);
  EXPECT_FALSE(held.available());
  ASSERT_TRUE(held.holder.has_value());
  EXPECT_EQ(held.holder->id, a.allocation.id);
  CheckResult bound = registry_->check(b, 3005, kNow);
  EXPECT_FALSE(bound.available());
  EXPECT_TRUE(bound.in_use);
  ASSERT_TRUE(bound.owner.has_value());
  EXPECT_EQ(bound.owner->command, "fake-server");
  CheckResult reserved = registry_->check(b, 4000, kNow);
  EXPECT_TRUE(reserved.reserved);
  EXPECT_FALSE(reserved.available());
  EXPECT_TRUE(registry_->check(b, 3009, kNow).available());
}

TEST_F(RegistryTest, ChecksOfOnePortInOneBatchShareOneProbe) {
  open(small_config());
  probe_.busy.insert(3005);
  const int before = probe_.probes;
  {
    Batch b = registry_->begin(false);
    for (int i = 0; i < 100; ++i) {
      CheckResult r = registry_->check(b, 3005, kNow);
      EXPECT_TRUE(r.in_use);
      ASSERT_TRUE(r.owner.has_value());
      EXPECT_EQ(r.owner->pid, 4242u);
    }
    EXPECT_TRUE(registry_->check(b, 3006, kNow).available());
    EXPECT_EQ(probe_.probes - before, 2);
  }
  // The next batch asks the OS again and sees what changed in between.
  probe_.busy.erase(3005);
  Batch b = registry_->begin(false);
  EXPECT_TRUE(registry_->check(b, 3005, kNow).available());
  EXPECT_EQ(probe_.probes - before, 3);
}

TEST_F(RegistryTest, StatsCountPerPool) {
  allocate(req("a", "b", "c"));
  allocate(req("a", "b", "d"));
  Batch b = registry_->begin(false);
  auto stats = registry_->stats(b);
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].size, 10u);
  EXPECT_EQ(stats[0].allocated, 2u);
  EXPECT_EQ(stats[0].free, 8u);
  EXPECT_DOUBLE_EQ(stats[0].percent, 20.0);
}

TEST_F(RegistryTest, StatsProbesOnlyTheSuspectsWhenTheOsListsThem) {
  allocate(req("a", "b", "c"));  // 3000
  probe_.busy = {3000, 3004, 3007};
  // 3000 is allocated (counted once, as allocated); 3002 is listed but a
  // bind would succeed; 3007 is in use but unlisted (a bound, not
  // listening TCP socket), which the stats cannot see.
  probe_.listed = std::vector<Port>{3000, 3002, 3004};
  const int before = probe_.probes;
  Batch b = registry_->begin(false);
  auto stats = registry_->stats(b);
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].allocated, 1u);
  EXPECT_EQ(stats[0].bound, 1u);
  EXPECT_EQ(stats[0].free, 8u);
  EXPECT_EQ(probe_.probes - before, 2) << "3002 and 3004 only";
  probe_.listed.reset();
  EXPECT_EQ(registry_->stats(b)[0].bound, 2u) << "without a list, every port is probed";
}

TEST_F(RegistryTest, GcFindsMissingWorktreesDeadPidsAndExpiredLeases) {
  auto w = req("a", "gone", "web");
  w.worktree = "/nonexistent/worktree";
  allocate(w);
  auto p = req("a", "dead", "web");
  p.pid = 999999;
  allocate(p);
  auto t = req("a", "lease", "web");
  t.ttl_seconds = 60;
  allocate(t);
  auto keep = req("a", "keep", "web");
  keep.worktree = "/alive";
  keep.pid = 1;
  allocate(keep);
  LivenessProbe liveness{[](std::uint32_t pid) { return pid == 1; },
                         [](const std::string& path) { return path == "/alive"; }};
  {
    Batch b = registry_->begin(true);
    auto found = registry_->gc(b, true, kNow + 61, liveness);
    registry_->commit(b);
    ASSERT_EQ(found.size(), 3u);
    EXPECT_EQ(found[0].reason, "worktree_missing");
    EXPECT_EQ(found[1].reason, "process_dead");
    EXPECT_EQ(found[2].reason, "lease_expired");
  }
  EXPECT_EQ(list().size(), 4u) << "dry run removed something";
  Batch b = registry_->begin(true);
  EXPECT_EQ(registry_->gc(b, false, kNow + 61, liveness).size(), 3u);
  registry_->commit(b);
  auto left = list();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].instance, "keep");
}

TEST_F(RegistryTest, ExpiredLeaseFreesItsKeyAndPort) {
  auto t = req("a", "b", "web", 7000);
  t.ttl_seconds = 10;
  allocate(t);
  auto again = allocate(req("other", "b", "web", 7000), kNow + 11);
  EXPECT_TRUE(again.created);
}

TEST_F(RegistryTest, ImportIsAllOrNothing) {
  allocate(req("myapp", "dev", "db", 5432));
  std::vector<Allocation> records(2);
  records[0].app = "imp";
  records[0].instance = "x";
  records[0].service = "web";
  records[0].port = 8000;
  records[1] = records[0];
  records[1].service = "db";
  records[1].port = 5432;  // conflicts
  Batch b = registry_->begin(true);
  EXPECT_EQ(error_of([&] { registry_->import(b, records, false, kNow); }), ErrorCode::port_taken);
  registry_->abort(b);
  EXPECT_EQ(list().size(), 1u);
  Batch b2 = registry_->begin(true);
  EXPECT_EQ(registry_->import(b2, records, true, kNow), 2u);
  registry_->commit(b2);
  auto all = list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].app, "imp");
  EXPECT_EQ(all[1].port, 5432);
}

TEST_F(RegistryTest, AbortedBatchLeavesNothingAndFreesItsPorts) {
  {
    Batch b = registry_->begin(true);
    registry_->allocate(b, req("a", "b", "c"), kNow);
    registry_->abort(b);
  }
  EXPECT_TRUE(list().empty());
  EXPECT_EQ(allocate(req("x", "y", "z")).allocation.port, 3000);
}

TEST_F(RegistryTest, ReopenKeepsAllocationsIdsAndPortState) {
  allocate(req("a", "b", "c"));
  auto second = allocate(req("a", "b", "d"));
  release(Filter{.id = second.allocation.id});
  open(small_config());
  auto all = list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].port, 3000);
  auto next = allocate(req("q", "r", "s"));
  EXPECT_EQ(next.allocation.id, 3u) << "ids must never be reused";
  EXPECT_EQ(next.allocation.port, 3002) << "3000 held, 3001 frozen across the restart";
}

TEST_F(RegistryTest, EventsDescribeTheBatch) {
  Batch b = registry_->begin(true);
  auto a = registry_->allocate(b, req("a", "b", "c"), kNow);
  registry_->release(b, Filter{.id = a.allocation.id}, kNow);
  ASSERT_EQ(b.events().size(), 2u);
  EXPECT_EQ(b.events()[0].kind, Event::Kind::allocated);
  EXPECT_EQ(b.events()[1].kind, Event::Kind::released);
  registry_->commit(b);
}

}  // namespace
}  // namespace portd
