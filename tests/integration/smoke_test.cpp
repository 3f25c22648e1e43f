// The daemon answers, keeps what it acknowledged across a restart, and
// refuses to run twice on one state directory.
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"

namespace portd::testing {
namespace {

using namespace std::chrono_literals;

TEST(Smoke, AllocatesAndKeepsItAcrossRestart) {
  DaemonProcess d;
  std::uint16_t port = 0;
  {
    RawClient c(d.socket());
    proto::Response r = c.call(allocate_request("myapp", "main", "web"));
    ASSERT_TRUE(r.ok) << r.error->what();
    auto a = proto::unpack_allocation(*r.find("allocation"));
    port = a.port;
    EXPECT_GE(port, 3000);
  }
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(std::filesystem::exists(d.socket())) << "own socket not removed on SIGTERM";
  d.start();
  RawClient c(d.socket());
  proto::Response r = c.call(make_request(proto::Op::list));
  ASSERT_TRUE(r.ok);
  const msgpack::object* list = r.find("allocations");
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->via.array.size, 1u);
  EXPECT_EQ(proto::unpack_allocation(list->via.array.ptr[0]).port, port);
}

TEST(Smoke, SecondDaemonOnTheSameSocketExitsWithStatusOne) {
  DaemonProcess first;
  auto env = first.environment();
  pid_t second = spawn({portd_binary().string(), "--socket", first.socket().string(), "--state-dir",
                        first.state_dir().string()},
                       env, first.root() / "second.log");
  EXPECT_EQ(wait_pid(second, 10s), 1);
  RawClient c(first.socket());
  EXPECT_TRUE(c.call(make_request(proto::Op::health)).ok);
}

}  // namespace
}  // namespace portd::testing
