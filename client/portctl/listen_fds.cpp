// Listening sockets for `portctl exec --listen` (listen_fds.hpp).
#include "portctl/listen_fds.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace portctl {
namespace {

[[noreturn]] void fail(std::uint16_t port, const char* step, int err) {
  throw std::runtime_error(
      fmt::format("failed to listen on port {}: {}: {}", port, step, std::strerror(err)));
}

// The IPv6 wildcard socket, or -1 with errno set when this system cannot
// have one (no IPv6 support, or IPv6 disabled): the caller falls back to IPv4.
int bind_ipv6(std::uint16_t port) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int off = 0, on = 1;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  addr.sin6_addr = in6addr_any;
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

bool ipv6_unavailable(int err) {
  return err == EAFNOSUPPORT || err == EPROTONOSUPPORT || err == EADDRNOTAVAIL;
}

}  // namespace

int listen_tcp(std::uint16_t port) {
  int fd = bind_ipv6(port);
  if (fd < 0 && !ipv6_unavailable(errno)) fail(port, "bind", errno);
  if (fd < 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(port, "socket", errno);
    int on = 1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int err = errno;
      ::close(fd);
      fail(port, "bind", err);
    }
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    fail(port, "listen", err);
  }
  return fd;
}

void pass_listen_fds(const std::vector<int>& fds, const std::vector<std::string>& names) {
  const int first = 3;  // SD_LISTEN_FDS_START
  const int count = static_cast<int>(fds.size());
  // Copy every socket above the target range first, so placing one cannot
  // close another that happens to sit at its target number.
  std::vector<int> high;
  for (int fd : fds) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, first + count);
    if (copy < 0) {
      throw std::runtime_error(
          fmt::format("failed to pass listening sockets: {}", std::strerror(errno)));
    }
    high.push_back(copy);
  }
  for (int i = 0; i < count; ++i) {
    // dup2 leaves the new descriptor without FD_CLOEXEC, as the command needs.
    if (::dup2(high[static_cast<std::size_t>(i)], first + i) < 0) {
      throw std::runtime_error(
          fmt::format("failed to pass listening sockets: {}", std::strerror(errno)));
    }
  }
  // Nothing else of portctl's (the daemon connection, the originals and
  // copies above) may reach the command.
#if defined(__linux__) && defined(CLOSE_RANGE_CLOEXEC)
  ::close_range(static_cast<unsigned>(first + count), ~0U, CLOSE_RANGE_CLOEXEC);
#else
  for (int fd = first + count; fd < 1024; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ":") + name;
  ::setenv("LISTEN_FDS", std::to_string(count).c_str(), 1);
  ::setenv("LISTEN_FDNAMES", joined.c_str(), 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
}

}  // namespace portctl
