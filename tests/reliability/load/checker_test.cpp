// The checker must be able to fail: planted lost (also in a snapshot taken
// before a release), unexpected, duplicate, double-grant and
// false-available histories are each reported, and the
// indeterminate (info) cases that Jepsen allows are not.
#include <gtest/gtest.h>

#include "history.hpp"

namespace portd::reliability {
namespace {

const AllocationKey kA{"app", "one", "web"};
const AllocationKey kB{"app", "two", "web"};

Allocation alloc(const AllocationKey& k, Port port, std::uint64_t id) {
  Allocation a;
  a.id = id;
  a.app = k.app;
  a.instance = k.instance;
  a.service = k.service;
  a.port = port;
  return a;
}

TEST(Checker, CleanHistoryIsValid) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  auto b = h.invoke(2, OpType::allocate, kB);
  h.ok(b, 20001, 2);
  auto r = h.invoke(2, OpType::release, kB);
  h.ok(r);
  Verdict v = h.check({alloc(kA, 20000, 1)});
  EXPECT_TRUE(v.valid()) << v.report();
  EXPECT_EQ(v.ok_allocates, 2u);
}

TEST(Checker, ReportsLostAck) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  Verdict v = h.check({});
  EXPECT_FALSE(v.valid());
  ASSERT_EQ(v.lost.size(), 1u) << v.report();
}

TEST(Checker, ReleaseThatMayHaveHappenedExcusesAbsence) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  auto r = h.invoke(1, OpType::release, kA);
  h.info(r, "eof");
  EXPECT_TRUE(h.check({}).valid());
  // ...and its presence too (the release may not have happened).
  EXPECT_TRUE(h.check({alloc(kA, 20000, 1)}).valid());
}

TEST(Checker, PendingReleaseExcusesAbsence) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  h.invoke(1, OpType::release, kA);  // never completed
  EXPECT_TRUE(h.check({}).valid());
}

TEST(Checker, ReleaseBeforeTheAllocateDoesNotExcuse) {
  History h;
  auto r = h.invoke(1, OpType::release, kA);
  h.ok(r);
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  EXPECT_EQ(h.check({}).lost.size(), 1u);
}

TEST(Checker, ReportsUnexpectedButNotIndeterminate) {
  History h;
  auto f = h.invoke(1, OpType::allocate, kA);
  h.fail(f, "pool_exhausted");
  auto rf = h.invoke(1, OpType::release, kB);
  h.fail(rf, "invalid_request");
  Verdict v = h.check({alloc(kA, 20000, 1)});
  EXPECT_EQ(v.unexpected.size(), 1u) << v.report();
  EXPECT_EQ(v.fail_codes.at("pool_exhausted"), 1u);
  EXPECT_EQ(v.op_fail_codes.at("release").at("invalid_request"), 1u) << v.report();

  History g;
  auto i = g.invoke(1, OpType::allocate, kA);
  g.info(i, "eof");
  EXPECT_TRUE(g.check({alloc(kA, 20000, 1)}).valid());
}

TEST(Checker, WrongPortIsLostAndUnexpected) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  Verdict v = h.check({alloc(kA, 20005, 1)});
  EXPECT_EQ(v.lost.size(), 1u);
  EXPECT_EQ(v.unexpected.size(), 1u);
}

TEST(Checker, ReportsResurrectedRelease) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  auto r = h.invoke(1, OpType::release, kA);
  h.ok(r);
  Verdict v = h.check({alloc(kA, 20000, 1)});
  EXPECT_EQ(v.resurrected.size(), 1u) << v.report();
  // A later allocate that may have happened explains it.
  auto b = h.invoke(1, OpType::allocate, kA);
  h.info(b, "eof");
  EXPECT_TRUE(h.check({alloc(kA, 20000, 1)}).valid());
}

TEST(Checker, ReportsAckMissingFromASnapshotBeforeItsRelease) {
  // The final list cannot show this loss: the release hides it.
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  auto l = h.invoke(9, OpType::list);
  h.ok(l);
  h.snapshot({}, l);
  auto r = h.invoke(1, OpType::release, kA);
  h.ok(r);
  Verdict v = h.check({});
  ASSERT_EQ(v.lost.size(), 1u) << v.report();
  EXPECT_NE(v.lost[0].find("before any release"), std::string::npos) << v.lost[0];

  // Present in the snapshot: valid.
  History g;
  auto a2 = g.invoke(1, OpType::allocate, kA);
  g.ok(a2, 20000, 1);
  auto l2 = g.invoke(9, OpType::list);
  g.ok(l2);
  g.snapshot({alloc(kA, 20000, 1)}, l2);
  auto r2 = g.invoke(1, OpType::release, kA);
  g.ok(r2);
  EXPECT_TRUE(g.check({}).valid());
}

TEST(Checker, SnapshotOverlappingTheAckOrARelease) {
  // A list invoked before the ack, or completed after a release was sent,
  // may miss the allocation.
  History h;
  auto early = h.invoke(9, OpType::list);
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  h.ok(early);
  h.snapshot({}, early);
  auto late = h.invoke(9, OpType::list);
  auto r = h.invoke(1, OpType::release, kA);
  h.ok(late);
  h.snapshot({}, late);
  h.info(r, "eof");
  EXPECT_TRUE(h.check({}).valid()) << h.check({}).report();
}

TEST(Checker, ReportsDuplicatesInSnapshots) {
  History h;
  h.snapshot({alloc(kA, 20000, 1), alloc(kB, 20000, 2)});
  h.snapshot({alloc(kA, 20000, 1), alloc(kA, 20001, 3)});
  Verdict v = h.check({});
  EXPECT_EQ(v.duplicates.size(), 2u) << v.report();
  EXPECT_EQ(v.snapshots, 3u);
}

TEST(Checker, ReportsDoubleGrant) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  auto b = h.invoke(2, OpType::allocate, kB);
  h.ok(b, 20000, 2);
  auto r = h.invoke(1, OpType::release, kA);
  h.ok(r);
  Verdict v = h.check({alloc(kB, 20000, 2)});
  EXPECT_EQ(v.double_grants.size(), 1u) << v.report();

  // The same grants are fine when the release was sent before B's ack.
  History g;
  auto a2 = g.invoke(1, OpType::allocate, kA);
  g.ok(a2, 20000, 1);
  auto r2 = g.invoke(1, OpType::release, kA);
  auto b2 = g.invoke(2, OpType::allocate, kB);
  g.ok(r2);
  g.ok(b2, 20000, 2);
  EXPECT_TRUE(g.check({alloc(kB, 20000, 2)}).valid());
}

TEST(Checker, ReportsFalseAvailable) {
  History h;
  auto a = h.invoke(1, OpType::allocate, kA);
  h.ok(a, 20000, 1);
  auto c = h.invoke(2, OpType::check, {}, 20000);
  h.ok_check(c, true);
  Verdict v = h.check({alloc(kA, 20000, 1)});
  EXPECT_EQ(v.false_available.size(), 1u) << v.report();
}

TEST(Checker, FailedIntegrityIsInvalid) {
  History h;
  Verdict v = h.check({});
  v.integrity = IntegrityReport{false, 1, 0, "mdb_stat: MDB_CORRUPTED"};
  EXPECT_FALSE(v.valid());
  EXPECT_NE(v.report().find("FAILED"), std::string::npos);
}

TEST(Checker, IntegrityOfMissingStoreFails) {
  IntegrityReport r = check_store_integrity("/nonexistent/portd-state");
  EXPECT_FALSE(r.ok);
}

}  // namespace
}  // namespace portd::reliability
