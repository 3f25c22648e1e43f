// Parsing the kernel's socket tables (proc(5) /proc/net/tcp) and docker's
// output for portctl who/free.
#include <gtest/gtest.h>

#include "sys/port_holders.hpp"

namespace portd::sys {
namespace {

// As Linux 6.x prints them on x86-64 (little-endian words).
constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "41234 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000:0BB8 00000000:0000 07 00000000:00000000 00:00000000 00000000 65534        0 "
    "555 1 0000000000000000 100 0 0 10 0\n"
    "   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "41240 1 0000000000000000 20 4 30 10 -1\n"
    "   3: garbage line\n";

constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0\n";

constexpr const char* kUdp =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode ref pointer drops\n"
    "  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        "
    "0 9999 2 0000000000000000 0\n";

TEST(ProcNet, ParsesTcpListenersBoundAndConnectedSockets) {
  auto s = parse_proc_net(kTcp, "tcp");
  ASSERT_EQ(s.size(), 3u) << "the header and the garbage line are skipped";
  EXPECT_EQ(s[0].protocol, "tcp");
  EXPECT_EQ(s[0].address, "127.0.0.1");
  EXPECT_EQ(s[0].port, 8080);
  EXPECT_EQ(s[0].state, "listen");
  EXPECT_EQ(s[0].uid, 1000u);
  EXPECT_EQ(s[0].inode, 41234u);
  EXPECT_EQ(s[1].address, "0.0.0.0");
  EXPECT_EQ(s[1].port, 3000);
  EXPECT_EQ(s[1].state, "bound");
  EXPECT_EQ(s[1].uid, 65534u);
  EXPECT_EQ(s[2].state, "connected");
  EXPECT_TRUE(holds_port(s[0]));
  EXPECT_TRUE(holds_port(s[1]));
  EXPECT_FALSE(holds_port(s[2])) << "an accepted connection does not stop a bind";
}

TEST(ProcNet, ParsesTcp6Addresses) {
  auto s = parse_proc_net(kTcp6, "tcp6");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].protocol, "tcp6");
  EXPECT_EQ(s[0].address, "::");
  EXPECT_EQ(s[0].port, 8080);
  EXPECT_EQ(s[1].address, "::1");
  EXPECT_EQ(s[1].port, 53);
  EXPECT_EQ(s[1].inode, 778u);
}

TEST(ProcNet, EveryUdpSocketHoldsItsPort) {
  auto s = parse_proc_net(kUdp, "udp");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].address, "127.0.0.53");
  EXPECT_EQ(s[0].port, 53);
  EXPECT_EQ(s[0].state, "bound");
  EXPECT_EQ(s[0].uid, 101u);
  EXPECT_TRUE(holds_port(s[0]));
}

TEST(ProcNet, EmptyOrForeignTextGivesNothing) {
  EXPECT_TRUE(parse_proc_net("", "tcp").empty());
  EXPECT_TRUE(parse_proc_net("not a socket table\n", "udp6").empty());
}

TEST(Docker, ProxyTargetComesFromItsArguments) {
  EXPECT_EQ(docker_proxy_target({"/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0",
                                 "-host-port", "8080", "-container-ip", "172.17.0.2",
                                 "-container-port", "80"}),
            "172.17.0.2:80");
  EXPECT_EQ(
      docker_proxy_target({"docker-proxy", "-container-ip", "fd00::2", "-container-port", "80"}),
      "[fd00::2]:80");
  EXPECT_EQ(docker_proxy_target({"docker-proxy", "-proto", "tcp"}), "");
}

TEST(Docker, PsLineGivesNameAndComposeProject) {
  EXPECT_EQ(parse_docker_ps_line("shop-web-1\tshop\n"),
            (std::pair<std::string, std::string>{"shop-web-1", "shop"}));
  EXPECT_EQ(parse_docker_ps_line("lonely\t\n"),
            (std::pair<std::string, std::string>{"lonely", ""}));
}

}  // namespace
}  // namespace portd::sys
