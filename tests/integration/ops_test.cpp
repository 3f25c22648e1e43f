// Every op of portd-protocol(7) end to end through the socket of a real
// daemon, with the error codes clients rely on.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"
#include "support/test_util.hpp"

namespace portd::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

proto::Response alloc(RawClient& c, const std::string& app, const std::string& inst,
                      const std::string& svc, Port port = 0) {
  return c.call(allocate_request(app, inst, svc, port));
}

Allocation must_alloc(RawClient& c, const std::string& app, const std::string& inst,
                      const std::string& svc, Port port = 0) {
  proto::Response r = alloc(c, app, inst, svc, port);
  if (!r.ok) throw std::runtime_error("allocate failed: " + describe(r));
  return allocation_of(r);
}

proto::Response release_filter(RawClient& c, Filter f) {
  proto::Request q = make_request(proto::Op::release);
  q.filter = std::move(f);
  return c.call(q);
}

proto::Response list_filter(RawClient& c, Filter f) {
  proto::Request q = make_request(proto::Op::list);
  q.filter = std::move(f);
  return c.call(q);
}

proto::Response check(RawClient& c, Port port) {
  proto::Request q = make_request(proto::Op::check);
  q.port = port;
  return c.call(q);
}

// The connection must stay usable after an error about a well-formed request.
void expect_still_usable(RawClient& c) {
  proto::Response h = c.call(make_request(proto::Op::health));
  EXPECT_TRUE(h.ok) << describe(h);
}

TEST(Ops, HelloReportsIdentityAndLimits) {
  DaemonProcess d;
  RawClient c(d.socket());
  proto::Request q = make_request(proto::Op::hello);
  q.id = 41;
  proto::Response r = c.call(q);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(r.id, 41u);
  EXPECT_EQ(as_str(field(r, "server")), "portd");
  EXPECT_FALSE(as_str(field(r, "version")).empty());
  EXPECT_EQ(as_u64(field(r, "protocol")), 1u);
  EXPECT_EQ(as_u64(field(r, "max_frame")), 1048576u);
  EXPECT_EQ(as_u64(field(r, "pid")), static_cast<std::uint64_t>(d.pid()));
}

TEST(Ops, HealthCountsAllocationsAndConnections) {
  DaemonProcess d;
  RawClient c(d.socket());
  RawClient other(d.socket());
  must_alloc(c, "app", "main", "web");
  // The second connection has sent nothing, but it is open.
  ASSERT_TRUE(wait_until([&] {
    proto::Response r = c.call(make_request(proto::Op::health));
    return r.ok && as_u64(field(r, "connections")) == 2;
  })) << "health never counted both connections";
  proto::Response r = c.call(make_request(proto::Op::health));
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_str(field(r, "status")), "ok");
  EXPECT_FALSE(as_str(field(r, "version")).empty());
  EXPECT_EQ(as_u64(field(r, "pid")), static_cast<std::uint64_t>(d.pid()));
  EXPECT_LT(as_u64(field(r, "uptime_seconds")), 600u);
  EXPECT_EQ(as_u64(field(r, "allocations")), 1u);
}

TEST(Ops, AllocateAutoAssignsFromTheDefaultPool) {
  DaemonProcess d;
  RawClient c(d.socket());
  proto::Response r = alloc(c, "shop", "main", "postgres");
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(as_bool(field(r, "created")));
  Allocation a = allocation_of(r);
  EXPECT_GE(a.id, 1u);
  EXPECT_EQ(a.app, "shop");
  EXPECT_EQ(a.instance, "main");
  EXPECT_EQ(a.service, "postgres");
  EXPECT_GE(a.port, 3000);
  EXPECT_LE(a.port, 9999);
  EXPECT_EQ(a.pool, "default");
  EXPECT_NE(a.allocated_by.find('@'), std::string::npos) << a.allocated_by;
  EXPECT_GT(a.created_at, 1600000000);
  // The wire form is RFC 3339 UTC, not a number.
  const msgpack::object& raw = field(field(r, "allocation"), "created_at");
  ASSERT_EQ(raw.type, msgpack::type::STR);
  EXPECT_EQ(as_str(raw).back(), 'Z');

  // A second key gets a different port.
  Allocation b = must_alloc(c, "shop", "main", "web");
  EXPECT_NE(b.port, a.port);
  EXPECT_GT(b.id, a.id);
}

