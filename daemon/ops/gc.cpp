#include "ops.hpp"

namespace portd::daemon {

void op_gc(OpContext& ctx) {
  static const LivenessProbe liveness = os_liveness();
  bool dry_run = ctx.request.dry_run;
  std::vector<GcEntry> removed = ctx.registry.gc(*ctx.batch, dry_run, ctx.now, liveness);
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.num("dry_run", dry_run);
    m.value("removed", [&](proto::Packer& pk) {
      pk.pack_array(static_cast<std::uint32_t>(removed.size()));
      for (const GcEntry& e : removed) {
        proto::pack_map(pk, [&](proto::MapWriter& entry) {
          entry.value("allocation",
                      [&](proto::Packer& p) { proto::pack_allocation(p, e.allocation); });
          entry.str("reason", e.reason);
        });
      }
    });
  });
}

}  // namespace portd::daemon
