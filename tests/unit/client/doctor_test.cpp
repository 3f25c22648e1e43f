// portctl doctor's pool rules and its report (portctl(1) "doctor").
#include <gtest/gtest.h>

#include "portctl/doctor/checks.hpp"

using namespace portctl::doctor;
using portd::Config;
using portd::PortRange;

namespace {

Config one_pool(PortRange range) {
  Config c;
  c.pools = {portd::PoolConfig{"web", range, {}}};
  c.default_pool = "web";
  return c;
}

const Finding& only(const Report& r) {
  EXPECT_EQ(r.findings().size(), 1u);
  return r.findings().front();
}

}  // namespace

TEST(DoctorPools, PoolClearOfEverythingIsOk) {
  Report r;
  check_pools(r, one_pool({3000, 3009}), PortRange{32768, 60999}, true, "portd.toml");
  EXPECT_EQ(only(r).level, Level::ok);
  EXPECT_EQ(only(r).name, "pool web");
  EXPECT_EQ(only(r).detail, "3000-3009: 10 of 10 ports can be auto-assigned");
  EXPECT_TRUE(r.healthy());
}

TEST(DoctorPools, OverlapWithEphemeralRangeWarnsWithUsableCount) {
  Report r;
  check_pools(r, one_pool({32760, 32779}), PortRange{32768, 60999}, true, "portd.toml");
  EXPECT_EQ(only(r).level, Level::warn);
  EXPECT_NE(only(r).detail.find("ephemeral port range 32768-60999"), std::string::npos);
  EXPECT_NE(only(r).detail.find("only 8 of its 20 ports"), std::string::npos);
  EXPECT_FALSE(r.healthy());
}

TEST(DoctorPools, BrowserUnsafePortInFilePoolWarnsUnlessReserved) {
  Report r;
  check_pools(r, one_pool({5990, 6010}), std::nullopt, true, "portd.toml");
  EXPECT_EQ(only(r).level, Level::warn);
  EXPECT_NE(only(r).detail.find("browser-unsafe port 6000"), std::string::npos);

  Config reserved = one_pool({5990, 6010});
  reserved.reserved = {PortRange{6000, 6000}};
  Report r2;
  check_pools(r2, reserved, std::nullopt, true, "portd.toml");
  EXPECT_EQ(only(r2).level, Level::ok);
}

TEST(DoctorPools, BuiltInDefaultPoolIsOkDespiteItsUnsafePorts) {
  Report r;
  check_pools(r, portd::default_config(), PortRange{32768, 60999}, false, "portd.toml");
  EXPECT_EQ(only(r).level, Level::ok);
}

TEST(DoctorPools, PoolWithNothingLeftFails) {
  Config c = one_pool({6665, 6669});  // all browser-unsafe
  Report r;
  check_pools(r, c, std::nullopt, true, "portd.toml");
  EXPECT_EQ(only(r).level, Level::fail);
  EXPECT_FALSE(only(r).fix.empty());
}

TEST(DoctorReport, JsonHasStatusAndNullFixForOk) {
  Report r;
  r.ok("a", "fine");
  r.fail("b", "broken", "do this");
  auto j = to_json(r);
  EXPECT_FALSE(j["healthy"].get<bool>());
  EXPECT_EQ(j["checks"][0]["status"], "ok");
  EXPECT_TRUE(j["checks"][0]["fix"].is_null());
  EXPECT_EQ(j["checks"][1]["status"], "fail");
  EXPECT_EQ(j["checks"][1]["fix"], "do this");
}
