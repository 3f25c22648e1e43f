#include "ops.hpp"

namespace portd::daemon {

void op_check(OpContext& ctx) {
  CheckResult r = ctx.registry.check(*ctx.batch, ctx.request.port, ctx.now);
  // The OS may name a command without a pid we can see; send only what is known.
  bool pid_known = r.owner && r.owner->pid != 0;
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.num("port", r.port);
    m.num("available", r.available());
    m.num("reserved", r.reserved);
    m.num("in_use", r.in_use);
    if (r.holder)
      m.value("holder", [&](proto::Packer& pk) { proto::pack_allocation(pk, *r.holder); });
    if (pid_known) {
      m.num("pid", r.owner->pid);
      m.str("command", r.owner->command);
    }
  });
}

}  // namespace portd::daemon
