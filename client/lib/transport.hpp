// Blocking Unix-socket transport: connect with a timeout, the peer-uid check,
// and framed request/response I/O with deadlines (portd-protocol(7) "FRAMING").
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proto/frame.hpp"
#include "sys/unique_fd.hpp"

namespace portd::client::detail {

using Clock = std::chrono::steady_clock;
using sys::UniqueFd;

/// Outcome of one connect attempt: a connected socket, or the errno of the
/// failure (ENOENT / ECONNREFUSED mean that nobody listens).
struct ConnectAttempt {
  UniqueFd fd;
  int error = 0;
};

/// Connects a close-on-exec, non-blocking Unix stream socket to `path`,
/// waiting at most `timeout` (a full listen backlog is retried until then;
/// ETIMEDOUT after). Does not check the peer. Throws Error(invalid_request)
/// only when `path` does not fit in sockaddr_un.
ConnectAttempt connect_unix(const std::filesystem::path& path, std::chrono::milliseconds timeout);

/// True for connect() errors that mean "no daemon here" (ENOENT, ECONNREFUSED),
/// the cases in which autostart may start one.
bool nobody_listening(int error) noexcept;

/// Checks that the process at the other end of `fd` runs as our effective
/// uid (SO_PEERCRED on Linux, getpeereid elsewhere). Throws
/// Error(permission_denied) "refusing to talk to '<socket>': owned by uid N"
/// before anything has been sent.
void check_peer_uid(int fd, const std::filesystem::path& socket);

/// Thrown by Connection when the daemon closed the connection (EOF, EPIPE,
/// ECONNRESET). `nothing_sent` is true when the request had not been written
/// at all, so even a non-idempotent request may be sent again.
class ConnectionLost : public std::runtime_error {
 public:
  ConnectionLost(const std::string& what, bool nothing_sent)
      : std::runtime_error(what), nothing_sent_(nothing_sent) {}
  bool nothing_sent() const noexcept { return nothing_sent_; }

 private:
  bool nothing_sent_;
};

/// One connection to the daemon, with a response frame decoder (responses
/// are accepted up to proto::kMaxResponseFrame bytes).
class Connection {
 public:
  Connection(UniqueFd fd, std::filesystem::path socket);

  /// Writes all of `bytes` (send with MSG_NOSIGNAL: never raises SIGPIPE).
  /// Throws ConnectionLost when the peer is gone, Error(unavailable) when the
  /// deadline passes.
  void send_all(std::string_view bytes, Clock::time_point deadline);

  /// Reads until one complete frame is buffered and returns its payload,
  /// valid until the next read_frame(). Without a deadline waits forever.
  /// Throws ConnectionLost on EOF, Error(unavailable) on timeout,
  /// Error(bad_response) for an invalid or oversized frame.
  std::string_view read_frame(const Clock::time_point* deadline);

  const std::filesystem::path& socket() const noexcept { return socket_; }

 private:
  UniqueFd fd_;
  std::filesystem::path socket_;
  proto::FrameDecoder decoder_;
  // Bytes offered to each recv: small at first because the buffer is
  // zero-filled as it grows and most replies are a few hundred bytes (a
  // 64 KiB first read was 16 page faults per portctl run); doubled while
  // reads fill it, so a large `list` still arrives in few reads.
  std::size_t read_size_ = 4096;
};

}  // namespace portd::client::detail
