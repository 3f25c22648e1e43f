#include "alloc/port_set.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace portd {
namespace {

// Port-by-port reference implementations to compare the word-wise ones with.
std::uint32_t naive_count(const PortSet& s, Port first, Port last) {
  std::uint32_t n = 0;
  for (std::uint32_t p = first; p <= last; ++p) n += s.contains(static_cast<Port>(p)) ? 1 : 0;
  return first > last ? 0 : n;
}

std::optional<Port> naive_first_absent(const PortSet& s, Port from, Port last,
                                       const PortSet& other) {
  for (std::uint32_t p = from; p <= last; ++p) {
    if (!s.contains(static_cast<Port>(p)) && !other.contains(static_cast<Port>(p))) {
      return static_cast<Port>(p);
    }
  }
  return std::nullopt;
}

TEST(PortSet, EmptySet) {
  PortSet s;
  PortSet none;
  EXPECT_EQ(s.count(0, 65535), 0u);
  EXPECT_EQ(s.first_absent(0, 65535, none), Port{0});
  EXPECT_EQ(s.first_absent(65535, 65535, none), Port{65535});
  EXPECT_FALSE(s.contains(0));
  EXPECT_FALSE(s.contains(65535));
}

TEST(PortSet, ExtremePorts) {
  PortSet s;
  PortSet none;
  s.insert(0);
  s.insert(65535);
  EXPECT_TRUE(s.contains(0));
  EXPECT_TRUE(s.contains(65535));
  EXPECT_FALSE(s.contains(1));
  EXPECT_FALSE(s.contains(65534));
  EXPECT_EQ(s.count(0, 65535), 2u);
  EXPECT_EQ(s.count(0, 0), 1u);
  EXPECT_EQ(s.count(65535, 65535), 1u);
  EXPECT_EQ(s.count(1, 65534), 0u);
  EXPECT_EQ(s.first_absent(0, 0, none), std::nullopt);
  EXPECT_EQ(s.first_absent(0, 65535, none), Port{1});
  EXPECT_EQ(s.first_absent(65535, 65535, none), std::nullopt);
  EXPECT_EQ(s.first_absent(65534, 65535, none), Port{65534});
}

TEST(PortSet, WordBoundary63And64) {
  PortSet s;
  PortSet none;
  s.insert(63);
  s.insert(64);
  EXPECT_EQ(s.count(63, 64), 2u);
  EXPECT_EQ(s.count(63, 63), 1u);
  EXPECT_EQ(s.count(64, 64), 1u);
  EXPECT_EQ(s.count(0, 63), 1u);
  EXPECT_EQ(s.count(64, 127), 1u);
  EXPECT_EQ(s.count(0, 62), 0u);
  EXPECT_EQ(s.count(65, 127), 0u);
  EXPECT_EQ(s.first_absent(63, 64, none), std::nullopt);
  EXPECT_EQ(s.first_absent(63, 65, none), Port{65});
  EXPECT_EQ(s.first_absent(62, 64, none), Port{62});
  EXPECT_EQ(s.first_absent(64, 64, none), std::nullopt);
}

TEST(PortSet, FirstAbsentSkipsFullWordsOfBothSets) {
  PortSet s;
  PortSet other;
  for (Port p = 0; p < 200; ++p) s.insert(p);
  for (Port p = 200; p <= 300; ++p) other.insert(p);
  EXPECT_EQ(s.first_absent(0, 65535, PortSet{}), Port{200});
  EXPECT_EQ(s.first_absent(0, 65535, other), Port{301});
  EXPECT_EQ(s.first_absent(0, 300, other), std::nullopt);
  EXPECT_EQ(s.count(0, 65535), 200u);
  EXPECT_EQ(s.count(10, 150), 141u);
}

TEST(PortSet, EmptyRangeWhenFirstAfterLast) {
  PortSet s;
  s.insert(10);
  EXPECT_EQ(s.count(11, 10), 0u);
  EXPECT_EQ(s.first_absent(11, 10, PortSet{}), std::nullopt);
}

TEST(PortSet, EraseClearAndUnion) {
  PortSet a;
  PortSet b;
  a.insert(100);
  a.insert(200);
  b.insert(300);
  a |= b;
  EXPECT_EQ(a.count(0, 65535), 3u);
  EXPECT_TRUE(a.contains(300));
  a.erase(200);
  EXPECT_FALSE(a.contains(200));
  EXPECT_EQ(a.count(0, 65535), 2u);
  a.erase(200);  // erasing an absent member is a no-op
  EXPECT_EQ(a.count(0, 65535), 2u);
  a.clear();
  EXPECT_EQ(a.count(0, 65535), 0u);
  EXPECT_TRUE(b.contains(300));  // |= does not change its argument
}

TEST(PortSet, FullSetHasNoAbsentPort) {
  PortSet s;
  for (std::uint32_t p = 0; p <= 65535; ++p) s.insert(static_cast<Port>(p));
  EXPECT_EQ(s.count(0, 65535), 65536u);
  EXPECT_EQ(s.first_absent(0, 65535, PortSet{}), std::nullopt);
  s.erase(65535);
  EXPECT_EQ(s.first_absent(0, 65535, PortSet{}), Port{65535});
  s.erase(12345);
  EXPECT_EQ(s.first_absent(0, 65535, PortSet{}), Port{12345});
  EXPECT_EQ(s.first_absent(12346, 65535, PortSet{}), Port{65535});
}

TEST(PortSet, MatchesPortByPortReferenceOnRandomSets) {
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    PortSet s;
    PortSet other;
    // Dense runs make first_absent cross many full words.
    std::uniform_int_distribution<int> start(0, 65535);
    for (int i = 0; i < 50; ++i) {
      int a = start(rng);
      int len = std::uniform_int_distribution<int>(1, 700)(rng);
      for (int p = a; p < a + len && p <= 65535; ++p) {
        ((p % 3) ? s : other).insert(static_cast<Port>(p));
      }
    }
    for (int q = 0; q < 200; ++q) {
      Port x = static_cast<Port>(start(rng));
      Port y = static_cast<Port>(start(rng));
      if (x > y) std::swap(x, y);
      ASSERT_EQ(s.count(x, y), naive_count(s, x, y)) << x << "-" << y;
      ASSERT_EQ(s.first_absent(x, y, other), naive_first_absent(s, x, y, other)) << x << "-" << y;
    }
  }
}

TEST(PortSet, FiftyThousandMembers) {
  PortSet s;
  for (std::uint32_t p = 10000; p < 60000; ++p) s.insert(static_cast<Port>(p));
  EXPECT_EQ(s.count(0, 65535), 50000u);
  EXPECT_EQ(s.first_absent(10000, 65535, PortSet{}), Port{60000});
  EXPECT_EQ(s.first_absent(10000, 59999, PortSet{}), std::nullopt);
}

}  // namespace
}  // namespace portd
