#include "ops.hpp"

namespace portd::daemon {

void op_check(OpContext& ctx) {
  CheckResult r = ctx.registry.check(*ctx.batch, ctx.request.port, ctx.now);
  // The OS may name a command without a pid we can see; send only what is known.
  bool pid_known = r.owner && r.owner->pid != 0;
  std::uint32_t extra = 4 + (r.holder ? 1 : 0) + (pid_known ? 2 : 0);
  proto::encode_ok(ctx.out, ctx.request.id, extra, [&](proto::Packer& pk) {
    proto::pack_key(pk, "port");
    pk.pack_uint16(r.port);
    proto::pack_key(pk, "available");
    pk.pack(r.available());
    proto::pack_key(pk, "reserved");
    pk.pack(r.reserved);
    proto::pack_key(pk, "in_use");
    pk.pack(r.in_use);
    if (r.holder) {
      proto::pack_key(pk, "holder");
      proto::pack_allocation(pk, *r.holder);
    }
    if (pid_known) {
      proto::pack_key(pk, "pid");
      pk.pack_uint32(r.owner->pid);
      proto::pack_key(pk, "command");
      proto::pack_string(pk, r.owner->command);
    }
  });
}

}  // namespace portd::daemon
