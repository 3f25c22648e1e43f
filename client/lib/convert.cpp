#include "lib/convert.hpp"

namespace portd::client::detail {

namespace {

// The public Allocation mirrors the model's member for member, because the
// public C++17 header may not include src/. This is the one list of those
// members, used in both directions.
template <class To, class From>
To copy_allocation(const From& a) {
  To out;
  out.id = a.id;
  out.app = a.app;
  out.instance = a.instance;
  out.service = a.service;
  out.port = a.port;
  out.pool = a.pool;
  out.description = a.description;
  out.worktree = a.worktree;
  out.pid = a.pid;
  out.allocated_by = a.allocated_by;
  out.created_at = a.created_at;
  out.expires_at = a.expires_at;
  return out;
}

}  // namespace

Allocation to_public(const portd::Allocation& a) {
  return copy_allocation<Allocation>(a);
}

portd::Allocation to_model(const Allocation& a) {
  return copy_allocation<portd::Allocation>(a);
}

portd::Filter to_model(const Filter& f) {
  portd::Filter out;
  out.id = f.id;
  out.app = f.app;
  out.instance = f.instance;
  out.service = f.service;
  out.port = f.port;
  return out;
}

Error to_client_error(const portd::Error& e) {
  Error out(std::string(e.code_name()), e.what());
  if (e.holder()) out.with_holder(to_public(*e.holder()));
  if (e.owner()) out.with_owner(e.owner()->pid, e.owner()->command);
  return out;
}

portd::AllocateRequest to_model(const AllocateRequest& a) {
  portd::AllocateRequest out;
  out.key = {a.app, a.instance, a.service};
  out.port = a.port;
  out.pool = a.pool;
  out.description = a.description;
  out.worktree = a.worktree;
  out.pid = a.pid;
  out.ttl_seconds = a.ttl_seconds;
  out.replace = a.replace;
  out.force = a.force;
  return out;
}

proto::Request to_model(const AllocateAllRequest& a) {
  proto::Request r;
  r.op = proto::Op::allocate_all;
  r.key = {a.app, a.instance, ""};
  r.worktree = a.worktree;
  for (const auto& s : a.services) {
    r.services.push_back({s.service, s.port, s.prefer, s.pool, s.description});
  }
  return r;
}

}  // namespace portd::client::detail
