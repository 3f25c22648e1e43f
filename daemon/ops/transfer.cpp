// export and import: moving a registry between machines or across a reset.
#include "model/time.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_export(OpContext& ctx) {
  std::vector<Allocation> all = ctx.registry.list(*ctx.batch, Filter{});
  proto::encode_ok(ctx.out, ctx.request.id, 3, [&](proto::Packer& pk) {
    proto::pack_key(pk, "version");
    pk.pack_uint32(1);
    proto::pack_key(pk, "exported_at");
    proto::pack_string(pk, format_rfc3339(ctx.now));
    proto::pack_key(pk, "allocations");
    pack_allocations(pk, all);
  });
}

void op_import(OpContext& ctx) {
  std::size_t n =
      ctx.registry.import(*ctx.batch, ctx.request.records, ctx.request.replace, ctx.now);
  proto::encode_ok(ctx.out, ctx.request.id, 1, [&](proto::Packer& pk) {
    proto::pack_key(pk, "imported");
    pk.pack_uint64(n);
  });
}

}  // namespace portd::daemon
