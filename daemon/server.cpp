#include "server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include <csignal>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "connection.hpp"
#include "log.hpp"
#include "model/time.hpp"
#include "notify.hpp"

namespace portd::daemon {
namespace {

// How often idle connections are looked for, at most (a short
// limits.idle_timeout_seconds is checked twice per timeout).
constexpr std::uint64_t kSweepIntervalMs = 5000;
// How long a stopping daemon waits for clients to take their replies.
constexpr std::uint64_t kShutdownGraceMs = 5000;

std::string user_at_host() {
  // The passwd entry, not $USER: activated and autostarted daemons may run
  // with a scrubbed environment.
  std::string u = std::to_string(::geteuid());
  passwd pw{};
  passwd* found = nullptr;
  std::array<char, 4096> buf{};
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found) {
    u = found->pw_name;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return u + "@" + (host[0] ? host : "localhost");
}

[[noreturn]] void exit_store_fatal(const std::exception& e) {
  // A failed fsync cannot be retried safely (docs/testing.md F6): stop at
  // once without acknowledging anything more; the supervisor restarts us
  // and LMDB reopens at the last good commit.
  logger("store")->critical("store I/O failure, exiting with status {}: {}", store::kExitStoreFatal,
                            e.what());
  spdlog::shutdown();
  ::_exit(store::kExitStoreFatal);
}

}  // namespace

Server::Server(store::Store& store, Registry& registry, Listener listener, ServerOptions options)
    : store_(&store),
      registry_(&registry),
      listener_info_(std::move(listener)),
      options_(std::move(options)) {
  uv_loop_init(&loop_);
  loop_.data = this;
  info_.started_at = unix_now();
  info_.max_frame = options_.config.max_frame;
  info_.allocated_by = user_at_host();

  uv_pipe_init(&loop_, &listener_, 0);
  listener_.data = this;
  if (int rc = uv_pipe_open(&listener_, listener_info_.fd); rc != 0) {
    throw Error(ErrorCode::internal,
                fmt::format("failed to adopt the listening socket: {}", uv_strerror(rc)));
  }
  // Calls listen() again, which resets the backlog of an inherited socket.
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), SOMAXCONN, on_connection);
      rc != 0) {
    throw Error(ErrorCode::internal, fmt::format("failed to listen: {}", uv_strerror(rc)));
  }
  listener_open_ = true;

  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, on_check);
  uv_idle_init(&loop_, &wake_);
  for (auto [sig, h] : {std::pair{SIGTERM, &sigterm_}, {SIGINT, &sigint_}, {SIGHUP, &sighup_}}) {
    uv_signal_init(&loop_, h);
    h->data = this;
    uv_signal_start(h, on_signal, sig);
  }
  uv_timer_init(&loop_, &idle_timer_);
  idle_timer_.data = this;
  uv_timer_init(&loop_, &sweep_timer_);
  sweep_timer_.data = this;
  const std::uint64_t sweep_ms = std::clamp<std::uint64_t>(
      static_cast<std::uint64_t>(options_.config.idle_timeout_seconds) * 500, 500,
      kSweepIntervalMs);
  uv_timer_start(&sweep_timer_, on_sweep_timer, sweep_ms, sweep_ms);
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_timer_));
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  update_idle_timer();
}

Server::~Server() {
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

int Server::run() {
  notify("READY=1\nSTATUS=serving");
  logger("server")->info("serving on '{}'{}", listener_info_.path.string(),
                         listener_info_.activated ? " (socket activation)" : "");
  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

void Server::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status < 0) {
    // EMFILE: libuv already dropped the pending connections with its spare
    // fd; clients see EOF and retry.
    logger("server")->warn("failed to accept: {}", uv_strerror(status));
    return;
  }
  try {
    self->accept_one();
  } catch (const std::exception& e) {
    // Out of memory while accepting: libuv stops watching the listener
    // until the pending connection is accepted, so carrying on would leave
    // the daemon deaf. Exit like a store failure (nothing unacknowledged is
    // lost) and let the supervisor restart us.
    exit_store_fatal(e);
  }
}

void Server::accept_one() {
  std::uint64_t id = next_conn_id_++;
  Connection* c = Connection::accept(*this, reinterpret_cast<uv_stream_t*>(&listener_), id);
  if (!c) return;
  if (connections_.size() >= options_.config.max_connections) {
    Error busy(ErrorCode::busy, fmt::format("too many connections (limit {}); try again later",
                                            options_.config.max_connections));
    proto::encode_error(c->output(), 0, busy.with_limit(options_.config.max_connections));
    connections_.emplace(id, c);
    c->flush();
    c->close_after_flush();
    return;
  }
  connections_.emplace(id, c);
  info_.connections = connections_.size();
  update_idle_timer();
}

void Server::forget(Connection& conn) {
  connections_.erase(conn.id());
  info_.connections = connections_.size();
  update_idle_timer();
}

Connection* Server::find(std::uint64_t id) noexcept {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second;
}

void Server::enqueue(Connection& conn, proto::Request request) {
  uv_idle_start(&wake_, [](uv_idle_t*) {});  // a no-op when already started
  conn.request_queued();
  // Built in place: every move of a Request copies a dozen strings.
  // Field by field rather than emplace_back(args...): that needs C++20's
  // parenthesized aggregate init, which clang 14 (the sanitizer and fuzzing
  // compiler, tests/sanitize.sh) does not implement.
  Pending& p = pending_.emplace_back();
  p.conn_id = conn.id();
  p.request.emplace(std::move(request));
}

