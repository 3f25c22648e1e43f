// hello and health: what a client asks before anything else.
#include <unistd.h>

#include "config.h"
#include "ops.hpp"

namespace portd::daemon {
namespace {

// getpid() is a system call in glibc (no caching since 2.25), and health is
// the op monitors poll; the daemon never forks after starting.
std::int32_t own_pid() {
  static const std::int32_t pid = static_cast<std::int32_t>(::getpid());
  return pid;
}

}  // namespace

void op_hello(OpContext& ctx) {
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.str("server", "portd");
    m.str("version", PORTD_VERSION);
    m.num("protocol", proto::kProtocolVersion);
    m.num("max_frame", std::uint64_t{ctx.info.max_frame});
    m.num("pid", own_pid());
  });
}

void op_health(OpContext& ctx) {
  std::size_t allocations = ctx.registry.count(*ctx.batch);
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.str("status", "ok");
    m.str("version", PORTD_VERSION);
    m.num("pid", own_pid());
    m.num("uptime_seconds", std::int64_t{ctx.now - ctx.info.started_at});
    m.num("allocations", std::uint64_t{allocations});
    m.num("connections", std::uint64_t{ctx.info.connections});
  });
}

}  // namespace portd::daemon