TEST(Ops, AllocateExplicitPortAndIdempotence) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port p = find_available_port(c);
  proto::Response r = alloc(c, "shop", "main", "api", p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(as_bool(field(r, "created")));
  Allocation a = allocation_of(r);
  EXPECT_EQ(a.port, p);

  // Asking again, with the same port or none, returns the same allocation.
  for (Port again : {p, Port{0}}) {
    proto::Response r2 = alloc(c, "shop", "main", "api", again);
    ASSERT_TRUE(r2.ok) << describe(r2);
    EXPECT_FALSE(as_bool(field(r2, "created")));
    EXPECT_EQ(allocation_of(r2), a);
  }
  EXPECT_EQ(list_all(c).size(), 1u);
}

TEST(Ops, AllocateConflictsNameTheHolder) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port p = find_available_port(c);
  Port q = find_available_port(c, static_cast<Port>(p + 1));
  Allocation a = must_alloc(c, "shop", "main", "api", p);

  // The same key, another explicit port: key_exists, holder = the key's allocation.
  proto::Response r = alloc(c, "shop", "main", "api", q);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "key_exists");
  ASSERT_TRUE(r.error->holder());
  EXPECT_EQ(r.error->holder()->id, a.id);

  // Another key, the held port: port_taken, holder = the allocation in the way.
  r = alloc(c, "blog", "main", "api", p);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "port_taken");
  ASSERT_TRUE(r.error->holder());
  EXPECT_EQ(r.error->holder()->id, a.id);
  EXPECT_EQ(r.error->holder()->app, "shop");
  expect_still_usable(c);
  EXPECT_EQ(list_all(c).size(), 1u);
}

TEST(Ops, AllocateRefusesAPortTheOsHasBoundUnlessForced) {
  DaemonProcess d;
  RawClient c(d.socket());
  TcpListener l;
  ASSERT_TRUE(l.ok());
  proto::Response r = alloc(c, "shop", "main", "api", l.port());
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "port_in_use");
  // The daemon runs as our user, so it can see that this process holds it.
  ASSERT_TRUE(r.error->owner()) << describe(r);
  EXPECT_EQ(r.error->owner()->pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_TRUE(list_all(c).empty());

  proto::Request forced = allocate_request("shop", "main", "api", l.port());
  forced.force = true;
  r = c.call(forced);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(as_bool(field(r, "created")));
  EXPECT_EQ(allocation_of(r).port, l.port());
}

TEST(Ops, AllocateReplaceMovesTheKey) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port p = find_available_port(c);
  Port q = find_available_port(c, static_cast<Port>(p + 1));
  Allocation a = must_alloc(c, "shop", "main", "api", p);

  proto::Request move = allocate_request("shop", "main", "api", q);
  move.replace = true;
  proto::Response r = c.call(move);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(as_bool(field(r, "created")));
  Allocation b = allocation_of(r);
  EXPECT_EQ(b.port, q);
  EXPECT_GT(b.id, a.id) << "replace is a release plus a new allocation";

  std::vector<Allocation> all = list_all(c);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], b);
  proto::Response old = check(c, p);
  ASSERT_TRUE(old.ok) << describe(old);
  EXPECT_EQ(old.find("holder"), nullptr) << "the old port is still held";
}

