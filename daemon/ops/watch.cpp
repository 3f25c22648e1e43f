// watch (portd-protocol(7)): the op that makes a connection a watcher, and
// the fan-out of committed changes to every watcher, bounded per watcher.
#include <fmt/format.h>

#include "connection.hpp"
#include "log.hpp"
#include "ops.hpp"
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
  std::string frames;
  for (Connection* c : watchers) {
    if (c->closing()) continue;
    frames.clear();
    for (const Event& e : events) {
      proto::encode_ok(frames, *c->watch_id(), [&](proto::MapWriter& m) {
        m.str("event", e.kind == Event::Kind::allocated ? "allocated" : "released");
        m.value("allocation", [&](proto::Packer& pk) { proto::pack_allocation(pk, e.allocation); });
      });
    }
    if (c->pending_bytes() + frames.size() > options_.config.max_pending_output) {
      // A watcher that does not read would make us buffer every change
      // for it (portd-protocol(7), WATCH): it gets a last "overflow"
      // event instead, is closed once that is written (or when the idle
      // timeout finds it still stalled), and may watch again and list.
      logger("server")->warn(
          "connection {}: watcher fell {} bytes behind; sending overflow and "
          "closing it",
          c->id(), c->pending_bytes());
      proto::encode_ok(c->output(), *c->watch_id(),
                       [&](proto::MapWriter& m) { m.str("event", "overflow"); });
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
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) { m.num("watching", true); });
}

}  // namespace portd::daemon
