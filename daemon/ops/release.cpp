// release: give back the allocations a filter selects (request and reply:
// src/proto/ops/release.hpp).
#include "proto/ops/release.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_release(OpContext& ctx) {
  proto::encode_release_reply(ctx.out, ctx.request.id,
                              ctx.registry.release(*ctx.batch, ctx.request.filter, ctx.now));
}

}  // namespace portd::daemon
