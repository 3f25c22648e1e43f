#include "connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include <fmt/format.h>

#include "log.hpp"
#include "model/error.hpp"
#include "proto/codec.hpp"
#include "server.hpp"
#include "sys/peer_cred.hpp"

namespace portd::daemon {
namespace {

// Read buffer growth step; large enough that a pipelined burst needs few reads.
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
static_assert(kReadChunk >= Connection::kFirstReadChunk);
// Requests one connection may have queued before it is read no further.
constexpr std::size_t kMaxQueuedRequests = 256;

struct WriteReq {
  uv_write_t req{};
  std::string data;
};

}  // namespace

Connection::Connection(Server& server, std::uint64_t id, std::size_t max_frame)
    : server_(&server), id_(id), decoder_(max_frame) {
  pipe_.data = this;
}

Connection* Connection::accept(Server& server, uv_stream_t* listener, std::uint64_t id) {
  auto* c = new Connection(server, id, server.config().max_frame);
  uv_pipe_init(server.loop(), &c->pipe_, 0);
  if (int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->pipe_)); rc != 0) {
    logger("server")->warn("failed to accept a connection: {}", uv_strerror(rc));
    c->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe_), on_close);
    return nullptr;
  }
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe_), &fd);
  const std::optional<sys::PeerCredentials> peer = sys::peer_credentials(fd);
  const uid_t uid = peer ? peer->uid : 0;
  if (!peer || uid != ::geteuid()) {
    logger("server")->warn("refused a connection from uid {} (only uid {} may use this daemon)",
                           uid, ::geteuid());
    std::string frame;
    proto::encode_error(
        frame, 0,
        Error(ErrorCode::permission_denied,
              fmt::format("permission denied: this portd serves uid {} only", ::geteuid())));
    // A direct non-blocking send: the reply fits in an empty socket buffer
    // and uv_close would cancel a queued uv_write.
    (void)::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    c->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe_), on_close);
    return nullptr;
  }
  c->last_activity_ms_ = uv_now(server.loop());
  c->start_reading();
  return c;
}

void Connection::start_reading() {
  if (reading_ || closing_ || close_when_flushed_) return;
  reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), on_alloc, on_read) == 0;
}

void Connection::stop_reading() {
  if (!reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
  reading_ = false;
}

void Connection::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(h->data);
  try {
    std::span<char> space = c->decoder_.prepare(c->read_chunk_);
    *buf = uv_buf_init(space.data(), static_cast<unsigned>(space.size()));
  } catch (const std::bad_alloc&) {
    // libuv reports an empty buffer to on_read as UV_ENOBUFS, which closes
    // this connection only.
    *buf = uv_buf_init(nullptr, 0);
  }
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<Connection*>(s->data);
  try {
    c->read(nread);
  } catch (const std::exception& e) {
    // Out of memory while decoding (reliability T07): drop only this
    // connection; an exception must not unwind through libuv's C frames.
    logger("server")->error("connection {}: {}; closing it", c->id_, e.what());
    c->close();
  }
}

void Connection::read(ssize_t nread) {
  if (nread == 0) return;  // EAGAIN
  if (nread < 0) {
    stop_reading();
    if (nread != UV_EOF) {
      logger("server")->debug("connection {}: read failed: {}", id_,
                              uv_strerror(static_cast<int>(nread)));
      close();
      return;
    }
    if (decoder_.mid_frame()) {
      logger("server")->debug("connection {}: peer closed mid-frame ({} bytes)", id_,
                              decoder_.buffered());
    }
    // Half-close: answer what was asked, then close.
    close_after_flush();
    return;
  }
  decoder_.commit(static_cast<std::size_t>(nread));
  last_activity_ms_ = uv_now(server_->loop());
  // A read that filled its buffer means a client with more to send: give
  // it the large buffer from now on.
  if (static_cast<std::size_t>(nread) >= read_chunk_) read_chunk_ = kReadChunk;
  decode_frames();
}

