#include "proto/allocation.hpp"

#include <fmt/format.h>

#include "model/time.hpp"
#include "proto/fields.hpp"
#include "proto/map_writer.hpp"
#include "proto/read.hpp"

namespace portd::proto {

void pack_allocation(Packer& pk, const Allocation& a) {
  pack_map(pk, [&](MapWriter& m) {
    m.num("id", a.id);
    m.str("app", a.app);
    m.str("instance", a.instance);
    m.str("service", a.service);
    m.num("port", a.port);
    m.str("pool", a.pool);
    m.str("description", a.description);
    m.str("worktree", a.worktree);
    m.num("pid", a.pid);
    m.str("allocated_by", a.allocated_by);
    m.value("created_at", [&](Packer& p) { pack_string(p, format_rfc3339(a.created_at)); });
    if (a.expires_at != 0) {
      m.value("expires_at", [&](Packer& p) { pack_string(p, format_rfc3339(a.expires_at)); });
    }
  });
}

void pack_allocations(Packer& pk, const std::vector<Allocation>& allocations) {
  pk.pack_array(static_cast<std::uint32_t>(allocations.size()));
  for (const Allocation& a : allocations) pack_allocation(pk, a);
}

Allocation read_allocation(const msgpack::object& o, bool check_utf8) {
  if (o.type != msgpack::type::MAP) {
    fail(fmt::format("allocation must be a map, not {}", type_name(o)));
  }
  Fields f(o);
  Allocation a;
  if (const auto* v = f[Key::id]) a.id = as_uint(*v, "id");
  a.app = as_name(f[Key::app], "app");
  a.instance = as_name(f[Key::instance], "instance");
  a.service = as_name(f[Key::service], "service");
  if (!f[Key::port]) fail("field 'port' is required");
  a.port = as_port(*f[Key::port], "port");
  if (const auto* v = f[Key::pool]) {
    if (v->type != msgpack::type::STR || v->via.str.size != 0) a.pool = as_name(v, "pool");
  }
  if (const auto* v = f[Key::description]) {
    a.description = as_text(*v, "description", check_utf8);
  }
  if (const auto* v = f[Key::worktree]) a.worktree = as_text(*v, "worktree", check_utf8);
  if (const auto* v = f[Key::pid]) a.pid = as_pid(*v, "pid");
  if (const auto* v = f[Key::allocated_by]) {
    a.allocated_by = as_text(*v, "allocated_by", check_utf8);
  }
  if (const auto* v = f[Key::created_at]) a.created_at = as_time(*v, "created_at");
  if (const auto* v = f[Key::expires_at]) a.expires_at = as_time(*v, "expires_at");
  return a;
}

Allocation unpack_allocation(const msgpack::object& o) {
  return read_allocation(o, false);
}

std::vector<Allocation> unpack_allocations(const msgpack::object* o, std::string_view field) {
  std::vector<Allocation> out;
  if (!o || o->type == msgpack::type::NIL) return out;
  if (o->type != msgpack::type::ARRAY) fail(fmt::format("field '{}' must be an array", field));
  out.reserve(o->via.array.size);
  for (std::uint32_t i = 0; i < o->via.array.size; ++i) {
    out.push_back(unpack_allocation(o->via.array.ptr[i]));
  }
  return out;
}

}  // namespace portd::proto
