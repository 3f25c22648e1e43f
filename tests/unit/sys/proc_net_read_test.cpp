// Reading the live socket tables (src/sys/proc_net.hpp): stats and the
// port owner lookup see a listener of this process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

#include "sys/proc_net.hpp"
#include "sys/unique_fd.hpp"

namespace portd::sys {
namespace {

#ifdef __linux__
TEST(ReadSocketTables, ListsAListenerOfThisProcess) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(s);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(s.get(), 1), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const auto port = ntohs(sa.sin_port);

  auto sockets = read_socket_tables();
  ASSERT_TRUE(sockets.has_value());
  auto it = std::find_if(sockets->begin(), sockets->end(),
                         [&](const SocketEntry& e) { return e.port == port; });
  ASSERT_NE(it, sockets->end());
  EXPECT_EQ(it->protocol, "tcp");
  EXPECT_EQ(it->address, "127.0.0.1");
  EXPECT_EQ(it->state, "listen");
  EXPECT_EQ(it->uid, ::geteuid());
  EXPECT_NE(it->inode, 0u);
  EXPECT_TRUE(holds_port(*it));
}
#endif

}  // namespace
}  // namespace portd::sys
