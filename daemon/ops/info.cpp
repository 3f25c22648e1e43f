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
  proto::encode_ok(ctx.out, ctx.request.id, 5, [&](proto::Packer& pk) {
    proto::pack_key(pk, "server");
    proto::pack_string(pk, "portd");
    proto::pack_key(pk, "version");
    proto::pack_string(pk, PORTD_VERSION);
    proto::pack_key(pk, "protocol");
    pk.pack_uint32(proto::kProtocolVersion);
    proto::pack_key(pk, "max_frame");
    pk.pack_uint64(ctx.info.max_frame);
    proto::pack_key(pk, "pid");
    pk.pack_int32(own_pid());
  });
}

void op_health(OpContext& ctx) {
  std::size_t allocations = ctx.registry.count(*ctx.batch);
  proto::encode_ok(ctx.out, ctx.request.id, 6, [&](proto::Packer& pk) {
    proto::pack_key(pk, "status");
    proto::pack_string(pk, "ok");
    proto::pack_key(pk, "version");
    proto::pack_string(pk, PORTD_VERSION);
    proto::pack_key(pk, "pid");
    pk.pack_int32(own_pid());
    proto::pack_key(pk, "uptime_seconds");
    pk.pack_int64(ctx.now - ctx.info.started_at);
    proto::pack_key(pk, "allocations");
    pk.pack_uint64(allocations);
    proto::pack_key(pk, "connections");
    pk.pack_uint64(ctx.info.connections);
  });
}

}  // namespace portd::daemon
