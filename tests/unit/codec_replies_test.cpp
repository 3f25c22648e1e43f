// Replies of the ops (src/proto/ops/*.hpp, portd-protocol(7)): the bytes a
// client of another language reads, and what decoding gives back.
#include <string>

#include <gtest/gtest.h>

#include "proto/frame.hpp"
#include "proto/ops/check.hpp"
#include "proto/ops/gc.hpp"
#include "proto/ops/stats.hpp"
#include "proto/ops/watch.hpp"

namespace portd::proto {
namespace {

std::string payload(const std::string& frame) {
  return frame.substr(kFrameHeaderSize);
}

Allocation sample_allocation() {
  Allocation a;
  a.id = 3;
  a.app = "myapp";
  a.instance = "main";
  a.service = "web";
  a.port = 3000;
  a.pool = "default";
  a.created_at = 1'700'000'000;
  return a;
}

TEST(CheckReply, FreePortBytes) {
  CheckReply c;
  c.port = 8080;
  c.available = true;
  std::string out;
  encode_check_reply(out, 1, c);
  // No holder and no pid: those fields are left out, not sent as nil.
  std::string want = std::string("\x86") + "\xa2" + "id" + "\x01" + "\xa2" + "ok" + "\xc3" +
                     "\xa4" + "port" + "\xcd\x1f\x90" + "\xa9" + "available" + "\xc3" + "\xa8" +
                     "reserved" + "\xc2" + "\xa6" + "in_use" + "\xc2";
  EXPECT_EQ(payload(out), want);
}

TEST(CheckReply, RoundTripWithHolderAndOwner) {
  CheckReply c;
  c.port = 3000;
  c.in_use = true;
  c.holder = sample_allocation();
  c.pid = 4242;
  c.command = "node";
  std::string out;
  encode_check_reply(out, 2, c);
  CheckReply back = decode_check_reply(decode_response(payload(out)));
  EXPECT_EQ(back.port, 3000);
  EXPECT_FALSE(back.available);
  EXPECT_TRUE(back.in_use);
  ASSERT_TRUE(back.holder);
  EXPECT_EQ(back.holder->service, "web");
  EXPECT_EQ(back.pid, 4242u);
  EXPECT_EQ(back.command, "node");
}

TEST(WatchEvent, OverflowBytes) {
  std::string out;
  encode_watch_event(out, 7, {"overflow", std::nullopt});
  std::string want = std::string("\x83") + "\xa2" + "id" + "\x07" + "\xa2" + "ok" + "\xc3" +
                     "\xa5" + "event" + "\xa8" + "overflow";
  EXPECT_EQ(payload(out), want);
  EXPECT_FALSE(decode_watch_event(decode_response(payload(out))).allocation);
}

TEST(WatchEvent, AllocatedNeedsItsAllocation) {
  std::string out;
  encode_watch_event(out, 7, {"allocated", std::nullopt});
  EXPECT_THROW(decode_watch_event(decode_response(payload(out))), Error);
  out.clear();
  encode_watch_event(out, 7, {"allocated", sample_allocation()});
  WatchEvent back = decode_watch_event(decode_response(payload(out)));
  ASSERT_TRUE(back.allocation);
  EXPECT_EQ(back.allocation->port, 3000);
}

TEST(StatsReply, RoundTrip) {
  StatsReply s;
  s.allocations = 2;
  s.pools.push_back({"default", 3000, 3999, 1000, 2, 998, 0.2, false});
  std::string out;
  encode_stats_reply(out, 4, s);
  StatsReply back = decode_stats_reply(decode_response(payload(out)));
  EXPECT_EQ(back.allocations, 2u);
  ASSERT_EQ(back.pools.size(), 1u);
  EXPECT_EQ(back.pools[0].name, "default");
  EXPECT_EQ(back.pools[0].start, 3000);
  EXPECT_EQ(back.pools[0].end, 3999);
  EXPECT_EQ(back.pools[0].free, 998u);
  EXPECT_DOUBLE_EQ(back.pools[0].percent, 0.2);
}

TEST(GcReply, RoundTrip) {
  GcReply g;
  g.dry_run = true;
  g.removed.push_back({sample_allocation(), "process_dead"});
  std::string out;
  encode_gc_reply(out, 5, g);
  GcReply back = decode_gc_reply(decode_response(payload(out)));
  EXPECT_TRUE(back.dry_run);
  ASSERT_EQ(back.removed.size(), 1u);
  EXPECT_EQ(back.removed[0].reason, "process_dead");
  EXPECT_EQ(back.removed[0].allocation.app, "myapp");
}

}  // namespace
}  // namespace portd::proto
