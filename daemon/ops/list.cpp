#include "ops.hpp"

namespace portd::daemon {

void op_list(OpContext& ctx) {
  std::vector<Allocation> found = ctx.registry.list(*ctx.batch, ctx.request.filter);
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.value("allocations", [&](proto::Packer& pk) { proto::pack_allocations(pk, found); });
  });
}

}  // namespace portd::daemon
