// allocate_all: every service of a project in one request, all or nothing
// (portd-protocol(7) "allocate_all").
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "registry/registry.hpp"

namespace portd {
namespace {

// An explicit port `r` cannot have: held by another key, or bound in the OS.
std::optional<Error> conflict(const AllocateRequest& r, const CheckResult& c) {
  if (c.holder && c.holder->key() != r.key) {
    return Error(ErrorCode::port_taken,
                 fmt::format("failed to allocate {}: port {} is allocated to {} (id={})",
                             to_string(r.key), r.port, to_string(c.holder->key()), c.holder->id),
                 *c.holder);
  }
  if (!c.holder && c.in_use && !r.force) {
    Error e(ErrorCode::port_in_use,
            fmt::format("failed to allocate {}: port {} is in use by another program",
                        to_string(r.key), r.port));
    if (c.owner) e.with_owner(*c.owner);
    return e;
  }
  return std::nullopt;
}

}  // namespace

std::vector<AllocateResult> Registry::allocate_all(Batch& batch,
                                                   std::vector<AllocateRequest> requests,
                                                   std::int64_t now) {
  // Check everything that can be known before the first write, so that a
  // refused request changes nothing: duplicates, keys that hold another
  // port, explicit ports that are taken. A preferred port (`prefer`) that
  // cannot be had becomes auto-assignment instead.
  std::set<std::string> services;
  std::set<Port> ports;
  for (AllocateRequest& r : requests) {
    if (!services.insert(r.key.service).second) {
      throw Error(ErrorCode::invalid_request,
                  fmt::format("allocate_all lists service '{}' twice", r.key.service));
    }
    if (r.port == 0) continue;
    std::optional<Allocation> existing;
    if (auto id = store_->id_by_key(batch.txn_, r.key)) existing = store_->get(batch.txn_, *id);
    if (existing && existing->port != r.port && r.prefer) {
      r.port = 0;  // the key keeps the port it has
      continue;
    }
    CheckResult c = check(batch, r.port, now);
    std::optional<Error> e = conflict(r, c);
    if (!e && !ports.insert(r.port).second) {
      e = Error(ErrorCode::invalid_request,
                fmt::format("allocate_all asks for port {} twice", r.port));
    }
    if (e && r.prefer) {
      r.port = 0;
    } else if (e) {
      throw *e;
    } else if (existing && existing->port != r.port) {
      throw Error(ErrorCode::key_exists,
                  fmt::format("{} already holds port {} (id={}), not {}",
                              to_string(existing->key()), existing->port, existing->id, r.port),
                  *existing);
    }
  }

  // Explicit ports first, so that auto-assignment cannot take one of them.
  std::vector<std::size_t> order(requests.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_partition(order.begin(), order.end(),
                        [&](std::size_t i) { return requests[i].port != 0; });
  std::vector<AllocateResult> results(requests.size());
  std::vector<std::size_t> done;
  const std::size_t events_before = batch.events_.size();
  try {
    for (std::size_t i : order) {
      results[i] = allocate(batch, requests[i], now);
      done.push_back(i);
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::store_full) throw;  // the daemon reruns the whole batch
    // Left to fail here: a pool with no free port. Take back what this
    // request allocated so that the reply "failed" means nothing was kept.
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      const AllocateResult& r = results[*it];
      if (!r.created) continue;
      remove(batch, r.allocation, now);
      store_->unfreeze(batch.txn_, r.allocation.port);
      allocator_.unfreeze(r.allocation.port);
    }
    batch.events_.erase(batch.events_.begin() + static_cast<std::ptrdiff_t>(events_before),
                        batch.events_.end());
    throw;
  }
  return results;
}

}  // namespace portd
