#include "alloc/port_rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "alloc/allocator.hpp"

namespace portd {
namespace {

// Answers "free" for every port, so only the in-memory rules decide.
class AllFreeProbe final : public PortProbe {
 public:
  bool in_use(Port) override { return false; }
  std::optional<PortOwner> owner(Port) override { return std::nullopt; }
};

TEST(BadPorts, MatchesTheFetchStandardList) {
  // https://fetch.spec.whatwg.org/#port-blocking (0 was added in 2025).
  const std::set<Port> expected = {
      0,    1,    7,    9,    11,   13,   15,   17,   19,   20,   21,   22,   23,   25,
      37,   42,   43,   53,   69,   77,   79,   87,   95,   101,  102,  103,  104,  109,
      110,  111,  113,  115,  117,  119,  123,  135,  137,  139,  143,  161,  179,  389,
      427,  465,  512,  513,  514,  515,  526,  530,  531,  532,  540,  548,  554,  556,
      563,  587,  601,  636,  989,  990,  993,  995,  1719, 1720, 1723, 2049, 3659, 4045,
      4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080};
  auto list = browser_bad_ports();
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  EXPECT_EQ(std::set<Port>(list.begin(), list.end()), expected);
  EXPECT_EQ(list.size(), expected.size());
  for (std::uint32_t p = 0; p <= 65535; ++p) {
    ASSERT_EQ(is_browser_bad_port(static_cast<Port>(p)), expected.contains(static_cast<Port>(p)))
        << p;
  }
}

TEST(BadPorts, CommonDevPortsAreAllowed) {
  for (Port p : {80, 443, 3000, 5173, 5432, 6379, 8000, 8080, 9000}) {
    EXPECT_FALSE(is_browser_bad_port(p)) << p;
  }
}

TEST(ParsePortRange, ProcFormat) {
  EXPECT_EQ(parse_port_range("32768\t60999\n"), (PortRange{32768, 60999}));
  EXPECT_EQ(parse_port_range("1024 65535"), (PortRange{1024, 65535}));
  EXPECT_EQ(parse_port_range("  49152   65535  \n"), (PortRange{49152, 65535}));
  EXPECT_EQ(parse_port_range("5000 5000"), (PortRange{5000, 5000}));
}

TEST(ParsePortRange, RejectsMalformedText) {
  for (std::string_view bad :
       {"", "\n", "32768", "32768\n", "a b", "32768-60999", "60999 32768", "0 100", "1 65536",
        "1 99999999999", "1 2 3", "-1 5", "1,2", "12x 13", "12 13x"}) {
    EXPECT_EQ(parse_port_range(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(KernelEphemeralRange, MatchesProcFile) {
#ifdef __linux__
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  if (!in) GTEST_SKIP() << "no /proc/sys/net/ipv4/ip_local_port_range";
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto range = kernel_ephemeral_range();
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range, parse_port_range(text));
  EXPECT_LE(range->first, range->last);
#else
  auto range = kernel_ephemeral_range();
  ASSERT_TRUE(range.has_value());
  EXPECT_LE(range->first, range->last);
#endif
}

// Drains a pool through the allocator and returns every port it handed out.
std::vector<Port> drain(Allocator& alloc, const PoolConfig& pool) {
  std::vector<Port> out;
  const AllocationKey key{"app", "main", "web"};
  while (auto p = alloc.choose(pool, key, std::nullopt, 1000)) {
    out.push_back(*p);
    alloc.mark_allocated(*p);
  }
  return out;
}

TEST(AutoAssign, NeverPicksBadPorts) {
  Config cfg = default_config();
  PoolConfig pool{"low", {1, 11000}, {}};
  cfg.pools = {pool};
  cfg.default_pool = "low";
  AllFreeProbe probe;
  Allocator alloc(cfg, probe, std::nullopt);
  auto ports = drain(alloc, pool);
  EXPECT_EQ(ports.size(), 11000u - (browser_bad_ports().size() - 1));  // minus 1..10080 bad, not 0
  EXPECT_EQ(ports.size(), alloc.usable_in(pool.range));
  for (Port p : ports) EXPECT_FALSE(is_browser_bad_port(p)) << p;
  for (Port p : browser_bad_ports()) EXPECT_TRUE(alloc.is_excluded(p)) << p;
}

TEST(AutoAssign, NeverPicksTheEphemeralRange) {
  Config cfg = default_config();
  PoolConfig pool{"mid", {4990, 5020}, {}};
  cfg.pools = {pool};
  cfg.default_pool = "mid";
  AllFreeProbe probe;
  Allocator alloc(cfg, probe, PortRange{5000, 5010});
  auto ports = drain(alloc, pool);
  std::vector<Port> expected;
  for (Port p = 4990; p <= 5020; ++p) {
    if (p < 5000 || p > 5010) expected.push_back(p);
  }
  EXPECT_EQ(ports, expected);
  EXPECT_EQ(alloc.usable_in(pool.range), expected.size());
  EXPECT_TRUE(alloc.is_excluded(5000));
  EXPECT_TRUE(alloc.is_excluded(5010));
  EXPECT_FALSE(alloc.is_excluded(5011));
}

TEST(AutoAssign, KernelEphemeralRangeIsExcludedWithTheRealRange) {
  auto eph = kernel_ephemeral_range();
  if (!eph) GTEST_SKIP() << "ephemeral range unknown";
  Config cfg = default_config();
  PoolConfig pool{"all", {1024, 65535}, {}};
  cfg.pools = {pool};
  cfg.default_pool = "all";
  AllFreeProbe probe;
  Allocator alloc(cfg, probe, eph);
  EXPECT_TRUE(alloc.is_excluded(eph->first));
  EXPECT_TRUE(alloc.is_excluded(eph->last));
  for (Port p : drain(alloc, pool)) ASSERT_FALSE(eph->contains(p)) << p;
}

}  // namespace
}  // namespace portd
