#include "server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <array>

#include <csignal>
#include <unordered_map>

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
  // A failed fsync cannot be retried safely (reliability.md F6): stop at
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
  self->accept_one();
}

void Server::accept_one() {
  std::uint64_t id = next_conn_id_++;
  Connection* c = Connection::accept(*this, reinterpret_cast<uv_stream_t*>(&listener_), id);
  if (!c) return;
  if (connections_.size() >= options_.config.max_connections) {
    Error busy(ErrorCode::busy, fmt::format("too many connections (limit {}); try again later",
                                            options_.config.max_connections));
    proto::encode_error(c->output(), 0, busy);
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
  ++conn.queued;
  pending_.push_back(Pending{conn.id(), std::move(request), std::nullopt, 0, false});
}

void Server::enqueue_error(Connection& conn, std::uint64_t request_id, const Error& error,
                           bool fatal) {
  ++conn.queued;
  pending_.push_back(Pending{conn.id(), std::nullopt, error, request_id, fatal});
}

void Server::on_check(uv_check_t* h) {
  auto* self = static_cast<Server*>(h->data);
  try {
    self->process_batch();
  } catch (const store::StoreFatal& e) {
    exit_store_fatal(e);
  }
}

void Server::process_batch() {
  if (pending_.empty()) return;
  std::vector<Pending> batch;
  batch.swap(pending_);
  std::int64_t now = unix_now();
  std::vector<Event> events;
  bool allow_writes = true;
  for (int attempt = 0;; ++attempt) {
    if (run_batch(batch, allow_writes, now, events)) break;
    // The map is full. Grow it with no transaction open and run the batch
    // again; at the size limit, answer its mutations with store_full.
    try {
      store_->grow();
      logger("store")->info("store map grown to {} bytes", store_->map_size());
    } catch (const Error& e) {
      logger("store")->error("{}", e.what());
      allow_writes = false;
    }
    if (attempt + 1 >= kMaxBatchAttempts) allow_writes = false;
  }
  for (const Pending& p : batch) {
    if (Connection* c = find(p.conn_id)) {
      --c->queued;
      if (p.fatal) c->close_after_flush();
    }
  }
  publish(events);
  for (const Pending& p : batch) {
    if (Connection* c = find(p.conn_id)) c->flush();
  }
}

bool Server::run_batch(std::vector<Pending>& batch, bool allow_writes, std::int64_t now,
                       std::vector<Event>& events) {
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

  for (Pending& p : batch) {
    Connection* conn = find(p.conn_id);
    std::string& out = conn ? conn->output() : orphan;
    if (conn) marks.try_emplace(p.conn_id, out.size());
    if (!p.request) {
      proto::encode_error(out, p.error_id, *p.error);
      continue;
    }
    const proto::Request& req = *p.request;
    if (!allow_writes && proto::is_mutation(req.op)) {
      proto::encode_error(out, req.id,
                          Error(ErrorCode::store_full,
                                "the store is full: free disk space or raise "
                                "limits.max_map_size_mib in portd.toml"));
      continue;
    }
    std::size_t before = out.size();
    OpContext ctx{req, *registry_, txn ? &*txn : nullptr, info_, conn, now, out};
    try {
      dispatch(ctx);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::store_full) {
        undo();
        return false;
      }
      out.resize(before);
      proto::encode_error(out, req.id, e);
    } catch (const store::StoreFatal&) {
      throw;
    } catch (const std::bad_alloc&) {
      out.resize(before);
      proto::encode_error(out, req.id, Error(ErrorCode::internal, "out of memory"));
    } catch (const std::exception& e) {
      out.resize(before);
      logger("server")->error("{} request {} failed: {}", proto::to_string(req.op), req.id,
                              e.what());
      proto::encode_error(out, req.id, Error(ErrorCode::internal, e.what()));
    }
  }
  if (txn) {
    try {
      registry_->commit(*txn);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::store_full) throw;
      // commit() already rebuilt the in-memory state; only replies to undo.
      for (auto [id, size] : marks) {
        if (Connection* c = find(id)) c->output().resize(size);
      }
      return false;
    }
    events = txn->events();
  }
  return true;
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
  uv_check_stop(&check_);
  uv_timer_stop(&idle_timer_);
  uv_timer_stop(&sweep_timer_);
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) uv_signal_stop(s);
}

void Server::update_idle_timer() {
  if (options_.idle_exit_seconds <= 0 || stopping_) return;
  // Runs only while no client is connected (platform-notes §1).
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