TEST(Ops, InvalidNamesAreRejectedAndTheConnectionStaysUsable) {
  DaemonProcess d;
  RawClient c(d.socket());
  const std::string too_long(65, 'a');
  const std::vector<std::array<std::string, 3>> bad = {
      {"", "main", "web"},       {"shop", "", "web"},    {"shop", "main", ""},
      {"sh op", "main", "web"},  {"shop", "a/b", "web"}, {"shop", "main", "w\xc3\xa9"},
      {too_long, "main", "web"}, {"shop", "main", "$x"},
  };
  std::uint64_t id = 100;
  for (const auto& [app, inst, svc] : bad) {
    proto::Request q = allocate_request(app, inst, svc);
    q.id = ++id;
    proto::Response r = c.call(q);
    EXPECT_FALSE(r.ok) << app << "/" << inst << "/" << svc;
    EXPECT_EQ(code_of(r), "invalid_request") << app << "/" << inst << "/" << svc;
    EXPECT_EQ(r.id, id) << "an error about a request carries its id";
  }
  // 64 characters of the allowed set are fine.
  proto::Response ok = alloc(c, std::string(64, 'a'), "feature.x-1_2", "web");
  EXPECT_TRUE(ok.ok) << describe(ok);

  proto::Request pool = allocate_request("shop", "main", "web");
  pool.pool = "nosuchpool";
  proto::Response r = c.call(pool);
  EXPECT_EQ(code_of(r), "invalid_request");
  expect_still_usable(c);
}

TEST(Ops, ReleaseByIdAndByFilter) {
  DaemonProcess d;
  RawClient c(d.socket());
  Allocation a1 = must_alloc(c, "shop", "main", "web");
  Allocation a2 = must_alloc(c, "shop", "main", "db");
  Allocation a3 = must_alloc(c, "shop", "dev", "web");
  Allocation b1 = must_alloc(c, "blog", "main", "web");

  Filter by_id;
  by_id.id = a1.id;
  proto::Response r = release_filter(c, by_id);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "released")), 1u);
  std::vector<Allocation> gone = allocations_of(r);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], a1);

  Filter shop_main;
  shop_main.app = "shop";
  shop_main.instance = "main";
  r = release_filter(c, shop_main);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "released")), 1u);
  EXPECT_EQ(allocations_of(r).at(0).id, a2.id);

  Filter by_port;
  by_port.port = a3.port;
  r = release_filter(c, by_port);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "released")), 1u);

  std::vector<Allocation> left = list_all(c);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], b1);
}

TEST(Ops, ReleaseEdgeCases) {
  DaemonProcess d;
  RawClient c(d.socket());
  Allocation a = must_alloc(c, "shop", "main", "web");

  Filter nobody;
  nobody.app = "nosuchapp";
  proto::Response r = release_filter(c, nobody);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "released")), 0u);

  proto::Request empty = make_request(proto::Op::release);
  empty.id = 9;
  r = c.call(empty);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "invalid_request") << "an empty filter must never release everything";
  EXPECT_EQ(r.id, 9u);

  Filter unknown;
  unknown.id = a.id + 1000;
  r = release_filter(c, unknown);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "not_found");

  expect_still_usable(c);
  EXPECT_EQ(list_all(c).size(), 1u);
}

TEST(Ops, ListFilters) {
  DaemonProcess d;
  RawClient c(d.socket());
  Allocation a1 = must_alloc(c, "shop", "main", "web");
  Allocation a2 = must_alloc(c, "shop", "main", "db");
  Allocation a3 = must_alloc(c, "shop", "dev", "web");
  Allocation b1 = must_alloc(c, "blog", "main", "web");

  auto ids = [&](Filter f) {
    proto::Response r = list_filter(c, std::move(f));
    if (!r.ok) throw std::runtime_error(describe(r));
    std::vector<std::uint64_t> out;
    for (const Allocation& a : allocations_of(r)) out.push_back(a.id);
    return out;
  };
  using V = std::vector<std::uint64_t>;
  EXPECT_EQ(ids({}), (V{a1.id, a2.id, a3.id, b1.id})) << "ordered by id";
  EXPECT_EQ(ids({.app = "shop"}), (V{a1.id, a2.id, a3.id}));
  EXPECT_EQ(ids({.instance = "main"}), (V{a1.id, a2.id, b1.id}));
  EXPECT_EQ(ids({.service = "web"}), (V{a1.id, a3.id, b1.id}));
  EXPECT_EQ(ids({.app = "shop", .service = "web"}), (V{a1.id, a3.id}));
  EXPECT_EQ(ids({.port = a2.port}), (V{a2.id}));
  EXPECT_EQ(ids({.id = b1.id}), (V{b1.id}));
  EXPECT_EQ(ids({.id = b1.id, .app = "shop"}), V{}) << "every given field must match";
  EXPECT_EQ(ids({.app = "nosuchapp"}), V{});
}

