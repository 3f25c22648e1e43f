#include "server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include <csignal>
#include <iterator>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "connection.hpp"
#include "log.hpp"
#include "model/time.hpp"
#include "notify.hpp"

namespace portd::daemon {
namespace {

// A batch that fills the map grows it and runs again; past this many
// attempts its mutations fail with store_full.
constexpr int kMaxBatchAttempts = 8;
// How often idle connections holding a partial frame are looked for.
constexpr std::uint64_t kSweepIntervalMs = 5000;
// How long a stopping daemon waits for clients to take their replies.
constexpr std::uint64_t kShutdownGraceMs = 5000;
// Queue entries whose storage is kept between batches (about 0.5 KiB each).
constexpr std::size_t kKeepBatchCapacity = 1024;

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
  uv_timer_start(&sweep_timer_, on_sweep_timer, kSweepIntervalMs, kSweepIntervalMs);
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
  ++conn.queued;
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
  ++conn.queued;
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

bool Server::any_runnable() const {
  for (const Pending& p : pending_) {
    auto it = connections_.find(p.conn_id);
    if (it == connections_.end() || !it->second->backlogged()) return true;
  }
  return false;
}

std::size_t Server::writers_in(const std::vector<Pending>& list, bool runnable_only) const {
  std::vector<std::uint64_t> seen;
  for (const Pending& p : list) {
    if (p.deferred || !p.request || !proto::is_mutation(p.request->op)) continue;
    if (runnable_only) {
      auto it = connections_.find(p.conn_id);
      if (it == connections_.end() || it->second->backlogged()) continue;
    }
    if (std::find(seen.begin(), seen.end(), p.conn_id) == seen.end()) seen.push_back(p.conn_id);
  }
  return seen.size();
}

void Server::process_batch() {
  // Requests deferred for a backlogged client wait for its output to drain
  // (a write callback, after which this check runs again); spinning the
  // loop or opening a transaction for them now would be wasted.
  if (!any_runnable()) {
    uv_idle_stop(&wake_);
    return;
  }
  if (!stopping_) {
    const std::uint64_t now_ns = uv_hrtime();
    if (gather_.should_wait(writers_in(pending_, true), now_ns)) {
      // Sleep until a client sends or the window closes; wake_ stays
      // active, so the loop reads what arrived and this check runs again.
      wait_readable(uv_backend_fd(&loop_), gather_.remaining(now_ns));
      return;
    }
  }
  // Take the queue and give pending_ the previous batch's storage: a fresh
  // vector for every batch regrows and moves each queued Request once per
  // doubling, which was a quarter of the daemon's work per pipelined
  // request (bench/RESULTS.md, section A).
  std::vector<Pending> batch;
  batch.swap(pending_);
  pending_.swap(spare_);
  std::int64_t now = unix_now();
  std::vector<Event> events;
  const Error store_full(ErrorCode::store_full,
                         "the store is full: free disk space or raise "
                         "limits.max_map_size_mib in portd.toml");
  std::optional<Error> refuse;
  for (int attempt = 0;; ++attempt) {
    std::string failure;
    BatchResult result = run_batch(batch, refuse, now, events, failure);
    if (result == BatchResult::done) break;
    if (result == BatchResult::map_full) {
      // Grow the map with no transaction open and run the batch again; at
      // the size limit, answer its mutations with store_full.
      try {
        store_->grow();
        logger("store")->info("store map grown to {} bytes", store_->map_size());
      } catch (const Error& e) {
        logger("store")->error("{}", e.what());
        refuse = store_full;
      }
      if (attempt + 1 >= kMaxBatchAttempts) refuse = store_full;
    } else if (result == BatchResult::disk_full) {
      // A bigger map cannot help a full file system (reliability T04).
      logger("store")->error("{}", failure);
      refuse = store_full;
    } else {
      // The commit failed for another reason (out of memory, or a write
      // that failed earlier in the batch and aborted the txn). Nothing of
      // the batch is stored, so none of its replies may say otherwise:
      // answer its mutations with the error and its reads from a fresh txn.
      logger("store")->error("batch not stored: {}", failure);
      refuse = Error(ErrorCode::internal,
                     fmt::format("failed to store the request: {}; try again", failure));
    }
    if (attempt + 1 >= 2 * kMaxBatchAttempts) {
      // A batch whose reads fail too cannot be answered at all.
      throw store::StoreFatal("failed to run a batch: " + failure);
    }
  }
  std::vector<Pending> deferred;
  for (Pending& p : batch) {
    if (p.deferred) {
      deferred.push_back(std::move(p));
      continue;
    }
    if (Connection* c = find(p.conn_id)) {
      --c->queued;
      if (p.fatal) c->close_after_flush();
    }
  }
  // Deferred requests go first: they were read before anything queued now.
  pending_.insert(pending_.begin(), std::make_move_iterator(deferred.begin()),
                  std::make_move_iterator(deferred.end()));
  publish(events);
  for (const Pending& p : batch) {
    if (Connection* c = find(p.conn_id)) c->flush();
  }
  batch.clear();
  // Keep the storage for the next batch, unless a burst made it large.
  if (batch.capacity() <= kKeepBatchCapacity) spare_.swap(batch);
  if (!any_runnable()) uv_idle_stop(&wake_);
}

Server::BatchResult Server::run_batch(std::vector<Pending>& batch,
                                      const std::optional<Error>& refuse, std::int64_t now,
                                      std::vector<Event>& events, std::string& failure) {
  const bool allow_writes = !refuse.has_value();
  bool writable = false, store_needed = false;
  for (const Pending& p : batch) {
    if (!p.request) continue;
    writable = writable || (allow_writes && proto::is_mutation(p.request->op));
    store_needed = store_needed || needs_store(p.request->op);
  }
  // Output written so far for each connection, to undo a batch that must rerun.
  std::unordered_map<std::uint64_t, std::size_t> marks;
  std::string orphan;  // replies for connections that have gone
  std::optional<Batch> txn;
  if (store_needed) txn.emplace(registry_->begin(writable));
  auto undo = [&] {
    for (auto [id, size] : marks) {
      if (Connection* c = find(id)) c->output().resize(size);
    }
    if (txn) registry_->abort(*txn);
  };

  // A client that does not read its responses gets no more output than
  // limits.max_pending_output_bytes: the rest of its requests wait, in
  // order, until that has drained (portd(1) LIMITS). Stopping its reads is
  // not enough, because the requests already read can be hundreds of
  // `list`s, each as large as the registry.
  std::unordered_set<std::uint64_t> held_back;
  for (Pending& p : batch) {
    Connection* conn = find(p.conn_id);
    p.deferred = conn && (held_back.contains(p.conn_id) || conn->backlogged());
    if (p.deferred) {
      held_back.insert(p.conn_id);
      continue;
    }
    std::string& out = conn ? conn->output() : orphan;
    if (conn) marks.try_emplace(p.conn_id, out.size());
    if (!p.request) {
      proto::encode_error(out, p.error_id, *p.error);
      continue;
    }
    const proto::Request& req = *p.request;
    if (refuse && proto::is_mutation(req.op)) {
      proto::encode_error(out, req.id, *refuse);
      continue;
    }
    std::size_t before = out.size();
    OpContext ctx{req, *registry_, txn ? &*txn : nullptr, info_, conn, now, out};
    try {
      dispatch(ctx);
    } catch (const store::DiskFull& e) {
      undo();
      failure = e.what();
      return BatchResult::disk_full;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::store_full) {
        undo();
        return BatchResult::map_full;
      }
      out.resize(before);
      proto::encode_error(out, req.id, e);
    } catch (const store::StoreFatal&) {
      throw;
    } catch (const std::exception& e) {  // std::bad_alloc, or a bug
      if (txn && txn->writable() && proto::is_mutation(req.op)) {
        // The op may have stored part of its change before it failed; an
        // error reply must mean "nothing happened" (reliability T07 found a
        // key answered "out of memory" yet committed). Drop the batch and
        // run it again with mutations refused.
        undo();
        failure = e.what();
        return BatchResult::write_failed;
      }
      out.resize(before);
      logger("server")->error("{} request {} failed: {}", proto::to_string(req.op), req.id,
                              e.what());
      proto::encode_error(out, req.id, Error(ErrorCode::internal, e.what()));
    }
  }
  if (txn) {
    // commit() rebuilds the in-memory state when it fails; only the
    // replies are left to take back.
    auto take_back = [&] {
      for (auto [id, size] : marks) {
        if (Connection* c = find(id)) c->output().resize(size);
      }
    };
    const std::uint64_t commit_start = uv_hrtime();
    try {
      registry_->commit(*txn);
    } catch (const store::StoreFatal&) {
      throw;
    } catch (const store::DiskFull& e) {
      take_back();
      failure = e.what();
      return BatchResult::disk_full;
    } catch (const Error& e) {
      take_back();
      failure = e.what();
      return e.code() == ErrorCode::store_full ? BatchResult::map_full : BatchResult::write_failed;
    } catch (const std::exception& e) {  // std::bad_alloc
      take_back();
      failure = e.what();
      return BatchResult::write_failed;
    }
    if (txn->writable()) gather_.committed(writers_in(batch, false), uv_hrtime() - commit_start);
    events = txn->events();
  }
  return BatchResult::done;
}

void Server::publish(const std::vector<Event>& events) {
  if (events.empty()) return;
  for (auto& [id, c] : connections_) {
    if (!c->watch_id || c->closing()) continue;
    for (const Event& e : events) {
      proto::encode_ok(c->output(), *c->watch_id, 2, [&](proto::Packer& pk) {
        proto::pack_key(pk, "event");
        proto::pack_string(pk, e.kind == Event::Kind::allocated ? "allocated" : "released");
        proto::pack_key(pk, "allocation");
        proto::pack_allocation(pk, e.allocation);
      });
    }
    c->flush();
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
    // Only a half-sent frame is suspicious; an idle client between requests
    // (or a watcher) may stay as long as it likes.
    if (c->mid_frame() && now - c->last_activity_ms > limit) stale.push_back(c);
  }
  for (Connection* c : stale) {
    logger("server")->info("closing connection {}: partial frame idle for over {} s", c->id(),
                           self->options_.config.idle_timeout_seconds);
    c->close();
  }
  if (int removed = self->store_->reader_check(); removed > 0) {
    logger("store")->info("cleared {} stale reader slot(s)", removed);
  }
}

void op_watch(OpContext& ctx) {
  if (ctx.conn) ctx.conn->watch_id = ctx.request.id;
  proto::encode_ok(ctx.out, ctx.request.id, 1, [&](proto::Packer& pk) {
    proto::pack_key(pk, "watching");
    pk.pack_true();
  });
}

}  // namespace portd::daemon
