#include "proto/fields.hpp"

namespace portd::proto {

Key classify(std::string_view k) noexcept {
  switch (k.size()) {
    case 1:
      return k == "v" ? Key::v : Key::unknown;
    case 2:
      if (k == "id") return Key::id;
      if (k == "op") return Key::op;
      return Key::unknown;
    case 3:
      if (k == "app") return Key::app;
      if (k == "pid") return Key::pid;
      if (k == "ttl") return Key::ttl;
      return Key::unknown;
    case 4:
      if (k == "port") return Key::port;
      if (k == "pool") return Key::pool;
      return Key::unknown;
    case 5:
      return k == "force" ? Key::force : Key::unknown;
    case 6:
      return k == "prefer" ? Key::prefer : Key::unknown;
    case 7:
      if (k == "service") return Key::service;
      if (k == "replace") return Key::replace;
      if (k == "dry_run") return Key::dry_run;
      return Key::unknown;
    case 8:
      if (k == "instance") return Key::instance;
      if (k == "worktree") return Key::worktree;
      if (k == "requests") return Key::requests;
      return Key::unknown;
    case 10:
      if (k == "created_at") return Key::created_at;
      if (k == "expires_at") return Key::expires_at;
      return Key::unknown;
    case 11:
      if (k == "description") return Key::description;
      if (k == "allocations") return Key::allocations;
      return Key::unknown;
    case 12:
      return k == "allocated_by" ? Key::allocated_by : Key::unknown;
    case 13:
      return k == "allocation_id" ? Key::allocation_id : Key::unknown;
    default:
      return Key::unknown;
  }
}

Fields::Fields(const msgpack::object& map) noexcept {
  const msgpack::object_kv* kv = map.via.map.ptr;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    if (kv[i].key.type != msgpack::type::STR) continue;
    Key k = classify({kv[i].key.via.str.ptr, kv[i].key.via.str.size});
    if (k != Key::unknown) slot[static_cast<std::size_t>(k)] = &kv[i].val;
  }
}

}  // namespace portd::proto
