// One client connection: reads frames, holds responses in request order,
// writes them with backpressure. Owned by libuv: it deletes itself in its
// close callback and is never destroyed directly.
#pragma once

#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>

#include "proto/frame.hpp"

namespace portd::daemon {

class Server;

class Connection {
 public:
  /// Accepts the next pending connection on `listener`. Returns nullptr
  /// (after closing it) when the peer's uid is not ours: the peer gets a
  /// permission_denied reply first.
  static Connection* accept(Server& server, uv_stream_t* listener, std::uint64_t id);

  std::uint64_t id() const noexcept { return id_; }
  /// Responses are appended here during a batch and flushed after commit.
  std::string& output() noexcept { return out_; }
  /// Hands everything in output() to libuv; stops reading the peer while
  /// more than `limit` bytes are pending (a client that does not read).
  void flush();
  /// Sends what is pending, then closes (after a fatal protocol error or EOF).
  void close_after_flush();
  /// Closes now; pending output is dropped.
  void close();
  bool closing() const noexcept { return closing_; }

  /// The id of this connection's watch request, if it is watching.
  const std::optional<std::uint64_t>& watch_id() const noexcept { return watch_id_; }
  /// Makes this connection a watcher: events carry `request_id`.
  void start_watching(std::uint64_t request_id) noexcept { watch_id_ = request_id; }
  /// No more events for this connection (after its overflow event).
  void stop_watching() noexcept { watch_id_.reset(); }
  /// A request of this connection joined the batch queue / was answered.
  void request_queued() noexcept { ++queued_; }
  void request_answered() noexcept { --queued_; }
  /// Requests of this connection in the current batch, not yet answered.
  std::size_t queued() const noexcept { return queued_; }
  /// Milliseconds since the last byte received or reply written, at uv_now() `now`.
  std::uint64_t idle_ms(std::uint64_t now) const noexcept { return now - last_activity_ms_; }
  bool mid_frame() const noexcept { return decoder_.mid_frame(); }
  /// Read buffer of a new connection. The decoder zero-fills what it
  /// prepares, so 64 KiB for each of 500 idle or slowloris connections
  /// was 32 MiB of resident memory (reliability T10); most requests fit 4 KiB.
  static constexpr std::size_t kFirstReadChunk = 4096;
  /// More than limits.max_pending_output_bytes of responses wait to be
  /// written: the peer is not reading, so it gets no more output for now.
  bool backlogged() const noexcept;
  /// Bytes of responses not yet taken by the peer (queued and in flight).
  std::size_t pending_bytes() const noexcept { return in_flight_ + out_.size(); }

 private:
  Connection(Server& server, std::uint64_t id, std::size_t max_frame);
  static void on_alloc(uv_handle_t* h, std::size_t hint, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);
  void read(ssize_t nread);
  /// Queues buffered complete frames while fewer than kMaxQueuedRequests wait.
  void decode_frames();
  void start_reading();
  void stop_reading();
  void maybe_finish_close();

  std::optional<std::uint64_t> watch_id_;
  std::size_t queued_ = 0;
  std::uint64_t last_activity_ms_ = 0;  ///< uv_now() of the last read or write
  uv_pipe_t pipe_{};
  Server* server_;
  std::uint64_t id_;
  proto::FrameDecoder decoder_;
  std::string out_;
  std::size_t in_flight_ = 0;  ///< bytes given to uv_write, not yet written
  bool reading_ = false;
  bool closing_ = false;
  bool close_when_flushed_ = false;
  std::size_t read_chunk_ = kFirstReadChunk;  ///< grows to kReadChunk for bulk senders
  bool paused_for_queue_ = false;             ///< not read until its queued requests are answered
};

}  // namespace portd::daemon
