// allocate_all: one app/instance's services in one request, all or nothing.
#include "ops.hpp"

namespace portd::daemon {

void op_allocate_all(OpContext& ctx) {
  const proto::Request& q = ctx.request;
  std::vector<AllocateRequest> requests;
  for (const proto::ServiceRequest& s : q.services) {
    AllocateRequest r;
    r.key = {q.key.app, q.key.instance, s.service};
    r.port = s.port;
    r.prefer = s.prefer;
    r.pool = s.pool;
    r.description = s.description;
    r.worktree = q.worktree;
    r.allocated_by = ctx.info.allocated_by;
    requests.push_back(std::move(r));
  }
  std::vector<AllocateResult> results =
      ctx.registry.allocate_all(*ctx.batch, std::move(requests), ctx.now);
  proto::encode_ok(ctx.out, q.id, 2, [&](proto::Packer& pk) {
    proto::pack_key(pk, "allocations");
    pk.pack_array(static_cast<std::uint32_t>(results.size()));
    for (const AllocateResult& r : results) proto::pack_allocation(pk, r.allocation);
    proto::pack_key(pk, "created");
    pk.pack_array(static_cast<std::uint32_t>(results.size()));
    for (const AllocateResult& r : results) pk.pack(r.created);
  });
}

}  // namespace portd::daemon
