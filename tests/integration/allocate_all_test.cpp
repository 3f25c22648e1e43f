// allocate_all against a real daemon: all or nothing, idempotent, and
// preferred ports that give way (portd-protocol(7) "allocate_all").
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"
#include "support/test_util.hpp"

namespace portd::testing {
namespace {

proto::Request allocate_all(const std::string& instance,
                            std::vector<proto::ServiceRequest> services) {
  proto::Request q = make_request(proto::Op::allocate_all);
  q.key.app = "myapp";
  q.key.instance = instance;
  q.worktree = "/src/myapp-" + instance;
  q.services = std::move(services);
  return q;
}

std::vector<Allocation> instance_allocations(RawClient& c, const std::string& instance) {
  proto::Request q = make_request(proto::Op::list);
  q.filter.app = "myapp";
  q.filter.instance = instance;
  proto::Response r = c.call(q);
  if (!r.ok) throw std::runtime_error("list failed: " + describe(r));
  return allocations_of(r);
}

TEST(AllocateAll, AllocatesEveryServiceInRequestOrder) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port db = find_available_port(c);
  proto::Response r = c.call(
      allocate_all("main", {{"web", 0, false, "", ""}, {"postgres", db, false, "", "database"}}));
  ASSERT_TRUE(r.ok) << describe(r);
  std::vector<Allocation> got = allocations_of(r);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].service, "web");
  EXPECT_EQ(got[1].service, "postgres");
  EXPECT_EQ(got[1].port, db);
  EXPECT_EQ(got[1].description, "database");
  EXPECT_EQ(got[0].worktree, "/src/myapp-main");
  const msgpack::object& created = field(r, "created");
  ASSERT_EQ(created.via.array.size, 2u);
  EXPECT_TRUE(created.via.array.ptr[0].as<bool>());

  // Asking again returns the same ports, created = false.
  proto::Response again = c.call(
      allocate_all("main", {{"web", 0, false, "", ""}, {"postgres", db, false, "", "database"}}));
  ASSERT_TRUE(again.ok) << describe(again);
  std::vector<Allocation> same = allocations_of(again);
  EXPECT_EQ(same[0].port, got[0].port);
  EXPECT_EQ(same[1].port, db);
  EXPECT_FALSE(field(again, "created").via.array.ptr[0].as<bool>());
  EXPECT_EQ(instance_allocations(c, "main").size(), 2u);
}

TEST(AllocateAll, OneConflictingPortAllocatesNothing) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port db = find_available_port(c);
  proto::Response first = c.call(allocate_request("other", "main", "postgres", db));
  ASSERT_TRUE(first.ok) << describe(first);

  proto::Response r = c.call(allocate_all(
      "feature",
      {{"web", 0, false, "", ""}, {"api", 0, false, "", ""}, {"postgres", db, false, "", ""}}));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "port_taken") << describe(r);
  EXPECT_TRUE(instance_allocations(c, "feature").empty());
  EXPECT_EQ(list_all(c).size(), 1u);

  // A service named twice is refused the same way.
  r = c.call(allocate_all("feature", {{"web", 0, false, "", ""}, {"web", 0, false, "", ""}}));
  EXPECT_EQ(code_of(r), "invalid_request") << describe(r);
  EXPECT_TRUE(instance_allocations(c, "feature").empty());
}

TEST(AllocateAll, ExhaustedPoolTakesBackWhatWasAllocated) {
  DaemonProcess::Options options;
  options.config_toml =
      "[[pool]]\nname = \"default\"\nrange = \"3000-9999\"\n"
      "[[pool]]\nname = \"tiny\"\nrange = \"20100-20101\"\n";
  DaemonProcess d(options);
  RawClient c(d.socket());
  // Two ports in the pool, three services: the third fails after the first
  // two were allocated in the transaction.
  proto::Response r = c.call(allocate_all(
      "main",
      {{"a", 0, false, "tiny", ""}, {"b", 0, false, "tiny", ""}, {"c", 0, false, "tiny", ""}}));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "pool_exhausted") << describe(r);
  EXPECT_TRUE(list_all(c).empty());
  // Both ports are free again.
  r = c.call(allocate_all("other", {{"a", 0, false, "tiny", ""}, {"b", 0, false, "tiny", ""}}));
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(list_all(c).size(), 2u);
}

TEST(AllocateAll, PreferredPortGivesWayAndWorktreesGetDisjointSets) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port db = find_available_port(c);
  std::vector<proto::ServiceRequest> manifest = {{"postgres", db, true, "", ""},
                                                 {"web", 0, false, "", ""}};
  proto::Response main = c.call(allocate_all("main", manifest));
  ASSERT_TRUE(main.ok) << describe(main);
  proto::Response feature = c.call(allocate_all("feature", manifest));
  ASSERT_TRUE(feature.ok) << describe(feature);
  std::vector<Allocation> a = allocations_of(main), b = allocations_of(feature);
  EXPECT_EQ(a[0].port, db);
  EXPECT_NE(b[0].port, db);
  std::set<Port> ports = {a[0].port, a[1].port, b[0].port, b[1].port};
  EXPECT_EQ(ports.size(), 4u);
  // The key keeps what it has even once its preferred port is free.
  proto::Response rel = c.call([&] {
    proto::Request q = make_request(proto::Op::release);
    q.filter.app = "myapp";
    q.filter.instance = "main";
    return q;
  }());
  ASSERT_TRUE(rel.ok) << describe(rel);
  proto::Response again = c.call(allocate_all("feature", manifest));
  ASSERT_TRUE(again.ok) << describe(again);
  EXPECT_EQ(allocations_of(again)[0].port, b[0].port);
}

}  // namespace
}  // namespace portd::testing
