#include "alloc/allocator.hpp"

#include <algorithm>
#include <vector>

#include "alloc/port_rules.hpp"

namespace portd {

Allocator::Allocator(const Config& config, PortProbe& probe, std::optional<PortRange> ephemeral)
    : config_(config), probe_(&probe), ephemeral_(ephemeral) {
  rebuild_excluded();
}

void Allocator::reconfigure(const Config& config) {
  // Freezes keep their release times; frozen_by_time_ stays ordered by
  // expiry whatever freeze_seconds becomes, since expiry = release + period.
  config_ = config;
  rebuild_excluded();
}

void Allocator::rebuild_excluded() {
  // Runs only at start and on reload, so inserting port by port is fine.
  excluded_.clear();
  auto insert_range = [this](const PortRange& r) {
    for (std::uint32_t p = r.first; p <= r.last; ++p) excluded_.insert(static_cast<Port>(p));
  };
  for (const PortRange& r : config_.reserved) insert_range(r);
  if (ephemeral_) insert_range(*ephemeral_);
  for (Port p : browser_bad_ports()) excluded_.insert(p);
}

void Allocator::freeze(Port p, const AllocationKey& key, std::int64_t released_at) {
  unfreeze(p);  // a port has at most one freeze: the latest release wins
  frozen_.emplace(p, Frozen{key, released_at});
  frozen_set_.insert(p);
  frozen_by_time_.emplace(released_at, p);
  frozen_by_key_[key].insert(p);
}

void Allocator::unfreeze(Port p) noexcept {
  auto it = frozen_.find(p);
  if (it == frozen_.end()) return;
  frozen_by_time_.erase({it->second.released_at, p});
  if (auto k = frozen_by_key_.find(it->second.key); k != frozen_by_key_.end()) {
    k->second.erase(p);
    if (k->second.empty()) frozen_by_key_.erase(k);
  }
  frozen_set_.erase(p);
  frozen_.erase(it);
}

void Allocator::reset() noexcept {
  allocated_.clear();
  frozen_.clear();
  frozen_set_.clear();
  frozen_by_time_.clear();
  frozen_by_key_.clear();
}

bool Allocator::is_frozen_for_other(Port p, const AllocationKey& key, std::int64_t now) const {
  auto it = frozen_.find(p);
  if (it == frozen_.end()) return false;
  const Frozen& f = it->second;
  return f.key != key && now < f.released_at + config_.freeze_seconds;
}

void Allocator::expire_freezes(std::int64_t now) {
  while (!frozen_by_time_.empty()) {
    auto [released_at, port] = *frozen_by_time_.begin();
    if (now < released_at + config_.freeze_seconds) break;
    unfreeze(port);
  }
}

bool Allocator::passes_memory_checks(Port p, const AllocationKey& key, std::int64_t now) const {
  return !allocated_.contains(p) && !excluded_.contains(p) && !is_frozen_for_other(p, key, now);
}

std::optional<Port> Allocator::choose(const PoolConfig& pool, const AllocationKey& key,
                                      std::optional<Port> sticky, std::int64_t now) {
  const PortRange range = pool.range;
  if (range.first > range.last) return std::nullopt;
  // Once a freeze has ended the port is plainly free; dropping it here lets
  // the word scan below treat every remaining frozen port as blocked.
  expire_freezes(now);

  // (1) The key's remembered port keeps a service on the same port across
  // release/allocate cycles, so bookmarks and .env files stay valid.
  std::optional<Port> probed_sticky;
  if (sticky && range.contains(*sticky) && passes_memory_checks(*sticky, key, now)) {
    if (!probe_->in_use(*sticky)) return sticky;
    probed_sticky = sticky;
  }

  // (2) The lowest free port. Two ascending streams are merged: ports that
  // are neither allocated, excluded nor frozen (found a 64-bit word at a
  // time), and this key's own frozen ports, which are free for it.
  PortSet blocked = excluded_;
  blocked |= frozen_set_;
  std::vector<Port> own_frozen;
  if (auto k = frozen_by_key_.find(key); k != frozen_by_key_.end()) {
    for (Port p : k->second) {
      if (range.contains(p) && !allocated_.contains(p) && !excluded_.contains(p)) {
        own_frozen.push_back(p);  // std::set iterates in ascending order
      }
    }
  }
  auto own = own_frozen.begin();
  std::uint32_t from = range.first;
  while (from <= range.last) {
    std::optional<Port> next =
        allocated_.first_absent(static_cast<Port>(from), range.last, blocked);
    while (own != own_frozen.end() && *own < from) ++own;
    if (own != own_frozen.end() && (!next || *own < *next)) next = *own;
    if (!next) break;
    if (*next != probed_sticky && !probe_->in_use(*next)) return next;
    from = std::uint32_t{*next} + 1;
  }

  // (3) Nothing else left: reuse ports frozen for other keys, the one
  // released longest ago first, so the most recently released ports (the
  // ones their owners are most likely to come back for) go last.
  for (const auto& [released_at, p] : frozen_by_time_) {
    if (!range.contains(p) || allocated_.contains(p) || excluded_.contains(p)) continue;
    auto it = frozen_.find(p);
    if (it != frozen_.end() && it->second.key == key) continue;  // tried in (2)
    if (!probe_->in_use(p)) return p;
  }
  return std::nullopt;
}

std::uint32_t Allocator::usable_in(const PortRange& range) const noexcept {
  if (range.first > range.last) return 0;
  return range.size() - excluded_.count(range.first, range.last);
}

}  // namespace portd