TEST(Ops, CheckReportsFreeAllocatedAndBoundPorts) {
  DaemonProcess d;
  RawClient c(d.socket());
  Port p = find_available_port(c);
  proto::Response r = check(c, p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "port")), p);
  EXPECT_TRUE(as_bool(field(r, "available")));
  EXPECT_FALSE(as_bool(field(r, "in_use")));
  EXPECT_EQ(r.find("holder"), nullptr);

  Allocation a = must_alloc(c, "shop", "main", "web", p);
  r = check(c, p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_FALSE(as_bool(field(r, "available")));
  EXPECT_EQ(proto::unpack_allocation(field(r, "holder")), a);

  TcpListener l;
  ASSERT_TRUE(l.ok());
  r = check(c, l.port());
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_FALSE(as_bool(field(r, "available")));
  EXPECT_TRUE(as_bool(field(r, "in_use")));
  EXPECT_EQ(as_u64(field(r, "pid")), static_cast<std::uint64_t>(::getpid()));
  EXPECT_FALSE(as_str(field(r, "command")).empty());

  proto::Request zero = make_request(proto::Op::check);  // port 0 is not a port
  r = c.call(zero);
  EXPECT_EQ(code_of(r), "invalid_request");
  expect_still_usable(c);
}

struct PoolView {
  std::string name;
  std::uint64_t start, end, size, allocated, free;
  double percent;
  bool warning;
};

std::vector<PoolView> pools_of(RawClient& c, std::uint64_t* total = nullptr) {
  proto::Response r = c.call(make_request(proto::Op::stats));
  if (!r.ok) throw std::runtime_error("stats failed: " + describe(r));
  if (total) *total = as_u64(field(r, "allocations"));
  std::vector<PoolView> out;
  const msgpack::object& pools = field(r, "pools");
  for (std::uint32_t i = 0; i < pools.via.array.size; ++i) {
    const msgpack::object& p = pools.via.array.ptr[i];
    out.push_back({as_str(field(p, "name")), as_u64(field(p, "start")), as_u64(field(p, "end")),
                   as_u64(field(p, "size")), as_u64(field(p, "allocated")),
                   as_u64(field(p, "free")), field(p, "percent").as<double>(),
                   as_bool(field(p, "warning"))});
  }
  return out;
}

TEST(Ops, StatsReportsTheDefaultPool) {
  DaemonProcess d;
  RawClient c(d.socket());
  must_alloc(c, "shop", "main", "web");
  must_alloc(c, "shop", "main", "db");
  std::uint64_t total = 0;
  std::vector<PoolView> pools = pools_of(c, &total);
  EXPECT_EQ(total, 2u);
  ASSERT_EQ(pools.size(), 1u);
  const PoolView& p = pools[0];
  EXPECT_EQ(p.name, "default");
  EXPECT_EQ(p.start, 3000u);
  EXPECT_EQ(p.end, 9999u);
  // 7000 ports minus the browsers' bad ports (and the ephemeral range, if
  // the kernel's reaches this low).
  EXPECT_LE(p.size, 7000u - 10u);
  EXPECT_GT(p.size, 5000u);
  EXPECT_EQ(p.allocated, 2u);
  // Other programs on this host may have ports of the pool bound; FREE
  // leaves those out as well.
  EXPECT_LE(p.free, p.size - 2);
  EXPECT_NEAR(p.percent, 100.0 * static_cast<double>(p.size - p.free) / static_cast<double>(p.size),
              1e-6);
  EXPECT_FALSE(p.warning);
}

