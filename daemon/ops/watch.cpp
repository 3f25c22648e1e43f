// watch (portd-protocol(7)): the op that makes a connection a watcher, and
// the fan-out of committed changes to every watcher, bounded per watcher
// (replies and events: src/proto/ops/watch.hpp).
#include <fmt/format.h>

#include "connection.hpp"
#include "log.hpp"
#include "ops.hpp"
#include "proto/ops/watch.hpp"
#include "server.hpp"

namespace portd::daemon {

void Server::publish(const std::vector<Event>& events) {
  if (events.empty()) return;
  // flush() and close_after_flush() may close a connection, which erases
  // it from connections_ (the object lives until uv_close calls back): walk
  // a copy.
  std::vector<Connection*> watchers;
  for (auto& [id, c] : connections_) {
    if (c->watch_id() && !c->closing()) watchers.push_back(c);
  }
  std::vector<proto::WatchEvent> sent;
  for (const Event& e : events) {
    sent.push_back({e.kind == Event::Kind::allocated ? "allocated" : "released", e.allocation});
  }
  std::string frames;
  for (Connection* c : watchers) {
    if (c->closing()) continue;
    frames.clear();
    for (const proto::WatchEvent& e : sent) proto::encode_watch_event(frames, *c->watch_id(), e);
    if (c->pending_bytes() + frames.size() > options_.config.max_pending_output) {
      // A watcher that does not read would make us buffer every change
      // for it (portd-protocol(7), WATCH): it gets a last "overflow"
      // event instead, is closed once that is written (or when the idle
      // timeout finds it still stalled), and may watch again and list.
      logger("server")->warn(
          "connection {}: watcher fell {} bytes behind; sending overflow and "
          "closing it",
          c->id(), c->pending_bytes());
      proto::encode_watch_event(c->output(), *c->watch_id(), {"overflow", std::nullopt});
      c->stop_watching();
      c->flush();
      c->close_after_flush();
      continue;
    }
    c->output() += frames;
    c->flush();
  }
}

void op_watch(OpContext& ctx) {
  if (ctx.conn) ctx.conn->start_watching(ctx.request.id);
  proto::encode_watch_reply(ctx.out, ctx.request.id);
}

}  // namespace portd::daemon