void Connection::decode_frames() {
  try {
    while (queued_ < kMaxQueuedRequests) {
      auto payload = decoder_.next();
      if (!payload) return;
      try {
        server_->enqueue(*this, proto::decode_request(*payload));
      } catch (const proto::DecodeError& e) {
        server_->enqueue_error(*this, e.request_id(), e, e.fatal());
        if (e.fatal()) {
          stop_reading();
          close_when_flushed_ = true;
          return;
        }
      }
    }
    // A client pipelining faster than we answer: keep the rest in the
    // buffer and stop reading until its queued requests are answered.
    // Without this, libuv's 32 reads per wakeup let 50 such clients queue
    // 500,000 requests (over 100 MB) and stall everyone else for seconds
    // (reliability T10).
    stop_reading();
    paused_for_queue_ = true;
  } catch (const Error& e) {  // framing: bad length; the stream cannot be resynced
    server_->enqueue_error(*this, 0, e, true);
    stop_reading();
    close_when_flushed_ = true;
  }
}

void Connection::flush() {
  if (closing_) {
    out_.clear();
    return;
  }
  if (!out_.empty() && in_flight_ == 0) {
    // Most replies fit the socket buffer: write them now. A uv_write that
    // completes at once still stops and restarts POLLOUT interest, which
    // costs an epoll_ctl per reply in libuv 1.44 (one more system call per
    // request than the read and the write themselves); a queued uv_write
    // is only needed for what the socket does not take.
    uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1);
    if (n > 0) {
      out_.erase(0, static_cast<std::size_t>(n));
      last_activity_ms_ = uv_now(server_->loop());
    } else if (n != UV_EAGAIN) {  // EPIPE/ECONNRESET: the peer left
      out_.clear();
      close();
      return;
    }
  }
  if (!out_.empty()) {
    auto* w = new WriteReq;
    w->data.swap(out_);
    w->req.data = this;
    in_flight_ += w->data.size();
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1, on_write);
        rc != 0) {
      in_flight_ -= w->data.size();
      delete w;
      close();
      return;
    }
    // A peer that sends but never reads would make us buffer without bound.
    if (in_flight_ > server_->config().max_pending_output) stop_reading();
  }
  if (paused_for_queue_ && queued_ == 0 && !close_when_flushed_ && !closing_) {
    // Its queue is answered: take the next requests from the buffer, and
    // read again once the buffer holds less than a queue's worth.
    paused_for_queue_ = false;
    decode_frames();
    if (!paused_for_queue_ && in_flight_ <= server_->config().max_pending_output / 2) {
      start_reading();
    }
  }
  maybe_finish_close();
}

bool Connection::backlogged() const noexcept {
  return in_flight_ + out_.size() > server_->config().max_pending_output;
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  auto* c = static_cast<Connection*>(req->data);
  c->in_flight_ -= w->data.size();
  delete w;
  if (status != 0) {  // EPIPE/ECONNRESET: the peer left; SIGPIPE is ignored
    c->close();
    return;
  }
  // A client reading a long reply slowly is not idle.
  c->last_activity_ms_ = uv_now(c->server_->loop());
  if (!c->reading_ && !c->paused_for_queue_ &&
      c->in_flight_ <= c->server_->config().max_pending_output / 2) {
    c->start_reading();
  }
  c->maybe_finish_close();
}

void Connection::close_after_flush() {
  close_when_flushed_ = true;
  // Nothing more is read: a connection refused as busy must not get its
  // requests served after all, and a stopping daemon answers only what it
  // has already read.
  stop_reading();
  maybe_finish_close();
}

void Connection::maybe_finish_close() {
  // Requests of this connection may still sit in the current batch; their
  // replies are flushed after it, and only then is an empty queue final.
  if (close_when_flushed_ && in_flight_ == 0 && out_.empty() && queued_ == 0) {
    close();
  }
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  server_->forget(*this);
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), on_close);
}

void Connection::on_close(uv_handle_t* h) {
  delete static_cast<Connection*>(h->data);
}

}  // namespace portd::daemon
