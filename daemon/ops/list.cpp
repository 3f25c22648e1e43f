// list: the allocations a filter selects (request and reply:
// src/proto/ops/list.hpp).
#include "proto/ops/list.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_list(OpContext& ctx) {
  proto::encode_list_reply(ctx.out, ctx.request.id,
                           ctx.registry.list(*ctx.batch, ctx.request.filter));
}

}  // namespace portd::daemon
