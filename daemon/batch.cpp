// The batch pipeline of Server (server.hpp): gather the requests decoded in
// one loop iteration, dispatch them in one LMDB transaction, commit once,
// then hand the replies to their connections. A batch that fills the map
// or fails to commit is taken back whole and run again with its mutations
// refused, so that an error reply always means nothing was stored.
#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "connection.hpp"
#include "failure.hpp"
#include "log.hpp"
#include "model/time.hpp"
#include "server.hpp"

namespace portd::daemon {
namespace {

// A batch that fills the map grows it and runs again; past this many
// attempts its mutations fail with store_full.
constexpr int kMaxBatchAttempts = 8;
// Fixed part of the map kept free for changes that remove data (portd.toml(5),
// max_map_size_mib): a release copies a few pages of each index on write.
constexpr std::size_t kFixedHeadroom = std::size_t{256} << 10;

// Changes that can make the registry larger; release and gc only shrink it.
bool adds_data(proto::Op op) noexcept {
  return op == proto::Op::allocate || op == proto::Op::import;
}

// Queue entries whose storage is kept between batches (about 0.5 KiB each).
constexpr std::size_t kKeepBatchCapacity = 1024;

}  // namespace

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
  refuse_adds_ = false;
  if (std::any_of(batch.begin(), batch.end(),
                  [](const Pending& p) { return p.request && adds_data(p.request->op); })) {
    // Keep room for removing everything: a gc or an import --replace of
    // the whole registry writes at most as many pages as it holds now,
    // copy-on-write, so adding stops while the data would not fit twice.
    try {
      refuse_adds_ = 2 * store_->used_bytes() + kFixedHeadroom > options_.config.max_map_size;
    } catch (const Error& e) {
      // Not knowing the size is no reason to refuse: the map's own limit
      // still stops a batch that does not fit.
      logger("store")->warn("failed to measure the store: {}", e.what());
    }
  }
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
      c->request_answered();
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
    if (refuse_adds_ && adds_data(req.op)) {
      proto::encode_error(
          out, req.id,
          Error(ErrorCode::store_full,
                fmt::format("the store is nearly full: half of limits.max_map_size_mib ({} MiB) "
                            "is kept free so that releases always fit; release allocations, run "
                            "'portctl gc', or raise max_map_size_mib in portd.toml",
                            options_.config.max_map_size >> 20)));
      continue;
    }
    std::size_t before = out.size();
    OpContext ctx{req, *registry_, txn ? &*txn : nullptr, info_, conn, now, out};
    try {
      dispatch(ctx);
    } catch (...) {
      const Failure f = classify_current_exception();
      switch (f.kind) {
        case FailureKind::fatal:
          throw;
        case FailureKind::disk_full:
          undo();
          failure = f.message;
          return BatchResult::disk_full;
        case FailureKind::map_full:
          undo();
          return BatchResult::map_full;
        case FailureKind::request:
          out.resize(before);
          proto::encode_error(out, req.id, *f.error);
          break;
        case FailureKind::unexpected:
          if (txn && txn->writable() && proto::is_mutation(req.op)) {
            // The op may have stored part of its change before it failed;
            // an error reply must mean "nothing happened" (reliability T07
            // found a key answered "out of memory" yet committed). Drop the
            // batch and run it again with mutations refused.
            undo();
            failure = f.message;
            return BatchResult::write_failed;
          }
          out.resize(before);
          logger("server")->error("{} request {} failed: {}", proto::to_string(req.op), req.id,
                                  f.message);
          proto::encode_error(out, req.id, Error(ErrorCode::internal, f.message));
          break;
      }
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
    } catch (...) {
      const Failure f = classify_current_exception();
      if (f.kind == FailureKind::fatal) throw;
      take_back();
      failure = f.message;
      if (f.kind == FailureKind::disk_full) return BatchResult::disk_full;
      return f.kind == FailureKind::map_full ? BatchResult::map_full : BatchResult::write_failed;
    }
    if (txn->writable()) gather_.committed(writers_in(batch, false), uv_hrtime() - commit_start);
    events = txn->events();
  }
  return BatchResult::done;
}

}  // namespace portd::daemon