void Server::enqueue_error(Connection& conn, std::uint64_t request_id, const Error& error,
                           bool fatal) {
  uv_idle_start(&wake_, [](uv_idle_t*) {});
  conn.request_queued();
  pending_.push_back(Pending{conn.id(), std::nullopt, error, request_id, fatal});
}

void Server::on_check(uv_check_t* h) {
  auto* self = static_cast<Server*>(h->data);
  try {
    self->process_batch();
    // A stopping daemon keeps running batches only for requests deferred
    // for slow readers; an active check handle would keep the loop alive.
    if (self->stopping_ && self->pending_.empty()) uv_check_stop(h);
  } catch (const store::StoreFatal& e) {
    exit_store_fatal(e);
  } catch (const std::exception& e) {
    // Out of memory outside a request (reliability T07). An exception must
    // not unwind through libuv's C frames (std::terminate, SIGABRT); replies
    // are sent only after their commit, so exiting loses no acknowledged
    // allocation and the supervisor restarts us.
    exit_store_fatal(e);
  }
}

void Server::on_signal(uv_signal_t* h, int signum) {
  auto* self = static_cast<Server*>(h->data);
  if (signum == SIGHUP) {
    self->reload_config();
  } else {
    self->stop(signum == SIGTERM ? "SIGTERM" : "SIGINT");
  }
}

void Server::reload_config() {
  try {
    Config fresh = load_config(options_.config_path);
    registry_->reconfigure(fresh);
    options_.config = std::move(fresh);
    info_.max_frame = options_.config.max_frame;
    logger("server")->info("reloaded '{}'", options_.config_path.string());
  } catch (const std::exception& e) {
    logger("server")->error("kept the old configuration: {}", e.what());
  }
}

void Server::stop(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  logger("server")->info("stopping ({})", why);
  notify("STOPPING=1");
  // Answer what has been received, then let every connection finish.
  try {
    process_batch();
  } catch (const store::StoreFatal& e) {
    exit_store_fatal(e);
  }
  if (listener_open_) {
    listener_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    // Only a socket this process bound is ours to remove; an activated one
    // belongs to systemd/launchd (systemd.socket(5): must not unlink).
    if (!listener_info_.activated && !listener_info_.path.empty()) {
      ::unlink(listener_info_.path.c_str());
    }
  }
  std::vector<Connection*> open;
  for (auto& [id, c] : connections_) open.push_back(c);
  for (Connection* c : open) c->close_after_flush();
  // Requests deferred for a backlogged client still run as its output
  // drains; on_check stops the check once none are left.
  if (pending_.empty()) uv_check_stop(&check_);
  uv_idle_stop(&wake_);
  // A client that never reads would hold its connection, and so the
  // daemon, forever: SIGTERM must end in bounded time.
  if (!connections_.empty()) {
    uv_timer_start(&drain_timer_, on_drain_timer, kShutdownGraceMs, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&drain_timer_));
  }
  uv_timer_stop(&idle_timer_);
  uv_timer_stop(&sweep_timer_);
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) uv_signal_stop(s);
}

void Server::update_idle_timer() {
  if (options_.idle_exit_seconds <= 0 || stopping_) return;
  // Runs only while no client is connected (docs/internals.md, "systemd socket activation").
  if (connections_.empty()) {
    uv_timer_start(&idle_timer_, on_idle_timer,
                   static_cast<std::uint64_t>(options_.idle_exit_seconds) * 1000, 0);
  } else {
    uv_timer_stop(&idle_timer_);
  }
}

void Server::on_idle_timer(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  if (self->connections_.empty()) self->stop("idle");
}

void Server::on_drain_timer(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  std::vector<Connection*> open;
  for (auto& [id, c] : self->connections_) open.push_back(c);
  for (Connection* c : open) {
    logger("server")->warn("closing connection {}: its replies were not read within {} ms", c->id(),
                           kShutdownGraceMs);
    c->close();
  }
  // Requests still deferred for them run without a connection, like those of
  // any client that left; then nothing keeps the loop alive.
  try {
    self->process_batch();
  } catch (const store::StoreFatal& e) {
    exit_store_fatal(e);
  }
  if (self->pending_.empty()) uv_check_stop(&self->check_);
}

void Server::on_sweep_timer(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  std::uint64_t now = uv_now(&self->loop_);
  std::uint64_t limit =
      static_cast<std::uint64_t>(self->options_.config.idle_timeout_seconds) * 1000;
  std::vector<Connection*> stale;
  for (auto& [id, c] : self->connections_) {
    // Every connection that neither sends nor takes replies for the timeout
    // is closed, or 512 forgotten ones would lock the user out
    // (limits.max_connections). A watcher waits for events by design: only
    // one that stopped reading (after its overflow event) is idle.
    if (c->watch_id() || c->queued() > 0) continue;
    if (c->idle_ms(now) > limit) stale.push_back(c);
  }
  for (Connection* c : stale) {
    logger("server")->info("closing connection {}: idle for over {} s{}", c->id(),
                           self->options_.config.idle_timeout_seconds,
                           c->mid_frame() ? " with a partial frame" : "");
    c->close();
  }
  if (int removed = self->store_->reader_check(); removed > 0) {
    logger("store")->info("cleared {} stale reader slot(s)", removed);
  }
}

}  // namespace portd::daemon
