// The shared invariant checker of the reliability suite (docs/testing.md,
// "Shared oracle"): a Jepsen-style history of client operations and the
// verdicts computed from it, plus a client that survives daemon restarts.
//
// How a test uses it:
//
//   History history;
//   // in each client thread (process = a small number naming the thread):
//   ResilientClient client(socket, history, process);
//   client.allocate({"app", "inst", "svc"});   // records invoke + ok/fail/info
//   client.release({"app", "inst", "svc"});
//   // in a watcher thread, now and then:
//   client.list();                              // recorded as a snapshot
//   // at the end, with every client stopped:
//   Verdict v = history.check(final_client.list());
//   v.integrity = check_store_integrity(daemon.state_dir());
//   EXPECT_TRUE(v.valid()) << v.report();
//
// Outcomes follow Jepsen: `ok` (it happened), `fail` (it certainly did not
// happen: the daemon answered with an error), `info` (indeterminate: the
// connection died or timed out before the reply, so it may or may not have
// happened). A test that talks to the daemon in its own way records through
// History::invoke()/ok()/fail()/info() directly.
//
// Verdicts (History::check):
//   lost          an ok allocate of key K (port P) with no ok/info release of
//                 K that could come after it, while the final list lacks K@P.
//                 An acknowledged allocation vanished. Also: K@P missing
//                 from a list snapshot invoked after the allocate's ack and
//                 completed before any release of K was sent (a loss that a
//                 later release would hide from the final list).
//   unexpected    a final-list entry K@P with neither an ok allocate of K@P
//                 nor an info allocate of K. The store holds something that
//                 no client was told about and no indeterminate op explains.
//   resurrected   a final-list entry of key K although an ok release of K
//                 was sent after every allocate of K had completed: an
//                 acknowledged release was undone.
//   duplicate     one port under two keys (or one key twice) in any list
//                 snapshot, the final one included.
//   double grant  two keys acknowledged the same port over overlapping
//                 intervals in which each was certainly held (from its
//                 allocate's ok to the invoke of its next release): a
//                 duplicate that no snapshot happened to catch.
//   false avail.  a check that said "available" for a port that some key
//                 certainly held over the check's whole interval.
//   integrity     `mdb_stat -e -a` and `mdb_dump -a` (lmdb-utils) both exit 0
//                 on the state directory (check_store_integrity).
//
// Everything here is thread-safe unless it says otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/allocation.hpp"
#include "model/error.hpp"

namespace portd::testing {
class RawClient;
}

