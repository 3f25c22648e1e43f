#include "ops.hpp"

namespace portd::daemon {

void op_check(OpContext& ctx) {
  CheckResult r = ctx.registry.check(*ctx.batch, ctx.request.port);
  std::uint32_t extra = 4 + (r.holder ? 1 : 0) + (r.owner ? 2 : 0);
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
    if (r.owner) {
      proto::pack_key(pk, "pid");
      pk.pack_uint32(r.owner->pid);
      proto::pack_key(pk, "command");
      proto::pack_string(pk, r.owner->command);
    }
  });
}

}  // namespace portd::daemon
