// check: what portd knows about one port (request and reply:
// src/proto/ops/check.hpp).
#include "proto/ops/check.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_check(OpContext& ctx) {
  CheckResult r = ctx.registry.check(*ctx.batch, ctx.request.port, ctx.now);
  proto::CheckReply reply;
  reply.port = r.port;
  reply.available = r.available();
  reply.reserved = r.reserved;
  reply.in_use = r.in_use;
  reply.holder = r.holder;
  if (r.owner && r.owner->pid != 0) {
    reply.pid = r.owner->pid;
    reply.command = r.owner->command;
  }
  proto::encode_check_reply(ctx.out, ctx.request.id, reply);
}

}  // namespace portd::daemon
