#include "ops.hpp"

namespace portd::daemon {

void op_gc(OpContext& ctx) {
  static const LivenessProbe liveness = os_liveness();
  bool dry_run = ctx.request.dry_run;
  std::vector<GcEntry> removed = ctx.registry.gc(*ctx.batch, dry_run, ctx.now, liveness);
  proto::encode_ok(ctx.out, ctx.request.id, 2, [&](proto::Packer& pk) {
    proto::pack_key(pk, "dry_run");
    pk.pack(dry_run);
    proto::pack_key(pk, "removed");
    pk.pack_array(static_cast<std::uint32_t>(removed.size()));
    for (const GcEntry& e : removed) {
      pk.pack_map(2);
      proto::pack_key(pk, "allocation");
      proto::pack_allocation(pk, e.allocation);
      proto::pack_key(pk, "reason");
      proto::pack_string(pk, e.reason);
    }
  });
}

}  // namespace portd::daemon
