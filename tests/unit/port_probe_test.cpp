#include "alloc/port_probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "alloc/allocator.hpp"
#include "alloc/port_rules.hpp"
#include "sys/unique_fd.hpp"

namespace portd {
namespace {

using Sock = sys::UniqueFd;

enum class Addr { loopback4, loopback6, any4, any6 };

struct BindOptions {
  // IPV6_V6ONLY for the IPv6 addresses; false makes a dual-stack socket.
  bool v6only = true;
  // SO_REUSEADDR, TCP only: servers set it, and it keeps TIME_WAIT left by
  // an earlier test from failing this bind.
  bool reuse_addr = true;
  // listen() after bind, TCP only.
  bool listen = true;
};

// Binds a socket of `type` on `addr`:`port`. Returns an invalid Sock when
// the bind fails, with errno set.
Sock bind_on(Addr addr, int type, Port port, BindOptions opts = {}) {
  const bool v6 = addr == Addr::loopback6 || addr == Addr::any6;
  Sock s(::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return s;
  const int one = 1;
  if (type == SOCK_STREAM && opts.reuse_addr) {
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  int rc;
  if (!v6) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr == Addr::any4 ? INADDR_ANY : INADDR_LOOPBACK);
    rc = ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    const int v6only = opts.v6only ? 1 : 0;
    ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = addr == Addr::any6 ? in6addr_any : in6addr_loopback;
    rc = ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  if (rc != 0 || (type == SOCK_STREAM && opts.listen && ::listen(s.get(), 4) != 0)) {
    int err = errno;
    s.reset();
    errno = err;
  }
  return s;
}

bool have_ipv6_loopback() {
  Sock s(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return false;
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  return ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

// A port P such that P and P+1 are free for the probe and usable by
// auto-assign (outside the kernel's ephemeral range, not browser-blocked).
// The kernel would give us an ephemeral port with port 0, which the
// allocator never picks, so search a fixed stretch instead.
Port find_free_pair(OsPortProbe& probe) {
  auto eph = kernel_ephemeral_range();
  // Each call starts elsewhere, so tests do not inherit each other's ports.
  static std::uint32_t calls = 0;
  const std::uint32_t start =
      20000 + (static_cast<std::uint32_t>(::getpid()) + 97 * calls++) % 5000;
  for (std::uint32_t p = start; p < 32000; p += 7) {
    const auto port = static_cast<Port>(p);
    auto usable = [&](Port q) {
      return !(eph && eph->contains(q)) && !is_browser_bad_port(q) && !probe.in_use(q);
    };
    if (usable(port) && usable(static_cast<Port>(port + 1))) return port;
  }
  return 0;
}

class PortProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = find_free_pair(probe_);
    ASSERT_NE(port_, 0) << "no free port pair found";
  }

  // Allocator::choose over [port_, port_ + 1] with the real probe.
  std::optional<Port> choose_in_pair() {
    Config cfg = default_config();
    PoolConfig pool{"pair", {port_, static_cast<Port>(port_ + 1)}, {}};
    cfg.pools = {pool};
    cfg.default_pool = "pair";
    Allocator alloc(cfg, probe_, kernel_ephemeral_range());
    return alloc.choose(pool, {"app", "main", "web"}, port_, 1'700'000'000);
  }

  // Holds a socket bound as given: the probe must call port_ in use (and
  // auto-assign move on to port_ + 1), then free again once it is closed.
  void expect_detected(Addr addr, int type, BindOptions opts = {}) {
    if ((addr == Addr::loopback6 || addr == Addr::any6) && !have_ipv6_loopback()) {
      GTEST_SKIP() << "no IPv6 loopback on this host";
    }
    Sock s = bind_on(addr, type, port_, opts);
    ASSERT_GE(s.get(), 0) << std::strerror(errno);
    EXPECT_TRUE(probe_.in_use(port_));
    EXPECT_EQ(choose_in_pair(), static_cast<Port>(port_ + 1));
    s.reset();
    EXPECT_FALSE(probe_.in_use(port_));
  }

  OsPortProbe probe_;
  Port port_ = 0;
};

TEST_F(PortProbeTest, FreePortIsNotInUse) {
  EXPECT_FALSE(probe_.in_use(port_));
  EXPECT_EQ(choose_in_pair(), port_);  // sticky port_ is free, so it wins
}

TEST_F(PortProbeTest, TcpListenerOnIpv4LoopbackOnly) {
  expect_detected(Addr::loopback4, SOCK_STREAM);
}

TEST_F(PortProbeTest, TcpListenerOnIpv6LoopbackOnly) {
  expect_detected(Addr::loopback6, SOCK_STREAM);
}

TEST_F(PortProbeTest, TcpListenerOnIpv4Wildcard) {
  expect_detected(Addr::any4, SOCK_STREAM);
}

TEST_F(PortProbeTest, TcpListenerOnIpv6WildcardV6Only) {
  expect_detected(Addr::any6, SOCK_STREAM);
}

TEST_F(PortProbeTest, TcpListenerOnIpv6WildcardDualStack) {
  // What Node's server.listen(port) binds by default.
  expect_detected(Addr::any6, SOCK_STREAM, {.v6only = false});
}

TEST_F(PortProbeTest, TcpBoundNotListeningWithoutReuseAddr) {
  // A bound socket without SO_REUSEADDR stops a server's bind even before
  // it listens (or if it never does, like a client bound to a fixed port).
  // port_ may carry TIME_WAIT from an earlier test or run, which fails this
  // bind (and rightly not the probe's), so let the kernel pick the port.
  Sock s = bind_on(Addr::loopback4, SOCK_STREAM, 0, {.reuse_addr = false, .listen = false});
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const Port port = ntohs(sa.sin_port);
  EXPECT_TRUE(probe_.in_use(port));
  s.reset();
  EXPECT_FALSE(probe_.in_use(port));
}

TEST_F(PortProbeTest, UdpOnlySocketIpv4) {
  expect_detected(Addr::loopback4, SOCK_DGRAM);
}

TEST_F(PortProbeTest, UdpOnlySocketIpv6) {
  expect_detected(Addr::loopback6, SOCK_DGRAM);
}

TEST_F(PortProbeTest, UdpOnlySocketOnIpv6WildcardV6Only) {
  expect_detected(Addr::any6, SOCK_DGRAM);
}

TEST_F(PortProbeTest, RepeatedProbesAgree) {
  // The probe keeps state between calls (whether the host has IPv6).
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(probe_.in_use(port_));
  Sock s = bind_on(Addr::loopback4, SOCK_DGRAM, port_);
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(probe_.in_use(port_));
}

TEST_F(PortProbeTest, BothPortsHeldExhaustsThePool) {
  Sock a = bind_on(Addr::loopback4, SOCK_STREAM, port_);
  Sock b = bind_on(Addr::loopback4, SOCK_DGRAM, static_cast<Port>(port_ + 1));
  ASSERT_GE(a.get(), 0);
  ASSERT_GE(b.get(), 0);
  EXPECT_EQ(choose_in_pair(), std::nullopt);
}

// True when /proc/net/<table> lists a socket on local `port` in `state`
// (hex).
bool tcp_state_on_port(const char* table, Port port, const std::string& state) {
#ifdef __linux__
  std::ifstream in(std::string("/proc/net/") + table);
  std::string sl, local, remote, st, line;
  std::getline(in, line);
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (in >> sl >> local >> remote >> st) {
    if (local.ends_with(want) && st == state) return true;
    std::getline(in, line);
  }
  return false;
#else
  (void)table;
  (void)port;
  (void)state;
  return true;
#endif
}

// Connects to a listener on loopback `port` and closes the server side
// first, so the listening port's connection stays in TIME_WAIT. The
// listener has SO_REUSEADDR, as servers do: Linux lets a later bind
// through TIME_WAIT only when the TIME_WAIT socket had it too.
void leave_time_wait(Addr loopback, Port port) {
  Sock listener = bind_on(loopback, SOCK_STREAM, port);
  ASSERT_GE(listener.get(), 0) << std::strerror(errno);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
  Sock client(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&ss), len), 0);
  Sock server(::accept(listener.get(), nullptr, nullptr));
  ASSERT_GE(server.get(), 0);
  listener.reset();
  server.reset();  // active close: TIME_WAIT stays on port
  char c;
  ASSERT_EQ(::recv(client.get(), &c, 1, 0), 0);  // sees the FIN
  client.reset();
}

TEST_F(PortProbeTest, TimeWaitDoesNotCountAsInUse) {
  // A restarted server with SO_REUSEADDR can bind through TIME_WAIT, so
  // the port is free.
  ASSERT_NO_FATAL_FAILURE(leave_time_wait(Addr::loopback4, port_));
  EXPECT_TRUE(tcp_state_on_port("tcp", port_, "06")) << "expected a TIME_WAIT entry";
  EXPECT_FALSE(probe_.in_use(port_));
}

TEST_F(PortProbeTest, Ipv6TimeWaitDoesNotCountAsInUse) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this host";
  ASSERT_NO_FATAL_FAILURE(leave_time_wait(Addr::loopback6, port_));
  EXPECT_TRUE(tcp_state_on_port("tcp6", port_, "06")) << "expected a TIME_WAIT entry";
  EXPECT_FALSE(probe_.in_use(port_));
}

#ifdef __linux__
std::string own_comm() {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

TEST_F(PortProbeTest, OwnerFindsThisProcessForTcpListener) {
  Sock s = bind_on(Addr::loopback4, SOCK_STREAM, port_);
  ASSERT_GE(s.get(), 0);
  auto owner = probe_.owner(port_);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(owner->command, own_comm());
}

TEST_F(PortProbeTest, OwnerFindsThisProcessForIpv6Listener) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this host";
  Sock s = bind_on(Addr::loopback6, SOCK_STREAM, port_);
  ASSERT_GE(s.get(), 0);
  auto owner = probe_.owner(port_);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, static_cast<std::uint32_t>(::getpid()));
}