TEST(Ops, StatsWarnsAtEightyFivePercent) {
  DaemonProcess::Options o;
  o.config_toml = "[[pool]]\nname = \"default\"\nrange = \"21000-21009\"\n";
  DaemonProcess d(o);
  RawClient c(d.socket());
  std::vector<PoolView> pools = pools_of(c);
  ASSERT_EQ(pools.size(), 1u);
  ASSERT_EQ(pools[0].size, 10u) << "no bad or reserved ports in 21000-21009";
  for (int i = 0; i < 8; ++i) must_alloc(c, "app", "main", "s" + std::to_string(i));
  pools = pools_of(c);
  EXPECT_EQ(pools[0].allocated, 8u);
  EXPECT_DOUBLE_EQ(pools[0].percent, 80.0);
  EXPECT_FALSE(pools[0].warning);
  must_alloc(c, "app", "main", "s8");
  pools = pools_of(c);
  EXPECT_DOUBLE_EQ(pools[0].percent, 90.0);
  EXPECT_TRUE(pools[0].warning);
  EXPECT_EQ(pools[0].free, 1u);

  must_alloc(c, "app", "main", "s9");
  proto::Response r = alloc(c, "app", "main", "s10");
  EXPECT_EQ(code_of(r), "pool_exhausted");
  expect_still_usable(c);
}

// A pid that certainly names no process: a child we started and reaped.
std::uint32_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return static_cast<std::uint32_t>(child);
}

TEST(Ops, GcDryRunReportsAndApplyRemoves) {
  DaemonProcess d;
  RawClient c(d.socket());
  fs::path gone = d.root() / "worktree-gone";
  fs::path kept = d.root() / "worktree-kept";
  fs::create_directories(gone);
  fs::create_directories(kept);

  proto::Request q = allocate_request("shop", "gone", "web");
  q.worktree = gone.string();
  Allocation a_gone = allocation_of(c.call(q));
  q = allocate_request("shop", "kept", "web");
  q.worktree = kept.string();
  Allocation a_kept = allocation_of(c.call(q));
  q = allocate_request("shop", "dead", "web");
  q.pid = dead_pid();
  Allocation a_dead = allocation_of(c.call(q));
  q = allocate_request("shop", "alive", "web");
  q.pid = static_cast<std::uint32_t>(::getpid());
  Allocation a_alive = allocation_of(c.call(q));
  Allocation a_plain = must_alloc(c, "shop", "plain", "web");
  fs::remove_all(gone);

  auto gc = [&](bool dry) {
    proto::Request g = make_request(proto::Op::gc);
    g.dry_run = dry;
    proto::Response r = c.call(g);
    if (!r.ok) throw std::runtime_error(describe(r));
    EXPECT_EQ(as_bool(field(r, "dry_run")), dry);
    std::set<std::pair<std::uint64_t, std::string>> out;
    const msgpack::object& removed = field(r, "removed");
    for (std::uint32_t i = 0; i < removed.via.array.size; ++i) {
      const msgpack::object& e = removed.via.array.ptr[i];
      out.emplace(proto::unpack_allocation(field(e, "allocation")).id, as_str(field(e, "reason")));
    }
    return out;
  };
  const std::set<std::pair<std::uint64_t, std::string>> expected = {{a_gone.id, "worktree_missing"},
                                                                    {a_dead.id, "process_dead"}};

  EXPECT_EQ(gc(true), expected);
  EXPECT_EQ(list_all(c).size(), 5u) << "a dry run removes nothing";
  EXPECT_EQ(gc(false), expected);
  std::set<std::uint64_t> left;
  for (const Allocation& a : list_all(c)) left.insert(a.id);
  EXPECT_EQ(left, (std::set<std::uint64_t>{a_kept.id, a_alive.id, a_plain.id}));
  EXPECT_TRUE(gc(false).empty()) << "a second gc finds nothing";
}

