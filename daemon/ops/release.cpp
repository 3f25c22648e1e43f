#include "ops.hpp"

namespace portd::daemon {

void op_release(OpContext& ctx) {
  std::vector<Allocation> released = ctx.registry.release(*ctx.batch, ctx.request.filter, ctx.now);
  proto::encode_ok(ctx.out, ctx.request.id, 2, [&](proto::Packer& pk) {
    proto::pack_key(pk, "released");
    pk.pack_uint64(released.size());
    proto::pack_key(pk, "allocations");
    pack_allocations(pk, released);
  });
}

}  // namespace portd::daemon
