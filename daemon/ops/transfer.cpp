// export and import: moving a registry between machines or across a reset.
#include "model/time.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_export(OpContext& ctx) {
  std::vector<Allocation> all = ctx.registry.list(*ctx.batch, Filter{});
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.num("version", std::uint32_t{1});
    m.value("exported_at",
            [&](proto::Packer& pk) { proto::pack_string(pk, format_rfc3339(ctx.now)); });
    m.value("allocations", [&](proto::Packer& pk) { proto::pack_allocations(pk, all); });
  });
}

void op_import(OpContext& ctx) {
  std::size_t n =
      ctx.registry.import(*ctx.batch, ctx.request.records, ctx.request.replace, ctx.now);
  proto::encode_ok(ctx.out, ctx.request.id,
                   [&](proto::MapWriter& m) { m.num("imported", std::uint64_t{n}); });
}

}  // namespace portd::daemon
