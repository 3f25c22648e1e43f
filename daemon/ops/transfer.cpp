// export and import: moving a registry between machines or across a reset
// (requests and replies: src/proto/ops/transfer.hpp).
#include "proto/ops/transfer.hpp"
#include "model/time.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_export(OpContext& ctx) {
  proto::ExportReply reply;
  reply.exported_at = format_rfc3339(ctx.now);
  reply.allocations = ctx.registry.list(*ctx.batch, Filter{});
  proto::encode_export_reply(ctx.out, ctx.request.id, reply);
}

void op_import(OpContext& ctx) {
  std::size_t n =
      ctx.registry.import(*ctx.batch, ctx.request.records, ctx.request.replace, ctx.now);
  proto::encode_import_reply(ctx.out, ctx.request.id, n);
}

}  // namespace portd::daemon
