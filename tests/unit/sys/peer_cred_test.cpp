// Peer credentials (src/sys/peer_cred.hpp, unix(7) SO_PEERCRED): both ends
// of the daemon's socket decide on them whom to talk to.
#include "sys/peer_cred.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>

#include "sys/unique_fd.hpp"

namespace portd::sys {
namespace {

TEST(PeerCredentials, ASocketpairPeerIsThisProcess) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  auto cred = peer_credentials(a.get());
  ASSERT_TRUE(cred.has_value());
  EXPECT_EQ(cred->uid, ::geteuid());
  EXPECT_EQ(cred->gid, ::getegid());
#if defined(SO_PEERCRED) || defined(LOCAL_PEERPID)
  EXPECT_EQ(cred->pid, ::getpid());
#endif
}

TEST(PeerCredentials, APipeHasNoPeer) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  errno = 0;
  EXPECT_FALSE(peer_credentials(r.get()).has_value());
  EXPECT_EQ(errno, ENOTSOCK);
}

}  // namespace
}  // namespace portd::sys