TEST(Ops, ExportThenImportIntoAnotherDaemon) {
  DaemonProcess src;
  DaemonProcess dst;
  RawClient a(src.socket());
  RawClient b(dst.socket());
  Port explicit_port = find_available_port(a);
  must_alloc(a, "shop", "main", "web");
  must_alloc(a, "shop", "main", "db", explicit_port);
  proto::Request described = allocate_request("blog", "dev", "api");
  described.description = "the blog's api";
  ASSERT_TRUE(a.call(described).ok);

  proto::Response ex = a.call(make_request(proto::Op::export_));
  ASSERT_TRUE(ex.ok) << describe(ex);
  EXPECT_EQ(as_u64(field(ex, "version")), 1u);
  EXPECT_FALSE(as_str(field(ex, "exported_at")).empty());
  std::vector<Allocation> exported = allocations_of(ex);
  ASSERT_EQ(exported.size(), 3u);

  proto::Request im = make_request(proto::Op::import);
  im.records = exported;
  proto::Response r = b.call(im);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "imported")), 3u);

  auto by_key = [](std::vector<Allocation> v) {
    std::set<std::tuple<std::string, std::string, std::string, Port, std::string>> s;
    for (const Allocation& x : v) s.emplace(x.app, x.instance, x.service, x.port, x.description);
    return s;
  };
  std::vector<Allocation> imported = list_all(b);
  EXPECT_EQ(by_key(imported), by_key(exported));
  for (const Allocation& x : imported) {
    auto same = std::find_if(exported.begin(), exported.end(),
                             [&](const Allocation& e) { return e.key() == x.key(); });
    ASSERT_NE(same, exported.end());
    EXPECT_EQ(x.created_at, same->created_at) << "created_at is kept";
  }

  // All or nothing: a batch with one fresh record and one conflict imports
  // neither. A key that has another port is key_exists; a port that another
  // key holds is port_taken.
  Allocation fresh = exported[0];
  fresh.app = "fresh";
  Allocation moved_key = exported[1];
  moved_key.port = find_available_port(b, static_cast<Port>(explicit_port + 1));
  fresh.port = find_available_port(b, static_cast<Port>(moved_key.port + 1));
  im.records = {fresh, moved_key};
  r = b.call(im);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "key_exists") << describe(r);
  Allocation stolen_port = exported[2];
  stolen_port.instance = "other";
  im.records = {fresh, stolen_port};
  r = b.call(im);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(code_of(r), "port_taken") << describe(r);
  EXPECT_EQ(by_key(list_all(b)), by_key(exported)) << "a refused import changed something";

  // With replace, the conflicting allocations give way.
  im.records = {fresh, stolen_port};
  im.replace = true;
  r = b.call(im);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(as_u64(field(r, "imported")), 2u);
  EXPECT_EQ(list_all(b).size(), 4u) << "fresh and stolen_port in, the old holder of the port out";
}

TEST(Ops, WatchStreamsEventsWithTheWatchRequestId) {
  DaemonProcess d;
  RawClient watcher(d.socket());
  RawClient c(d.socket());
  proto::Request w = make_request(proto::Op::watch);
  w.id = 777;
  proto::Response r = watcher.call(w);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(r.id, 777u);
  EXPECT_TRUE(as_bool(field(r, "watching")));

  Allocation a = must_alloc(c, "shop", "main", "web");
  std::optional<proto::Response> ev = watcher.receive();
  ASSERT_TRUE(ev) << "no allocated event";
  EXPECT_EQ(ev->id, 777u);
  EXPECT_TRUE(ev->ok);
  EXPECT_EQ(as_str(field(*ev, "event")), "allocated");
  EXPECT_EQ(allocation_of(*ev), a);

  // Idempotent repeats change nothing and report nothing.
  must_alloc(c, "shop", "main", "web");
  Filter f;
  f.id = a.id;
  ASSERT_TRUE(release_filter(c, f).ok);
  ev = watcher.receive();
  ASSERT_TRUE(ev) << "no released event";
  EXPECT_EQ(ev->id, 777u);
  EXPECT_EQ(as_str(field(*ev, "event")), "released");
  EXPECT_EQ(allocation_of(*ev).id, a.id);
  EXPECT_FALSE(watcher.receive(200ms)) << "an extra event arrived";
}