namespace portd::reliability {

enum class OpType : std::uint8_t { allocate, release, check, list };
enum class Outcome : std::uint8_t { pending, ok, fail, info };

std::string_view to_string(OpType t) noexcept;
std::string_view to_string(Outcome o) noexcept;

/// One client operation. `invoked`/`completed` are positions in the history's
/// global order (completed = 0 while pending): Jepsen's invoke and completion
/// events, so "A completed before B was invoked" is A.completed < B.invoked.
struct OpRecord {
  std::uint64_t invoked = 0;
  std::uint64_t completed = 0;
  int process = 0;
  OpType type = OpType::allocate;
  Outcome outcome = Outcome::pending;
  AllocationKey key;  ///< allocate / release by key
  Port port = 0;      ///< allocate: port asked (invoke) then granted (ok); check: port
  std::uint64_t allocation_id = 0;  ///< allocate ok: the allocation's id
  bool available = false;           ///< check ok: the daemon said the port is free
  std::string error;                ///< fail: the error code; info: why indeterminate
  std::chrono::steady_clock::time_point invoke_time, complete_time;
};

/// Handle of a pending op, returned by History::invoke().
using OpHandle = std::size_t;

/// Result of check_store_integrity().
struct IntegrityReport {
  bool ok = false;
  int stat_status = -1;  ///< exit status of mdb_stat (-1: timed out / not run)
  int dump_status = -1;  ///< exit status of mdb_dump
  std::string output;    ///< mdb_stat's output and both tools' stderr
};

/// Runs `mdb_stat -e -a <dir>` and `mdb_dump -a <dir> >/dev/null` in child
/// processes (never in this process: an LMDB env must not be opened twice
/// in one process, and the daemon may hold it). Each must exit 0 within
/// `timeout`. Throws std::runtime_error if lmdb-utils is not installed.
IntegrityReport check_store_integrity(const std::filesystem::path& state_dir,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Full path of an lmdb-utils program ("mdb_stat"), searched in $PATH,
/// /usr/bin and /usr/local/bin; empty when absent.
std::filesystem::path find_tool(const std::string& name);

struct Verdict {
  std::size_t ops = 0;
  std::size_t ok = 0, fail = 0, info = 0, pending = 0;
  std::size_t ok_allocates = 0;
  std::size_t snapshots = 0;                      ///< list snapshots examined (final included)
  std::size_t final_entries = 0;                  ///< size of the final list
  std::map<std::string, std::size_t> fail_codes;  ///< allocate failures by error code
  /// Failures of every op type: op name ("release") -> error code -> count.
  std::map<std::string, std::map<std::string, std::size_t>> op_fail_codes;

  std::vector<std::string> lost;
  std::vector<std::string> unexpected;
  std::vector<std::string> resurrected;
  std::vector<std::string> duplicates;
  std::vector<std::string> double_grants;
  std::vector<std::string> false_available;  ///< check said free while certainly held
  std::optional<IntegrityReport> integrity;  ///< set by the test when it checked

  /// No lost, unexpected, resurrected, duplicate, double grant or false available, and integrity ok
  /// if checked. Pending ops are not an error (a test may stop mid-op).
  bool valid() const noexcept;
  /// Human-readable summary; lists up to 20 offenders per kind.
  std::string report() const;
};

class History {
 public:
  History();
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// Records the invocation of an op; returns the handle to complete it with.
  OpHandle invoke(int process, OpType type, AllocationKey key = {}, Port port = 0);
  /// The op succeeded. For allocate pass the granted port and id.
  void ok(OpHandle h, Port port = 0, std::uint64_t allocation_id = 0);
  /// A check succeeded and said `available`.
  void ok_check(OpHandle h, bool available);
  /// The daemon answered with an error (`code`, e.g. "pool_exhausted").
  void fail(OpHandle h, std::string code);
  /// Indeterminate: no reply (EOF, timeout). `why` is for the report.
  void info(OpHandle h, std::string why);

  /// Records a `list` result; every snapshot is checked for duplicates.
  void snapshot(const std::vector<Allocation>& list);
  /// Records the result of the list op `h` (completed ok): checked for
  /// duplicates and, by check(), for acknowledged allocations it lacks.
  void snapshot(const std::vector<Allocation>& list, OpHandle h);
  /// Declares allocations that existed before the history began (a test
  /// that reuses a state directory), so that they are not "unexpected".
  void preexisting(const std::vector<Allocation>& list);

  /// Copy of every op so far, in invoke order.
  std::vector<OpRecord> ops() const;
  std::size_t size() const;

  /// Computes the verdict against `final_list` (taken after every client
  /// stopped; it also counts as a snapshot). Does not check integrity.
  Verdict check(const std::vector<Allocation>& final_list) const;

 private:
  mutable std::mutex mutex_;
  std::uint64_t clock_ = 0;
  std::vector<OpRecord> ops_;
  std::vector<std::string> snapshot_duplicates_;
  std::size_t snapshots_ = 0;
  // Snapshots with known events: sorted hashes of "app/instance/service@port".
  struct Snapshot {
    std::uint64_t invoked = 0, completed = 0;
    std::vector<std::size_t> entries;
  };
  std::vector<Snapshot> timed_snapshots_;
  std::vector<Allocation> preexisting_;
};

/// Checks one list snapshot for a port under two keys or a key twice;
/// returns a description per problem (empty when fine). Not thread-bound.
std::vector<std::string> find_duplicates(const std::vector<Allocation>& list);

/// What a ResilientClient call ended with.
struct CallResult {
  Outcome outcome = Outcome::pending;    ///< ok or fail (info only if retries ran out)
  std::optional<Allocation> allocation;  ///< allocate ok
  bool created = false;                  ///< allocate ok: a new allocation
  std::optional<ErrorCode> error;        ///< fail: the daemon's code (when known)
  std::string error_code;                ///< fail: the code as sent
  std::uint64_t released = 0;            ///< release ok
  bool available = false;                ///< check ok
  int attempts = 0;                      ///< requests sent (retries + 1)
};

/// A client that behaves like portctl under daemon restarts: when the
/// connection dies (EOF, reset, no reply within `reply_timeout`) it records
/// the attempt as `info`, reconnects (retrying refused/missing sockets until
/// `reconnect_timeout`) and sends the same idempotent request again, up to
/// `max_attempts` times. allocate is idempotent on its key; release is sent
/// by key filter so a repeat releases nothing more. One instance per thread.
class ResilientClient {
 public:
  struct Options {
    std::chrono::milliseconds reply_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds reconnect_timeout{std::chrono::seconds(15)};
    int max_attempts = 20;
  };

  ResilientClient(std::filesystem::path socket, History& history, int process);
  ResilientClient(std::filesystem::path socket, History& history, int process, Options options);
  ~ResilientClient();
  ResilientClient(const ResilientClient&) = delete;
  ResilientClient& operator=(const ResilientClient&) = delete;

  /// Allocates `key` (auto-assign when port is 0).
  CallResult allocate(const AllocationKey& key, Port port = 0);
  /// Releases `key` by filter {app, instance, service}.
  CallResult release(const AllocationKey& key);
  /// Asks whether `port` is available.
  CallResult check(Port port);
  /// Lists everything and records the result as a snapshot. Throws
  /// std::runtime_error when no list could be had within the retries.
  std::vector<Allocation> list();

  /// Connection attempts refused (ECONNREFUSED/ENOENT/EAGAIN) so far.
  std::size_t refused() const noexcept { return refused_; }
  /// Reconnections after a broken connection so far.
  std::size_t reconnects() const noexcept { return reconnects_; }
  /// Drops the current connection (the next call reconnects).
  void disconnect();

 private:
  bool ensure_connected();

  std::filesystem::path socket_;
  History* history_;
  int process_;
  Options options_;
  std::unique_ptr<testing::RawClient> conn_;
  std::size_t refused_ = 0;
  std::size_t reconnects_ = 0;
};

/// "app/instance/service@port".
std::string describe(const AllocationKey& key, Port port);

}  // namespace portd::reliability
