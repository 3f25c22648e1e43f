// hello and health: what a client asks before anything else (replies:
// src/proto/ops/health.hpp).
#include <unistd.h>

#include "config.h"
#include "ops.hpp"
#include "proto/ops/health.hpp"

namespace portd::daemon {
namespace {

// getpid() is a system call in glibc (no caching since 2.25), and health is
// the op monitors poll; the daemon never forks after starting.
std::uint32_t own_pid() {
  static const auto pid = static_cast<std::uint32_t>(::getpid());
  return pid;
}

}  // namespace

void op_hello(OpContext& ctx) {
  proto::HelloReply reply;
  reply.server = "portd";
  reply.version = PORTD_VERSION;
  reply.protocol = proto::kProtocolVersion;
  reply.max_frame = ctx.info.max_frame;
  reply.pid = own_pid();
  proto::encode_hello_reply(ctx.out, ctx.request.id, reply);
}

void op_health(OpContext& ctx) {
  proto::HealthReply reply;
  reply.status = "ok";
  reply.version = PORTD_VERSION;
  reply.pid = own_pid();
  reply.uptime_seconds = ctx.now - ctx.info.started_at;
  reply.allocations = ctx.registry.count(*ctx.batch);
  reply.connections = ctx.info.connections;
  proto::encode_health_reply(ctx.out, ctx.request.id, reply);
}

}  // namespace portd::daemon
