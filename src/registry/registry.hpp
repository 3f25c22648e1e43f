// The port registry: every operation of the protocol on top of the store and
// the allocator, with the semantics of portd-protocol(7) ("OPERATIONS").
//
// Operations run inside a Batch (one LMDB transaction). The daemon puts all
// requests decoded in one loop iteration into one batch and commits once
// (group commit); replies are sent only after commit() returns, so an
// acknowledged allocation is on disk. A batch of only reads uses a read txn.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "alloc/allocator.hpp"
#include "config/config.hpp"
#include "model/allocate_request.hpp"
#include "model/allocation.hpp"
#include "model/error.hpp"
#include "store/store.hpp"

namespace portd {

/// What `check` reports about one port.
struct CheckResult {
  Port port = 0;
  std::optional<Allocation> holder;  ///< the allocation holding it
  bool reserved = false;             ///< in a reserved range of the config
  bool in_use = false;               ///< the OS has something bound to it
  std::optional<PortOwner> owner;    ///< who, when the OS could tell
  /// Free to take: not allocated, not reserved, not bound (portctl(1)
  /// "check" reports a reserved port as reserved, exit status 1).
  bool available() const noexcept { return !holder && !in_use && !reserved; }
};

/// Use of one pool (`stats`).
struct PoolStats {
  std::string name;
  PortRange range;
  std::uint32_t size = 0;  ///< ports auto-assign can use
  std::uint32_t allocated = 0;
  std::uint32_t bound = 0;  ///< usable, unallocated ports the OS has bound
  std::uint32_t free = 0;   ///< size - allocated - bound
  double percent = 0;       ///< (allocated + bound) / size * 100
};

/// One allocation `gc` removed (or would remove) and why.
struct GcEntry {
  Allocation allocation;
  std::string reason;  ///< "worktree_missing", "process_dead", "lease_expired"
};

/// A change that watchers hear about after its batch commits.
struct Event {
  enum class Kind : std::uint8_t { allocated, released };
  Kind kind;
  Allocation allocation;
};

/// Hooks gc uses to judge liveness; replaceable in tests.
struct LivenessProbe {
  std::function<bool(std::uint32_t pid)> process_alive;
  std::function<bool(const std::string& path)> directory_exists;
};
/// Liveness from the OS: kill(pid, 0) and stat().
LivenessProbe os_liveness();

class Registry;

/// One transaction's worth of operations. Created by Registry::begin().
class Batch {
 public:
  Batch(Batch&&) noexcept = default;
  bool writable() const noexcept { return txn_.writable(); }
  /// Changes made so far (published by the daemon after commit).
  const std::vector<Event>& events() const noexcept { return events_; }

 private:
  friend class Registry;
  explicit Batch(store::Txn txn) : txn_(std::move(txn)) {}
  /// What the OS said of a port when `check` first asked in this batch.
  struct Probed {
    Port port;
    bool in_use;
    std::optional<PortOwner> owner;
  };
  store::Txn txn_;
  std::vector<Event> events_;
  std::vector<Probed> probed_;
};

class Registry {
 public:
  /// Loads the in-memory port state from `store`. `store` and `probe` must
  /// outlive the registry.
  Registry(store::Store& store, Config config, PortProbe& probe,
           std::optional<PortRange> ephemeral);

  /// Applies a new config (pools, reserved ports, freeze period).
  void reconfigure(Config config);
  const Config& config() const noexcept { return config_; }

  /// Starts a batch: writable for mutations, else read-only.
  Batch begin(bool writable);
  /// Commits a writable batch (no-op for read-only ones). On any failure the
  /// in-memory state is rebuilt from the store and the error rethrown:
  /// Error(store_full) (the caller may grow the store and redo the batch)
  /// or store::StoreFatal.
  void commit(Batch& batch);
  /// Abandons a batch and rebuilds the in-memory state from the store.
  void abort(Batch& batch);

  /// Idempotent on the key: an existing allocation is returned with
  /// created=false. Throws Error with: key_exists (explicit port differs and
  /// !replace; holder = existing), port_taken (explicit port held by another
  /// key; holder), port_in_use (explicit port bound in the OS and !force;
  /// owner), pool_exhausted, invalid_request (unknown pool, bad names),
  /// store_full.
  AllocateResult allocate(Batch& batch, const AllocateRequest& request, std::int64_t now);

  /// Allocates every request (one app/instance's services) or none: the
  /// first failure is thrown and nothing of the call is kept (sticky
  /// records of a pool_exhausted rollback aside). Results are in request
  /// order. Throws Error with: invalid_request (a service or port twice,
  /// bad names), key_exists, port_taken, port_in_use (for ports without
  /// `prefer`), pool_exhausted, store_full. See portd-protocol(7)
  /// "allocate_all".
  std::vector<AllocateResult> allocate_all(Batch& batch, std::vector<AllocateRequest> requests,
                                           std::int64_t now);

  /// Releases by id (filter.id; not_found when absent) or by the other
  /// filter fields (at least one required: invalid_request otherwise; an
  /// empty match releases nothing). Returns the released allocations.
  std::vector<Allocation> release(Batch& batch, const Filter& filter, std::int64_t now);

  /// Allocations matching `filter` (all when empty), by id.
  std::vector<Allocation> list(Batch& batch, const Filter& filter);

  /// Registry and OS view of one port at `now` (UTC seconds): a lease that
  /// expired by then no longer holds it. The OS is probed once per port per
  /// batch; later checks of that port in the batch reuse the answer.
  /// Throws what the probe throws (Error(internal)).
  CheckResult check(Batch& batch, Port port, std::int64_t now);

  /// Use of every pool. FREE leaves out the usable, unallocated ports the
  /// probe finds in use, so it matches what auto-assign finds: only the
  /// ports PortProbe::suspects() names are bind-tested, or every such port
  /// when it names none (no /proc/net). Throws what the probe throws
  /// (Error(internal)).
  std::vector<PoolStats> stats(Batch& batch);

  /// Finds allocations whose worktree is gone, whose pid is dead, or whose
  /// lease expired at `now`; removes them unless `dry_run`.
  std::vector<GcEntry> gc(Batch& batch, bool dry_run, std::int64_t now,
                          const LivenessProbe& liveness);

  /// Adds exported records (new ids; created_at kept). All or nothing:
  /// a conflicting port or key throws port_taken / key_exists unless
  /// `replace`, which releases the conflicting allocations first.
  /// Returns the number imported.
  std::size_t import(Batch& batch, const std::vector<Allocation>& records, bool replace,
                     std::int64_t now);

  std::size_t count(Batch& batch);

 private:
  void load();
  Allocation take(Batch& batch, const AllocateRequest& request, Port port, std::int64_t now);
  void remove(Batch& batch, const Allocation& a, std::int64_t now);
  /// Releases every lease that ended at or before `now` (writable batches).
  void reap_expired(Batch& batch, std::int64_t now);

  store::Store* store_;
  Config config_;
  Allocator allocator_;
  /// (expires_at, id) of every allocation with a lease, soonest first, so
  /// allocate can drop ended leases without walking the store.
  std::set<std::pair<std::int64_t, std::uint64_t>> leases_;
};

}  // namespace portd
