// T21: random operation sequences against an in-memory reference model.
// Each sequence runs on a fresh store; the store is reopened at random
// points to check that what was committed is what comes back. A failure
// prints the seed and the step; rerun one seed with PORTD_MODEL_SEED=N.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "registry/registry.hpp"
#include "support/fake_probe.hpp"
#include "support/temp_dir.hpp"

namespace portd {
namespace {

constexpr Port kFirst = 3000;
constexpr Port kLast = 3011;  // 12 ports for 27 keys: exhaustion is common
constexpr std::int64_t kStart = 1'750'000'000;

struct Model {
  std::map<AllocationKey, Port> held;
  std::map<AllocationKey, Port> last_port;  // sticky
  std::map<Port, AllocationKey> frozen_by;  // every release in a run is within the freeze

  bool port_held(Port p) const {
    for (auto& [k, port] : held) {
      if (port == p) return true;
    }
    return false;
  }
  std::size_t free_count() const { return kLast - kFirst + 1 - held.size(); }
  bool has_unfrozen_free_for(const AllocationKey& key) const {
    for (Port p = kFirst; p <= kLast; ++p) {
      if (port_held(p)) continue;
      auto f = frozen_by.find(p);
      if (f == frozen_by.end() || f->second == key) return true;
    }
    return false;
  }
};

class Harness {
 public:
  explicit Harness(const std::filesystem::path& dir) : dir_(dir) { reopen(); }
  void reopen() {
    registry_.reset();
    store_.reset();
    store::StoreOptions so;
    so.dir = dir_;
    store_ = std::make_unique<store::Store>(so);
    Config c = default_config();
    c.pools = {PoolConfig{"default", {kFirst, kLast}, {}}};
    registry_ = std::make_unique<Registry>(*store_, c, probe_, std::nullopt);
  }
  Registry& registry() { return *registry_; }

 private:
  std::filesystem::path dir_;
  testing::FakeProbe probe_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Registry> registry_;
};

void run_sequence(std::uint32_t seed, int steps) {
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with PORTD_MODEL_SEED=" + std::to_string(seed) + ")");
  testing::TempDir dir(true);
  Harness h(dir.path());
  Model m;
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* names[] = {"a", "b", "c"};
  std::int64_t now = kStart;

  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    ++now;
    AllocationKey key{names[pick(3)], names[pick(3)], names[pick(3)]};
    int op = pick(10);
    {  // the batch must end before a reopen below destroys its store
      Batch b = h.registry().begin(op < 7);
      if (op < 4) {  // allocate auto
        AllocateRequest r;
        r.key = key;
        auto before = m.held.find(key);
        if (before != m.held.end()) {
          auto res = h.registry().allocate(b, r, now);
          EXPECT_FALSE(res.created);
          EXPECT_EQ(res.allocation.port, before->second);
        } else if (m.free_count() == 0) {
          try {
            h.registry().allocate(b, r, now);
            ADD_FAILURE() << "allocated with no free port";
          } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::pool_exhausted);
          }
        } else {
          auto res = h.registry().allocate(b, r, now);
          Port p = res.allocation.port;
          EXPECT_TRUE(res.created);
          EXPECT_GE(p, kFirst);
          EXPECT_LE(p, kLast);
          EXPECT_FALSE(m.port_held(p)) << "port " << p << " handed out twice";
          auto sticky = m.last_port.find(key);
          auto sticky_frozen =
              sticky == m.last_port.end() ? m.frozen_by.end() : m.frozen_by.find(sticky->second);
          if (sticky != m.last_port.end() && !m.port_held(sticky->second) &&
              (sticky_frozen == m.frozen_by.end() || sticky_frozen->second == key)) {
            EXPECT_EQ(p, sticky->second) << "sticky port not reused";
          }
          auto f = m.frozen_by.find(p);
          if (f != m.frozen_by.end() && !(f->second == key)) {
            EXPECT_FALSE(m.has_unfrozen_free_for(key))
                << "took port " << p << " frozen for another key while others were free";
          }
          m.held[key] = p;
          m.frozen_by.erase(p);
        }
      } else if (op < 5) {  // allocate explicit
        AllocateRequest r;
        r.key = key;
        r.port = static_cast<Port>(kFirst + pick(kLast - kFirst + 1));
        auto mine = m.held.find(key);
        bool taken_by_other =
            m.port_held(r.port) && !(mine != m.held.end() && mine->second == r.port);
        try {
          auto res = h.registry().allocate(b, r, now);
          EXPECT_FALSE(taken_by_other);
          EXPECT_TRUE(mine == m.held.end() || mine->second == r.port);
          m.held[key] = r.port;
          m.frozen_by.erase(r.port);
        } catch (const Error& e) {
          if (mine != m.held.end() && mine->second != r.port) {
            EXPECT_EQ(e.code(), ErrorCode::key_exists);
          } else {
            EXPECT_TRUE(taken_by_other);
            EXPECT_EQ(e.code(), ErrorCode::port_taken);
          }
        }
      } else if (op < 7) {  // release by key
        Filter f{.app = key.app, .instance = key.instance, .service = key.service};
        auto released = h.registry().release(b, f, now);
        auto it = m.held.find(key);
        EXPECT_EQ(released.size(), it == m.held.end() ? 0u : 1u);
        if (it != m.held.end()) {
          m.last_port[key] = it->second;
          m.frozen_by[it->second] = key;
          m.held.erase(it);
        }
      } else if (op < 9) {  // list
        auto all = h.registry().list(b, Filter{});
        EXPECT_EQ(all.size(), m.held.size());
        std::set<Port> ports;
        for (const Allocation& a : all) {
          EXPECT_TRUE(ports.insert(a.port).second) << "duplicate port " << a.port;
          auto it = m.held.find(a.key());
          ASSERT_NE(it, m.held.end()) << "unexpected " << to_string(a.key());
          EXPECT_EQ(it->second, a.port);
        }
      } else {  // check
        Port p = static_cast<Port>(kFirst + pick(kLast - kFirst + 1));
        EXPECT_EQ(h.registry().check(b, p, now).holder.has_value(), m.port_held(p));
      }
      h.registry().commit(b);
    }
    if (pick(25) == 0) h.reopen();
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(RegistryModel, RandomSequencesMatchTheModel) {
  if (const char* s = std::getenv("PORTD_MODEL_SEED")) {
    run_sequence(static_cast<std::uint32_t>(std::strtoul(s, nullptr, 10)), 2000);
    return;
  }
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    run_sequence(seed, 250);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace portd