TEST(Ops, UnknownOpAndNewerVersion) {
  DaemonProcess d;
  RawClient c(d.socket());
  ASSERT_TRUE(c.send_raw(raw_frame(3, [](proto::Packer& pk) {
    proto::pack_key(pk, "v");
    pk.pack_uint32(1);
    proto::pack_key(pk, "id");
    pk.pack_uint64(5);
    proto::pack_key(pk, "op");
    proto::pack_string(pk, "frobnicate");
  })));
  std::optional<proto::Response> r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 5u);
  EXPECT_EQ(code_of(*r), "unknown_op");
  expect_still_usable(c);

  proto::Request newer = make_request(proto::Op::health);
  newer.version = 2;
  newer.id = 6;
  proto::Response v2 = c.call(newer);
  EXPECT_EQ(v2.id, 6u);
  EXPECT_EQ(code_of(v2), "unsupported_version");
  expect_still_usable(c);

  // Unknown fields are ignored.
  ASSERT_TRUE(c.send_raw(raw_frame(4, [](proto::Packer& pk) {
    proto::pack_key(pk, "v");
    pk.pack_uint32(1);
    proto::pack_key(pk, "id");
    pk.pack_uint64(7);
    proto::pack_key(pk, "op");
    proto::pack_string(pk, "health");
    proto::pack_key(pk, "from_the_future");
    pk.pack_array(0);
  })));
  r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << describe(*r);
}

TEST(Ops, ConfiguredPoolsAndReservedPorts) {
  DaemonProcess::Options o;
  o.config_toml = R"(default_pool = "misc"
reserved = [21000, "21001-21002", 21105]

[[pool]]
name = "web"
range = "21000-21099"
services = ["web", "vite"]

[[pool]]
name = "db"
start = 21100
end = 21199
services = ["postgres"]

[[pool]]
name = "misc"
range = "21200-21299"
)";
  DaemonProcess d(o);
  RawClient c(d.socket());

  Allocation web = must_alloc(c, "shop", "main", "web");
  EXPECT_EQ(web.pool, "web");
  EXPECT_GE(web.port, 21003) << "reserved ports are never auto-assigned";
  EXPECT_LE(web.port, 21099);
  Allocation pg = must_alloc(c, "shop", "main", "postgres");
  EXPECT_EQ(pg.pool, "db");
  EXPECT_GE(pg.port, 21100);
  EXPECT_LE(pg.port, 21199);
  Allocation other = must_alloc(c, "shop", "main", "worker");
  EXPECT_EQ(other.pool, "misc");
  EXPECT_GE(other.port, 21200);
  EXPECT_LE(other.port, 21299);

  proto::Request in_db = allocate_request("shop", "dev", "web");
  in_db.pool = "db";
  proto::Response r = c.call(in_db);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(allocation_of(r).pool, "db");
  EXPECT_GE(allocation_of(r).port, 21100);

  // An explicit request may take a reserved port.
  r = alloc(c, "shop", "main", "special", 21000);
  ASSERT_TRUE(r.ok) << describe(r);
  r = check(c, 21001);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_TRUE(as_bool(field(r, "reserved")));
  EXPECT_FALSE(as_bool(field(r, "available"))) << "portctl check reports a reserved port";

  std::vector<PoolView> pools = pools_of(c);
  ASSERT_EQ(pools.size(), 3u);
  std::set<std::string> names;
  for (const PoolView& p : pools) names.insert(p.name);
  EXPECT_EQ(names, (std::set<std::string>{"web", "db", "misc"}));
  for (const PoolView& p : pools) {
    if (p.name == "web") {
      EXPECT_EQ(p.size, 97u) << "100 ports minus 3 reserved";
    }
    if (p.name == "db") {
      EXPECT_EQ(p.size, 99u);
    }
  }
}

}  // namespace
}  // namespace portd::testing
