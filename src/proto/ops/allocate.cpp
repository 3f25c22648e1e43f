#include "proto/ops/allocate.hpp"

#include <fmt/format.h>

#include "proto/read.hpp"

namespace portd::proto {
namespace {

// Leases longer than a century are a mistake; this also keeps
// created_at + ttl far from overflowing.
constexpr std::int64_t kMaxTtlSeconds = 100LL * 366 * 86400;
// Services in one allocate_all: far more than a project has.
constexpr std::uint32_t kMaxAllocateAll = 256;

void pack_service_request(Packer& pk, const ServiceRequest& s) {
  pack_map(pk, [&](MapWriter& m) {
    m.str("service", s.service);
    if (s.port != 0) m.num("port", s.port);
    if (s.prefer) m.num("prefer", true);
    if (!s.pool.empty()) m.str("pool", s.pool);
    if (!s.description.empty()) m.str("description", s.description);
  });
}

}  // namespace

void read_allocate(const Fields& f, AllocateRequest& r) {
  r.key.app = as_name(f[Key::app], "app");
  r.key.instance = as_name(f[Key::instance], "instance");
  r.key.service = as_name(f[Key::service], "service");
  if (const auto* o = f[Key::port]) {
    // 0 asks for auto-assignment, like an absent port.
    r.port = as_int(*o, "port") == 0 ? 0 : as_port(*o, "port");
  }
  if (const auto* o = f[Key::pool]) {
    // An empty pool means "the service's pool", the same as no pool.
    if (o->type != msgpack::type::STR || o->via.str.size != 0) r.pool = as_name(o, "pool");
  }
  if (const auto* o = f[Key::description]) r.description = as_text(*o, "description");
  if (const auto* o = f[Key::worktree]) r.worktree = as_text(*o, "worktree");
  if (const auto* o = f[Key::pid]) r.pid = as_pid(*o, "pid");
  if (const auto* o = f[Key::ttl]) {
    std::int64_t ttl = as_int(*o, "ttl");
    if (ttl < 0 || ttl > kMaxTtlSeconds) {
      fail(fmt::format("field 'ttl' is out of range: {} seconds (0 to {} seconds, 100 years)",
                       integer_text(*o), kMaxTtlSeconds));
    }
    r.ttl_seconds = ttl;
  }
  if (const auto* o = f[Key::replace]) r.replace = as_bool(*o, "replace");
  if (const auto* o = f[Key::force]) r.force = as_bool(*o, "force");
}

// allocate_all: {app, instance, worktree?, requests: [{service, port?,
// prefer?, pool?, description?}, ...]}.
void read_allocate_all(const Fields& f, Request& r) {
  r.key.app = as_name(f[Key::app], "app");
  r.key.instance = as_name(f[Key::instance], "instance");
  if (const auto* o = f[Key::worktree]) r.worktree = as_text(*o, "worktree");
  const msgpack::object* list = f[Key::requests];
  if (!list || list->type != msgpack::type::ARRAY || list->via.array.size == 0) {
    fail("field 'requests' must be a non-empty array");
  }
  if (list->via.array.size > kMaxAllocateAll) {
    fail(fmt::format("field 'requests' has more than {} entries", kMaxAllocateAll));
  }
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    const msgpack::object& item = list->via.array.ptr[i];
    if (item.type != msgpack::type::MAP) fail(fmt::format("requests[{}] must be a map", i));
    // The item's fields share names with allocate's; the app and instance
    // are the request's.
    Fields fi(item);
    fi.slot[static_cast<std::size_t>(Key::app)] = f[Key::app];
    fi.slot[static_cast<std::size_t>(Key::instance)] = f[Key::instance];
    AllocateRequest one;
    try {
      read_allocate(fi, one);
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("requests[{}]: {}", i, e.what()));
    }
    ServiceRequest s{one.key.service, one.port, false, one.pool, one.description};
    if (const auto* o = fi[Key::prefer]) s.prefer = as_bool(*o, "prefer");
    r.services.push_back(std::move(s));
  }
}

// allocate's optional fields are sent only when set.
void add_allocate(MapWriter& m, const AllocateRequest& r) {
  m.str("app", r.key.app);
  m.str("instance", r.key.instance);
  m.str("service", r.key.service);
  if (r.port != 0) m.num("port", r.port);
  if (!r.pool.empty()) m.str("pool", r.pool);
  if (!r.description.empty()) m.str("description", r.description);
  if (!r.worktree.empty()) m.str("worktree", r.worktree);
  if (r.pid != 0) m.num("pid", r.pid);
  if (r.ttl_seconds != 0) m.num("ttl", r.ttl_seconds);
  if (r.replace) m.num("replace", true);
  if (r.force) m.num("force", true);
}

void add_allocate_all(MapWriter& m, const Request& r) {
  m.str("app", r.key.app);
  m.str("instance", r.key.instance);
  if (!r.worktree.empty()) m.str("worktree", r.worktree);
  m.value("requests", [&](Packer& pk) {
    pk.pack_array(static_cast<std::uint32_t>(r.services.size()));
    for (const ServiceRequest& s : r.services) pack_service_request(pk, s);
  });
}

void encode_allocate_reply(std::string& out, std::uint64_t id, const AllocateResult& result) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.value("allocation", [&](Packer& pk) { pack_allocation(pk, result.allocation); });
    m.num("created", result.created);
  });
}

AllocateResult decode_allocate_reply(const Response& r) {
  AllocateResult out;
  const msgpack::object* a = r.find("allocation");
  if (!a) fail("field 'allocation' is required");
  out.allocation = unpack_allocation(*a);
  out.created = read_or_zero(r.find("created"), "created", as_bool);
  return out;
}

void encode_allocate_all_reply(std::string& out, std::uint64_t id,
                               const std::vector<AllocateResult>& results) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.value("allocations", [&](Packer& pk) {
      pk.pack_array(static_cast<std::uint32_t>(results.size()));
      for (const AllocateResult& r : results) pack_allocation(pk, r.allocation);
    });
    m.value("created", [&](Packer& pk) {
      pk.pack_array(static_cast<std::uint32_t>(results.size()));
      for (const AllocateResult& r : results) pk.pack(r.created);
    });
  });
}

std::vector<AllocateResult> decode_allocate_all_reply(const Response& r) {
  std::vector<AllocateResult> out;
  for (Allocation& a : unpack_allocations(r.find("allocations"), "allocations")) {
    out.push_back({std::move(a), false});
  }
  const msgpack::object* created = r.find("created");
  if (created && created->type == msgpack::type::ARRAY) {
    for (std::uint32_t i = 0; i < created->via.array.size && i < out.size(); ++i) {
      out[i].created = as_bool(created->via.array.ptr[i], "created");
    }
  } else if (created && created->type != msgpack::type::NIL) {
    fail("field 'created' must be an array");
  }
  return out;
}

}  // namespace portd::proto
