#include "lib/transport.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "model/error.hpp"
#include "portd/client.hpp"
#include "sys/peer_cred.hpp"

namespace portd::client::detail {
namespace {

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > 1'000'000 ? 1'000'000 : static_cast<int>(left.count());
}

// Creates a non-blocking, close-on-exec stream socket. SOCK_CLOEXEC matters:
// a daemon we autostart (or any child of the host program) must not inherit it.
int make_socket() {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  return ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return fd;
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
#ifdef SO_NOSIGPIPE
  // macOS has no MSG_NOSIGNAL; the per-socket option keeps SIGPIPE away
  // without touching the host program's signal dispositions.
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return fd;
#endif
}

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // SO_NOSIGPIPE is set on the socket instead
#endif

// Past this, bigger reads save no measurable syscalls.
constexpr std::size_t kMaxReadSize = std::size_t{64} * 1024;

}  // namespace

ConnectAttempt connect_unix(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& native = path.native();
  if (native.size() >= sizeof addr.sun_path) {
    throw Error(ErrorCode::invalid_request,
                fmt::format("socket path '{}' is too long ({} bytes, at most {})", native,
                            native.size(), sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, native.data(), native.size());

  const auto deadline = Clock::now() + timeout;
  for (;;) {
    UniqueFd fd(make_socket());
    if (!fd) return {UniqueFd(), errno};
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
      return {std::move(fd), 0};
    }
    int err = errno;
    if (err == EINPROGRESS || err == EINTR) {
      pollfd p{fd.get(), POLLOUT, 0};
      int n;
      do {
        n = ::poll(&p, 1, remaining_ms(deadline));
      } while (n < 0 && errno == EINTR);
      if (n == 0) return {UniqueFd(), ETIMEDOUT};
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (n < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
        return {UniqueFd(), errno};
      }
      if (so_error == 0) return {std::move(fd), 0};
      return {UniqueFd(), so_error};
    }
    // Linux reports a full listen backlog of a Unix socket as EAGAIN on a
    // non-blocking connect; the daemon is alive, so wait briefly and retry.
    if (err == EAGAIN && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    return {UniqueFd(), err == EAGAIN ? ETIMEDOUT : err};
  }
}

bool nobody_listening(int error) noexcept {
  return error == ENOENT || error == ECONNREFUSED;
}

void check_peer_uid(int fd, const std::filesystem::path& socket) {
  const std::optional<sys::PeerCredentials> peer = sys::peer_credentials(fd);
  if (!peer) {
    throw Error(ErrorCode::permission_denied,
                fmt::format("failed to read the peer credentials of '{}': {}", socket.string(),
                            std::strerror(errno)));
  }
  const uid_t peer_uid = peer->uid;
  if (peer_uid != ::geteuid()) {
    throw Error(ErrorCode::permission_denied,
                fmt::format("refusing to talk to '{}': owned by uid {}", socket.string(),
                            static_cast<unsigned long>(peer_uid)));
  }
}

Connection::Connection(UniqueFd fd, std::filesystem::path socket)
    : fd_(std::move(fd)), socket_(std::move(socket)), decoder_(proto::kMaxResponseFrame) {}

void Connection::send_all(std::string_view bytes, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, kSendFlags);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    int err = errno;
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      pollfd p{fd_.get(), POLLOUT, 0};
      int r = ::poll(&p, 1, remaining_ms(deadline));
      if (r == 0) {
        throw Error(ErrorCode::unavailable,
                    fmt::format("failed to send a request to '{}': timed out", socket_.string()));
      }
      continue;
    }
    if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
      throw ConnectionLost(
          fmt::format("failed to send a request to '{}': {}", socket_.string(), std::strerror(err)),
          sent == 0);
    }
    throw Error(ErrorCode::unavailable, fmt::format("failed to send a request to '{}': {}",
                                                    socket_.string(), std::strerror(err)));
  }
}

std::string_view Connection::read_frame(const Clock::time_point* deadline) {
  for (;;) {
    try {
      if (auto frame = decoder_.next()) return *frame;
    } catch (const portd::Error& e) {
      throw Error(ErrorCode::bad_response, fmt::format("failed to read the reply from '{}': {}",
                                                       socket_.string(), e.what()));
    }
    auto space = decoder_.prepare(read_size_);
    ssize_t n = ::recv(fd_.get(), space.data(), space.size(), 0);
    if (n > 0) {
      decoder_.commit(static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) == space.size()) {
        read_size_ = std::min(read_size_ * 2, kMaxReadSize);
      }
      continue;
    }
    if (n == 0) {
      throw ConnectionLost(
          fmt::format("portd closed the connection on '{}' before replying", socket_.string()),
          false);
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      pollfd p{fd_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, deadline ? remaining_ms(*deadline) : -1);
      if (r == 0) {
        throw Error(ErrorCode::unavailable,
                    fmt::format("failed to read the reply from '{}': portd did not answer in time",
                                socket_.string()));
      }
      continue;
    }
    if (err == ECONNRESET) {
      throw ConnectionLost(fmt::format("portd reset the connection on '{}'", socket_.string()),
                           false);
    }
    throw Error(ErrorCode::unavailable, fmt::format("failed to read the reply from '{}': {}",
                                                    socket_.string(), std::strerror(err)));
  }
}

}  // namespace portd::client::detail
