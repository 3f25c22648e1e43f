// port_bound: the bind test of portd-protocol(7) "allocate", for portctl
// free to see whether the port came back.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys/port_holders.hpp"
#include "sys/unique_fd.hpp"

namespace portd::sys {
namespace {

// 1: bound, 0: free, -1: this address family is unavailable.
int bind_fails(int family, int type, std::uint16_t port) {
  UniqueFd fd(::socket(family, type | SOCK_CLOEXEC, 0));
  if (!fd) return -1;
  int one = 1;
  int zero = 0;
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (family == AF_INET6) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  const int err = errno;
  if (rc == 0) return 0;
  return err == EADDRINUSE || err == EACCES ? 1 : -1;
}

}  // namespace

bool port_bound(std::uint16_t port) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int r = bind_fails(AF_INET6, type, port);
    if (r < 0) r = bind_fails(AF_INET, type, port);
    if (r == 1) return true;
  }
  return false;
}

}  // namespace portd::sys
