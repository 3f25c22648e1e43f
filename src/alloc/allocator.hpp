// Port selection for auto-assign (portd-protocol(7) "OPERATIONS").
//
// Order: (1) the key's sticky port, if still free and in the pool; (2) the
// first free port of the pool; (3) ports frozen for other keys, oldest
// release first; else pool_exhausted. "Free" means: not allocated, not
// reserved, not in the kernel's ephemeral range, not a browser bad port,
// not frozen for another key, and the OS probe finds nothing bound.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "alloc/port_probe.hpp"
#include "alloc/port_set.hpp"
#include "config/config.hpp"

namespace portd {

class Allocator {
 public:
  /// `ephemeral`: the kernel's range (kernel_ephemeral_range()), excluded
  /// from auto-assign. `probe` must outlive the allocator.
  Allocator(const Config& config, PortProbe& probe, std::optional<PortRange> ephemeral);

  /// Applies a new config (pools, reserved, freeze period).
  void reconfigure(const Config& config);

  // In-memory state, mirrored from the store by the registry.
  void mark_allocated(Port p) noexcept { allocated_.insert(p); }
  void mark_free(Port p) noexcept { allocated_.erase(p); }
  bool is_allocated(Port p) const noexcept { return allocated_.contains(p); }
  /// Records that `key` released `p` at `released_at` (UTC seconds): until
  /// released_at + freeze_seconds only `key` gets `p` by auto-assign (others
  /// only when their pool has nothing else). Replaces an earlier freeze of `p`.
  void freeze(Port p, const AllocationKey& key, std::int64_t released_at);
  void unfreeze(Port p) noexcept;
  /// Drops every allocated/frozen mark (before a rebuild from the store).
  void reset() noexcept;

  /// True for ports auto-assign must skip whatever their state: reserved,
  /// ephemeral, browser bad ports.
  bool is_excluded(Port p) const noexcept { return excluded_.contains(p); }
  /// True when `p` is frozen for a key other than `key` at time `now`.
  bool is_frozen_for_other(Port p, const AllocationKey& key, std::int64_t now) const;

  /// Picks a port for `key` from `pool`, probing the OS for each candidate.
  /// `sticky`: the key's remembered port, if any. `now`: UTC seconds; freezes
  /// that ended by then are dropped. Only candidates that pass the in-memory
  /// checks are probed; one the probe reports in use is skipped. Returns
  /// std::nullopt when the pool is exhausted. Does not mark the port
  /// allocated. Throws what the probe throws (portd::Error(internal)).
  std::optional<Port> choose(const PoolConfig& pool, const AllocationKey& key,
                             std::optional<Port> sticky, std::int64_t now);

  /// Allocated ports in `range` (for stats).
  std::uint32_t allocated_in(const PortRange& range) const noexcept {
    return allocated_.count(range.first, range.last);
  }
  /// Ports of `range` auto-assign could ever use (not excluded).
  std::uint32_t usable_in(const PortRange& range) const noexcept;

  PortProbe& probe() noexcept { return *probe_; }

 private:
  struct Frozen {
    AllocationKey key;
    std::int64_t released_at = 0;
  };
  void rebuild_excluded();
  /// Drops freezes that ended at or before `now` (oldest first, so the cost
  /// is the number of freezes dropped).
  void expire_freezes(std::int64_t now);
  /// The in-memory part of "free for `key`": not allocated, not excluded,
  /// not frozen for another key.
  bool passes_memory_checks(Port p, const AllocationKey& key, std::int64_t now) const;

  Config config_;
  PortProbe* probe_;
  std::optional<PortRange> ephemeral_;
  PortSet allocated_;
  PortSet excluded_;
  std::map<Port, Frozen> frozen_;
  /// The ports of frozen_, for word-at-a-time scans that skip them.
  PortSet frozen_set_;
  /// (released_at, port) for every entry of frozen_: expiry and the
  /// oldest-first fallback walk this in order.
  std::set<std::pair<std::int64_t, Port>> frozen_by_time_;
  /// The frozen ports of each key, which stay free for that key.
  std::map<AllocationKey, std::set<Port>> frozen_by_key_;
};

}  // namespace portd