TEST_F(PortProbeTest, OwnerFindsThisProcessForUdpSocket) {
  Sock s = bind_on(Addr::loopback4, SOCK_DGRAM, port_);
  ASSERT_GE(s.get(), 0);
  auto owner = probe_.owner(port_);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, static_cast<std::uint32_t>(::getpid()));
}

TEST_F(PortProbeTest, OwnerIgnoresNonListeningTcpSockets) {
  // A bound but not listening TCP socket is not a server.
  Sock s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port_);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(probe_.owner(port_), std::nullopt);
}

bool suspected(OsPortProbe& probe, Port port) {
  auto ports = probe.suspects({port, port});
  return ports && *ports == std::vector<Port>{port};
}

// stats bind-tests only the suspects, so every kind of socket that makes
// in_use() true must make its port a suspect.
TEST_F(PortProbeTest, SuspectsNameTcpListenersAndUdpSockets) {
  auto none = probe_.suspects({port_, port_});
  ASSERT_TRUE(none.has_value()) << "/proc/net is readable here";
  EXPECT_TRUE(none->empty());
  Sock tcp = bind_on(Addr::loopback4, SOCK_STREAM, port_);
  ASSERT_GE(tcp.get(), 0);
  EXPECT_TRUE(suspected(probe_, port_));
  tcp.reset();
  Sock udp = bind_on(Addr::loopback4, SOCK_DGRAM, port_);
  ASSERT_GE(udp.get(), 0);
  EXPECT_TRUE(suspected(probe_, port_));
  if (have_ipv6_loopback()) {
    udp.reset();
    Sock tcp6 = bind_on(Addr::loopback6, SOCK_STREAM, port_);
    ASSERT_GE(tcp6.get(), 0);
    EXPECT_TRUE(suspected(probe_, port_));
  }
}

TEST_F(PortProbeTest, SuspectsLeaveOutTimeWait) {
  ASSERT_NO_FATAL_FAILURE(leave_time_wait(Addr::loopback4, port_));
  EXPECT_TRUE(tcp_state_on_port("tcp", port_, "06")) << "expected a TIME_WAIT entry";
  auto ports = probe_.suspects({port_, port_});
  ASSERT_TRUE(ports.has_value());
  EXPECT_TRUE(ports->empty());
}

TEST_F(PortProbeTest, SuspectsIncludeEveryPrivilegedPortOfTheRange) {
  // A bind below 1024 may fail with EACCES, which no socket table shows.
  auto ports = probe_.suspects({1020, 1025});
  ASSERT_TRUE(ports.has_value());
  std::vector<Port> privileged(ports->begin(), std::find(ports->begin(), ports->end(), Port{1024}));
  EXPECT_EQ(privileged, (std::vector<Port>{1020, 1021, 1022, 1023}));
}
#endif

TEST_F(PortProbeTest, OwnerOfAFreePortIsUnknown) {
  EXPECT_FALSE(probe_.owner(port_).has_value());
}

}  // namespace
}  // namespace portd
