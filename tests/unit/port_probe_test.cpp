#include "alloc/port_probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "alloc/allocator.hpp"
#include "alloc/port_rules.hpp"

namespace portd {
namespace {

// Test-side socket owner.
class Sock {
 public:
  explicit Sock(int fd = -1) : fd_(fd) {}
  Sock(Sock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Sock& operator=(Sock&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Sock() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

enum class Addr { loopback4, loopback6, any4 };

// Binds a socket of `type` on `addr`:`port` (listening for TCP). Returns an
// invalid Sock when the bind fails, with errno set.
Sock bind_on(Addr addr, int type, Port port) {
  const int family = addr == Addr::loopback6 ? AF_INET6 : AF_INET;
  Sock s(::socket(family, type | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return s;
  if (type == SOCK_STREAM) {
    // As servers do; it also keeps TIME_WAIT left by an earlier test from
    // failing this bind.
    const int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  int rc;
  if (family == AF_INET) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr == Addr::any4 ? INADDR_ANY : INADDR_LOOPBACK);
    rc = ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = in6addr_loopback;
    rc = ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  if (rc != 0 || (type == SOCK_STREAM && ::listen(s.get(), 4) != 0)) {
    int err = errno;
    s.close();
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

  OsPortProbe probe_;
  Port port_ = 0;
};

TEST_F(PortProbeTest, FreePortIsNotInUse) {
  EXPECT_FALSE(probe_.in_use(port_));
  EXPECT_EQ(choose_in_pair(), port_);  // sticky port_ is free, so it wins
}

TEST_F(PortProbeTest, TcpListenerOnIpv4LoopbackOnly) {
  Sock s = bind_on(Addr::loopback4, SOCK_STREAM, port_);
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  EXPECT_TRUE(probe_.in_use(port_));
  EXPECT_EQ(choose_in_pair(), static_cast<Port>(port_ + 1));
  s.close();
  EXPECT_FALSE(probe_.in_use(port_));
}

TEST_F(PortProbeTest, TcpListenerOnIpv6LoopbackOnly) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this host";
  Sock s = bind_on(Addr::loopback6, SOCK_STREAM, port_);
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  EXPECT_TRUE(probe_.in_use(port_));
  EXPECT_EQ(choose_in_pair(), static_cast<Port>(port_ + 1));
}

TEST_F(PortProbeTest, TcpListenerOnIpv4Wildcard) {
  Sock s = bind_on(Addr::any4, SOCK_STREAM, port_);
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  EXPECT_TRUE(probe_.in_use(port_));
}

TEST_F(PortProbeTest, UdpOnlySocketIpv4) {
  Sock s = bind_on(Addr::loopback4, SOCK_DGRAM, port_);
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  EXPECT_TRUE(probe_.in_use(port_));
  EXPECT_EQ(choose_in_pair(), static_cast<Port>(port_ + 1));
}

TEST_F(PortProbeTest, UdpOnlySocketIpv6) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this host";
  Sock s = bind_on(Addr::loopback6, SOCK_DGRAM, port_);
  ASSERT_GE(s.get(), 0) << std::strerror(errno);
  EXPECT_TRUE(probe_.in_use(port_));
}

TEST_F(PortProbeTest, BothPortsHeldExhaustsThePool) {
  Sock a = bind_on(Addr::loopback4, SOCK_STREAM, port_);
  Sock b = bind_on(Addr::loopback4, SOCK_DGRAM, static_cast<Port>(port_ + 1));
  ASSERT_GE(a.get(), 0);
  ASSERT_GE(b.get(), 0);
  EXPECT_EQ(choose_in_pair(), std::nullopt);
}

// True when /proc/net/tcp lists a socket on local `port` in `state` (hex).
bool tcp_state_on_port(Port port, const std::string& state) {
#ifdef __linux__
  std::ifstream in("/proc/net/tcp");
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
  (void)port;
  (void)state;
  return true;
#endif
}

TEST_F(PortProbeTest, TimeWaitDoesNotCountAsInUse) {
  // Server-side active close leaves the listening port's connection in
  // TIME_WAIT; a restarted server with SO_REUSEADDR can bind again, so the
  // port is free. (Linux lets the bind through only when the TIME_WAIT
  // socket had SO_REUSEADDR too, which servers set: so does this one.)
  Sock listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ASSERT_EQ(::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port_);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  Sock client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  Sock server(::accept(listener.get(), nullptr, nullptr));
  ASSERT_GE(server.get(), 0);
  listener.close();
  server.close();  // active close: TIME_WAIT stays on port_
  char c;
  ASSERT_EQ(::recv(client.get(), &c, 1, 0), 0);  // sees the FIN
  client.close();
  EXPECT_TRUE(tcp_state_on_port(port_, "06")) << "expected a TIME_WAIT entry";
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
#endif

TEST_F(PortProbeTest, OwnerOfAFreePortIsUnknown) {
  EXPECT_FALSE(probe_.owner(port_).has_value());
}

}  // namespace
}  // namespace portd
