#include "ops.hpp"

namespace portd::daemon {

void op_release(OpContext& ctx) {
  std::vector<Allocation> released = ctx.registry.release(*ctx.batch, ctx.request.filter, ctx.now);
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.num("released", std::uint64_t{released.size()});
    m.value("allocations", [&](proto::Packer& pk) { proto::pack_allocations(pk, released); });
  });
}

}  // namespace portd::daemon
