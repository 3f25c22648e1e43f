#include "registry/registry.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "model/validate.hpp"

namespace portd {
namespace {

// A lease or freeze that ends at or before `now` is over.
bool expired(const Allocation& a, std::int64_t now) {
  return a.expires_at != 0 && a.expires_at <= now;
}

Error key_exists_error(const Allocation& existing, Port wanted) {
  return Error(ErrorCode::key_exists,
               fmt::format("{} already holds port {} (id={}); replace it (portctl allocate "
                           "--replace) to move it to port {}",
                           to_string(existing.key()), existing.port, existing.id, wanted),
               existing);
}

Error port_taken_error(const Allocation& holder) {
  return Error(ErrorCode::port_taken,
               fmt::format("port {} is allocated to {} (id={})", holder.port,
                           to_string(holder.key()), holder.id),
               holder);
}

}  // namespace

LivenessProbe os_liveness() {
  return LivenessProbe{
      [](std::uint32_t pid) {
        // EPERM means the process exists but belongs to someone else.
        return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
      },
      [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      },
  };
}

Registry::Registry(store::Store& store, Config config, PortProbe& probe,
                   std::optional<PortRange> ephemeral)
    : store_(&store), config_(std::move(config)), allocator_(config_, probe, ephemeral) {
  load();
}

void Registry::reconfigure(Config config) {
  config_ = std::move(config);
  allocator_.reconfigure(config_);
}

void Registry::load() {
  allocator_.reset();
  leases_.clear();
  store::Txn txn = store_->begin_read();
  store_->for_each(txn, [this](const Allocation& a) {
    allocator_.mark_allocated(a.port);
    if (a.expires_at != 0) leases_.emplace(a.expires_at, a.id);
  });
  for (const store::FrozenPort& f : store_->frozen(txn)) {
    allocator_.freeze(f.port, f.key, f.released_at);
  }
}

Batch Registry::begin(bool writable) {
  return Batch(writable ? store_->begin_write() : store_->begin_read());
}

void Registry::commit(Batch& batch) {
  if (!batch.writable()) return;
  try {
    store_->commit(batch.txn_);
  } catch (...) {
    // The in-memory ports were changed as the batch ran; the store has none
    // of it, so the store is the truth to rebuild from.
    load();
    throw;
  }
}

void Registry::abort(Batch& batch) {
  bool was_writable = batch.writable();
  { store::Txn dropped = std::move(batch.txn_); }
  batch.events_.clear();
  if (was_writable) load();
}

Allocation Registry::take(Batch& batch, const AllocateRequest& r, Port port, std::int64_t now) {
  Allocation a;
  a.id = store_->take_id(batch.txn_);
  a.app = r.key.app;
  a.instance = r.key.instance;
  a.service = r.key.service;
  a.port = port;
  a.pool = r.pool.empty() ? config_.pool_for_service(r.key.service).name : r.pool;
  a.description = r.description;
  a.worktree = r.worktree;
  a.pid = r.pid;
  a.allocated_by = r.allocated_by;
  a.created_at = now;
  a.expires_at = r.ttl_seconds > 0 ? now + r.ttl_seconds : 0;
  store_->put(batch.txn_, a);
  store_->unfreeze(batch.txn_, port);
  if (a.expires_at != 0) leases_.emplace(a.expires_at, a.id);
  allocator_.mark_allocated(port);
  allocator_.unfreeze(port);
  batch.events_.push_back({Event::Kind::allocated, a});
  return a;
}

void Registry::remove(Batch& batch, const Allocation& a, std::int64_t now) {
  store_->erase(batch.txn_, a, now);
  if (a.expires_at != 0) leases_.erase({a.expires_at, a.id});
  allocator_.mark_free(a.port);
  allocator_.freeze(a.port, a.key(), now);
  batch.events_.push_back({Event::Kind::released, a});
}

void Registry::reap_expired(Batch& batch, std::int64_t now) {
  while (!leases_.empty() && leases_.begin()->first <= now) {
    auto [expires_at, id] = *leases_.begin();
    std::optional<Allocation> a = store_->get(batch.txn_, id);
    if (!a || a->expires_at != expires_at) {
      leases_.erase(leases_.begin());  // stale entry: nothing left to release
      continue;
    }
    remove(batch, *a, now);
  }
}

AllocateResult Registry::allocate(Batch& batch, const AllocateRequest& r, std::int64_t now) {
  validate_name("app", r.key.app);
  validate_name("instance", r.key.instance);
  validate_name("service", r.key.service);
  if (!r.pool.empty()) {
    validate_name("pool", r.pool);
    if (!config_.find_pool(r.pool)) {
      throw Error(ErrorCode::invalid_request, fmt::format("unknown pool '{}'", r.pool));
    }
  }
  validate_text("description", r.description);
  validate_text("worktree", r.worktree);
  if (r.ttl_seconds < 0) throw Error(ErrorCode::invalid_request, "ttl must not be negative");

  // An expired lease no longer holds its key or port, whether or not gc has
  // run: auto-assign must see those ports as free.
  reap_expired(batch, now);
  std::optional<Allocation> existing;
  if (auto id = store_->id_by_key(batch.txn_, r.key)) existing = store_->get(batch.txn_, *id);
  if (existing && (r.port == 0 || r.port == existing->port)) return {*existing, false};
  if (existing && !r.replace) throw key_exists_error(*existing, r.port);

  Port port = r.port;
  if (port != 0) {
    if (auto holder_id = store_->id_by_port(batch.txn_, port)) {
      if (std::optional<Allocation> holder = store_->get(batch.txn_, *holder_id)) {
        throw port_taken_error(*holder);
      }
    }
    if (!r.force && allocator_.probe().in_use(port)) {
      Error e(ErrorCode::port_in_use, fmt::format("port {} is in use by another program; register "
                                                  "it anyway with portctl allocate --force",
                                                  port));
      if (auto owner = allocator_.probe().owner(port)) {
        e = Error(ErrorCode::port_in_use, fmt::format("port {} is in use by pid {} ({}); register "
                                                      "it anyway with portctl allocate --force",
                                                      port, owner->pid, owner->command));
        e.with_owner(*owner);
      }
      throw e;
    }
  } else {
    const PoolConfig& pool =
        r.pool.empty() ? config_.pool_for_service(r.key.service) : *config_.find_pool(r.pool);
    std::optional<Port> sticky;
    if (auto s = store_->sticky(batch.txn_, r.key)) sticky = s->port;
    std::optional<Port> chosen = allocator_.choose(pool, r.key, sticky, now);
    if (!chosen) {
      throw Error(ErrorCode::pool_exhausted,
                  fmt::format("no free port in pool '{}' ({}-{}): release unused allocations "
                              "(portctl list, portctl gc) or widen the pool in portd.toml",
                              pool.name, pool.range.first, pool.range.last));
    }
    port = *chosen;
  }
  if (existing) remove(batch, *existing, now);  // replace: the key moves to the new port
  return {take(batch, r, port, now), true};
}

std::vector<Allocation> Registry::release(Batch& batch, const Filter& filter, std::int64_t now) {
  validate_filter(filter);
  if (filter.empty()) {
    throw Error(ErrorCode::invalid_request,
                "release needs an allocation id or at least one of app, instance, service, port");
  }
  std::vector<Allocation> matched;
  if (filter.id) {
    std::optional<Allocation> a = store_->get(batch.txn_, *filter.id);
    if (!a || !filter.matches(*a)) {
      throw Error(ErrorCode::not_found, fmt::format("no allocation with id {}", *filter.id));
    }
    matched.push_back(std::move(*a));
  } else if (filter.port) {
    if (auto id = store_->id_by_port(batch.txn_, *filter.port)) {
      if (auto a = store_->get(batch.txn_, *id); a && filter.matches(*a)) matched.push_back(*a);
    }
  } else {
    store_->for_each(batch.txn_, [&](const Allocation& a) {
      if (filter.matches(a)) matched.push_back(a);
    });
  }
  for (const Allocation& a : matched) remove(batch, a, now);
  return matched;
}

std::vector<Allocation> Registry::list(Batch& batch, const Filter& filter) {
  validate_filter(filter);
  std::vector<Allocation> out;
  if (filter.id) {
    if (auto a = store_->get(batch.txn_, *filter.id); a && filter.matches(*a)) out.push_back(*a);
    return out;
  }
  if (filter.port) {
    if (auto id = store_->id_by_port(batch.txn_, *filter.port)) {
      if (auto a = store_->get(batch.txn_, *id); a && filter.matches(*a)) out.push_back(*a);
    }
    return out;
  }
  store_->for_each(batch.txn_, [&](const Allocation& a) {
    if (filter.matches(a)) out.push_back(a);
  });
  return out;
}

CheckResult Registry::check(Batch& batch, Port port, std::int64_t now) {
  CheckResult r;
  r.port = port;
  if (auto id = store_->id_by_port(batch.txn_, port)) r.holder = store_->get(batch.txn_, *id);
  // An ended lease holds nothing, even before gc or allocate removes it.
  if (r.holder && expired(*r.holder, now)) r.holder.reset();
  r.reserved = config_.is_reserved(port);
  // Checks of one port in one batch are answered at the same instant, so
  // they share one probe: a pipelining client, or many clients polling
  // the same port, cost one bind test per batch instead of one each.
  auto seen = std::find_if(batch.probed_.begin(), batch.probed_.end(),
                           [&](const Batch::Probed& p) { return p.port == port; });
  if (seen == batch.probed_.end()) {
    Batch::Probed p{port, allocator_.probe().in_use(port), std::nullopt};
    if (p.in_use) p.owner = allocator_.probe().owner(port);
    batch.probed_.push_back(std::move(p));
    seen = std::prev(batch.probed_.end());
  }
  r.in_use = seen->in_use;
  r.owner = seen->owner;
  return r;
}

std::vector<PoolStats> Registry::stats(Batch&) {
  std::vector<PoolStats> out;
  out.reserve(config_.pools.size());
  for (const PoolConfig& p : config_.pools) {
    PoolStats s;
    s.name = p.name;
    s.range = p.range;
    s.size = allocator_.usable_in(p.range);
    s.allocated = allocator_.allocated_in(p.range);
    // Auto-assign skips ports the OS has bound, so FREE must not count
    // them. Bind-testing every port of a default pool takes a few hundred
    // ms of the event loop; the socket tables narrow that to the few ports
    // something uses, and the bind test of each keeps FREE what auto-assign
    // would find.
    const auto bound = [&](Port q) {
      return !allocator_.is_allocated(q) && !allocator_.is_excluded(q) &&
             allocator_.probe().in_use(q);
    };
    if (std::optional<std::vector<Port>> suspects = allocator_.probe().suspects(p.range)) {
      for (Port q : *suspects) s.bound += bound(q) ? 1 : 0;
    } else {
      for (std::uint32_t port = p.range.first; port <= p.range.last; ++port) {
        s.bound += bound(static_cast<Port>(port)) ? 1 : 0;
      }
    }
    const std::uint32_t used = s.allocated + s.bound;
    s.free = s.size > used ? s.size - used : 0;
    s.percent = s.size == 0 ? 100.0 : 100.0 * std::min(used, s.size) / s.size;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<GcEntry> Registry::gc(Batch& batch, bool dry_run, std::int64_t now,
                                  const LivenessProbe& liveness) {
  std::vector<GcEntry> found;
  store_->for_each(batch.txn_, [&](const Allocation& a) {
    if (expired(a, now)) {
      found.push_back({a, "lease_expired"});
    } else if (!a.worktree.empty() && !liveness.directory_exists(a.worktree)) {
      found.push_back({a, "worktree_missing"});
    } else if (a.pid != 0 && !liveness.process_alive(a.pid)) {
      found.push_back({a, "process_dead"});
    }
  });
  if (!dry_run) {
    for (const GcEntry& e : found) remove(batch, e.allocation, now);
  }
  return found;
}

std::size_t Registry::import(Batch& batch, const std::vector<Allocation>& records, bool replace,
                             std::int64_t now) {
  // Validate everything before the first write so a rejected import changes nothing.
  std::set<AllocationKey> keys;
  std::set<Port> ports;
  for (const Allocation& r : records) {
    validate_name("app", r.app);
    validate_name("instance", r.instance);
    validate_name("service", r.service);
    validate_port("port", r.port);
    if (!r.pool.empty()) validate_name("pool", r.pool);
    validate_text("description", r.description);
    validate_text("worktree", r.worktree);
    if (!keys.insert(r.key()).second) {
      throw Error(ErrorCode::invalid_request,
                  fmt::format("import lists {} twice", to_string(r.key())));
    }
    if (!ports.insert(r.port).second) {
      throw Error(ErrorCode::invalid_request, fmt::format("import lists port {} twice", r.port));
    }
  }
  std::map<std::uint64_t, Allocation> in_the_way;
  for (const Allocation& r : records) {
    for (auto id :
         {store_->id_by_key(batch.txn_, r.key()), store_->id_by_port(batch.txn_, r.port)}) {
      if (!id) continue;
      std::optional<Allocation> cur = store_->get(batch.txn_, *id);
      if (!cur) continue;
      const bool same = cur->key() == r.key() && cur->port == r.port;
      if (!same && !replace) {
        throw cur->key() == r.key() ? key_exists_error(*cur, r.port) : port_taken_error(*cur);
      }
      // The same allocation is re-imported in place; with replace, others make way.
      in_the_way.emplace(cur->id, *cur);
    }
  }
  for (const auto& [id, a] : in_the_way) remove(batch, a, now);
  for (const Allocation& r : records) {
    AllocateRequest req;
    req.key = r.key();
    req.pool = r.pool;
    req.description = r.description;
    req.worktree = r.worktree;
    req.pid = r.pid;
    req.allocated_by = r.allocated_by;
    Allocation a = take(batch, req, r.port, r.created_at != 0 ? r.created_at : now);
    if (r.expires_at != 0 && a.expires_at != r.expires_at) {
      if (a.expires_at != 0) leases_.erase({a.expires_at, a.id});
      a.expires_at = r.expires_at;
      leases_.emplace(a.expires_at, a.id);
      store_->put(batch.txn_, a);
      batch.events_.back().allocation = a;
    }
  }
  return records.size();
}

std::size_t Registry::count(Batch& batch) {
  return store_->count(batch.txn_);
}

}  // namespace portd
