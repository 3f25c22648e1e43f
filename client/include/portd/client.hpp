// libportd-client: the C++ client library of portd, the per-user TCP port
// registry (pkg-config module `portd-client`).
//
// Every call is blocking and talks to the daemon over its Unix socket
// (portd-protocol(7)). If nothing answers at the socket, the client starts
// `portd` itself (autostart, like gpg-agent) unless Options::autostart is
// false or PORTD_NO_AUTOSTART=1 is set. Failures are thrown as
// portd::client::Error, carrying the protocol error code.
//
// Minimal use (see client/examples/allocate.cpp and portctl(1)):
//
//   portd::client::Client client;
//   portd::client::AllocateRequest req;
//   req.app = "myapp"; req.instance = "main"; req.service = "web";
//   std::uint16_t port = client.allocate(req).allocation.port;
//
// This header needs C++17 and has no dependency beyond the standard library.
// A Client is not thread-safe; use one per thread.
//
// @see portctl(1) (worktree rules, autostart), portd-protocol(7) (ops, fields
// and error codes).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if defined(PORTD_CLIENT_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define PORTD_CLIENT_API __attribute__((visibility("default")))
#else
#define PORTD_CLIENT_API
#endif

namespace portd::client {

/// Version of this library, e.g. "0.1.0".
PORTD_CLIENT_API std::string_view library_version() noexcept;

/// One allocation as the daemon reports it. Times are UTC seconds since the
/// Unix epoch.
struct Allocation {
  std::uint64_t id = 0;  ///< allocation id, never reused
  std::string app;
  std::string instance;
  std::string service;
  std::uint16_t port = 0;
  std::string pool;             ///< port range the port came from
  std::string description;      ///< free text, may be empty
  std::string worktree;         ///< absolute worktree path, or empty
  std::uint32_t pid = 0;        ///< owner process, 0 when none
  std::string allocated_by;     ///< "user@host"
  std::int64_t created_at = 0;  ///< seconds since the epoch (UTC)
  std::int64_t expires_at = 0;  ///< lease end in seconds since the epoch; 0 = no lease
};

/// Protocol error codes (portd-protocol(7) "ERRORS") plus three that only
/// the client produces. The numeric values are part of the library's ABI:
/// a new code is appended at the end, never inserted.
enum class ErrorCode : std::uint8_t {
  invalid_request,
  unsupported_version,
  unknown_op,
  port_taken,   ///< the port is allocated; Error::holder() says to whom
  port_in_use,  ///< the OS has the port bound; Error::owner_pid()/owner_command()
  port_reserved,
  key_exists,  ///< the key holds another port; Error::holder() is that allocation
  not_found,
  pool_exhausted,
  frame_too_large,
  permission_denied,
  store_full,
  internal,
  // Client-side codes, never sent by the daemon:
  unavailable,   ///< no daemon answered (autostart off or failed, connection lost)
  bad_response,  ///< the daemon's reply could not be understood
  unknown,       ///< a code this library does not know; see Error::code_name()
  // Daemon codes added later, appended so the values above keep their numbers:
  busy,  ///< the daemon was at its connection limit for the whole connect timeout
};

/// Wire spelling of a code ("port_taken"); client-side codes spell as their
/// enumerator names.
PORTD_CLIENT_API std::string_view to_string(ErrorCode code) noexcept;

/// Every failure of a Client call. what() is the human message.
class PORTD_CLIENT_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  Error(std::string code_name, const std::string& message);

  ErrorCode code() const noexcept { return code_; }
  /// The code as the daemon spelled it (useful when code() is unknown).
  const std::string& code_name() const noexcept { return code_name_; }
  /// The allocation in the way, for port_taken and key_exists.
  const std::optional<Allocation>& holder() const noexcept { return holder_; }
  /// For port_in_use: the process that has the port bound (0 when unknown).
  std::uint32_t owner_pid() const noexcept { return owner_pid_; }
  /// For port_in_use: that process's command name (empty when unknown).
  const std::string& owner_command() const noexcept { return owner_command_; }

  Error& with_holder(Allocation holder);
  Error& with_owner(std::uint32_t pid, std::string command);

 private:
  ErrorCode code_;
  std::string code_name_;
  std::optional<Allocation> holder_;
  std::uint32_t owner_pid_ = 0;
  std::string owner_command_;
};

/// How a Client finds and reaches the daemon.
struct Options {
  /// Socket path; empty means the daemon's default: $PORTD_SOCKET, else
  /// $XDG_RUNTIME_DIR/portd/portd.sock, else /tmp/portd-$UID/portd.sock.
  std::filesystem::path socket_path;
  /// Start portd when nothing answers at the socket. PORTD_NO_AUTOSTART=1 in
  /// the environment turns it off regardless.
  bool autostart = true;
  /// Daemon binary for autostart; empty means: $PORTD_BIN, else `portd` next
  /// to the running executable, else the install bindir, else $PATH.
  std::filesystem::path daemon_path;
  /// Longest wait for connect() to complete; also how long calls keep
  /// retrying, with jittered backoff, while the daemon answers `busy` (at
  /// its connection limit) before they throw Error(busy).
  std::chrono::milliseconds connect_timeout{2000};
  /// Longest wait for one reply once a request is sent.
  std::chrono::milliseconds request_timeout{30000};
  /// Longest wait for an autostarted daemon to answer.
  std::chrono::milliseconds autostart_timeout{5000};
};

/// Fields of an allocate request. app, instance and service are required
/// names: 1-64 characters of [A-Za-z0-9._-].
struct AllocateRequest {
  std::string app;
  std::string instance;
  std::string service;
  std::uint16_t port = 0;   ///< 0 = let the daemon pick one
  std::string pool;         ///< pool to pick from; empty = the service's pool
  std::string description;  ///< free text
  std::string worktree;     ///< absolute worktree path (gc drops the allocation when it is gone)
  std::uint32_t pid = 0;    ///< owner process (gc drops the allocation when it dies); 0 = none
  std::int64_t ttl_seconds = 0;  ///< lease length in seconds; 0 = no lease
  bool replace = false;  ///< move an existing key to `port` instead of failing with key_exists
  bool force = false;    ///< register an explicit port even if the OS has it bound
};

/// Result of allocate.
struct AllocateResult {
  Allocation allocation;
  bool created = false;  ///< false when the key already had this allocation
};

/// One service of allocate_all().
struct ServiceRequest {
  std::string service;
  std::uint16_t port = 0;   ///< 0 = let the daemon pick one
  bool prefer = false;      ///< `port` is a preference: pick another when it is taken
  std::string pool;         ///< empty = the service's pool
  std::string description;  ///< free text
};

/// Every service of one app/instance, for allocate_all().
struct AllocateAllRequest {
  std::string app;
  std::string instance;
  std::string worktree;  ///< absolute worktree path recorded on each allocation
  std::vector<ServiceRequest> services;
};

/// Selects allocations; unset fields match anything; set fields are AND-ed.
struct Filter {
  std::optional<std::uint64_t> id;
  std::optional<std::string> app;
  std::optional<std::string> instance;
  std::optional<std::string> service;
  std::optional<std::uint16_t> port;

  /// True when no field is set.
  bool empty() const noexcept { return !id && !app && !instance && !service && !port; }
};

/// Result of release.
struct ReleaseResult {
  std::uint64_t released = 0;           ///< number of allocations removed
  std::vector<Allocation> allocations;  ///< the removed allocations
};

/// Result of check.
struct CheckResult {
  std::uint16_t port = 0;
  bool available = false;            ///< neither allocated, reserved nor bound by a process
  std::optional<Allocation> holder;  ///< set when the port is allocated
  bool reserved = false;             ///< the port is on the daemon's reserved list
  bool in_use = false;               ///< some process has the port bound
  std::uint32_t pid = 0;             ///< that process, 0 when unknown
  std::string command;               ///< its command name, empty when unknown
};

/// Result of hello.
struct HelloResult {
  std::string server;   ///< "portd"
  std::string version;  ///< daemon version
  std::uint32_t protocol = 0;
  std::uint64_t max_frame = 0;  ///< largest request frame accepted, bytes
  std::uint32_t pid = 0;
};

/// Result of health.
struct HealthResult {
  std::string status;  ///< "ok"
  std::string version;
  std::uint32_t pid = 0;
  std::uint64_t uptime_seconds = 0;
  std::uint64_t allocations = 0;
  std::uint64_t connections = 0;
};

/// Use of one pool.
struct PoolStats {
  std::string name;
  std::uint16_t start = 0;  ///< first port of the range
  std::uint16_t end = 0;    ///< last port of the range (inclusive)
  std::uint64_t size = 0;
  std::uint64_t allocated = 0;
  std::uint64_t free = 0;
  double percent = 0;    ///< allocated / size * 100
  bool warning = false;  ///< the daemon considers the pool nearly full
};

/// Result of stats.
struct StatsResult {
  std::uint64_t allocations = 0;
  std::vector<PoolStats> pools;
};

/// One allocation that gc removed (or would remove).
struct GcEntry {
  Allocation allocation;
  std::string reason;  ///< "worktree_missing", "process_dead" or "lease_expired"
};

/// Result of gc.
struct GcResult {
  bool dry_run = false;
  std::vector<GcEntry> removed;
};

/// Result of export.
struct ExportResult {
  std::uint32_t version = 1;  ///< export format version
  std::string exported_at;    ///< RFC 3339
  std::vector<Allocation> allocations;
};

/// One event of a watch stream.
struct WatchEvent {
  /// "allocated" or "released"; or "overflow": portd dropped the watch
  /// because the caller fell behind in reading (portd-protocol(7) WATCH), so
  /// the events since are lost and `allocation` is empty.
  std::string event;
  Allocation allocation;
};

/// What detect_worktree() found.
struct Worktree {
  std::string app;            ///< sanitised name of the main repository's directory
  std::string instance;       ///< worktree directory name, or branch / short commit id
  std::filesystem::path top;  ///< absolute top directory of the worktree
  bool linked = false;        ///< a `git worktree add` worktree (not the main one)
  /// Top directory of the repository's main worktree (== top unless linked;
  /// empty for a worktree of a bare repository). Files every worktree
  /// shares, such as the .portd.toml manifest, are looked up there.
  std::filesystem::path main_top;
};

/// Finds the git worktree containing `start` without running git: walks up
/// to the first `.git`. A `.git` file pointing into `<common>/worktrees/NAME`
/// is a linked worktree (instance = its directory name, app = the main
/// repository's directory name); a `.git` directory (or a submodule's `.git`
/// file) gives app = directory name, instance = current branch, or the first
/// 7 hex digits of the commit on a detached HEAD. Names are sanitised with
/// sanitize_name(). Returns std::nullopt outside any repository or when the
/// repository metadata cannot be read. Never throws for a missing repository.
PORTD_CLIENT_API std::optional<Worktree> detect_worktree(const std::filesystem::path& start);

/// Makes `raw` a valid name: every character outside [A-Za-z0-9._-] becomes
/// '-', and the result is cut to 64 characters ("feature/auth" ->
/// "feature-auth"). Returns "" for "".
PORTD_CLIENT_API std::string sanitize_name(std::string_view raw);

/// The daemon binary autostart would run (see Options::daemon_path).
/// Throws Error(unavailable) when none is found.
PORTD_CLIENT_API std::filesystem::path find_daemon_binary();

/// A connection to portd. Connects lazily on the first call and keeps the
/// connection for later calls; if it breaks, the next call reconnects.
/// Idempotent requests (reads and allocate) are retried once when the
/// connection closes before the reply. A daemon at its connection limit
/// (`busy`) is retried on new connections with jittered backoff for
/// Options::connect_timeout.
///
/// Every call throws Error: the daemon's error code (e.g. port_taken with
/// holder(); an error the daemon sends with id 0, such as frame_too_large,
/// as it is; a code this library does not know as unknown with code_name()),
/// busy ("portd is busy (N connections); try again") when the daemon stayed
/// at its limit, unavailable when no daemon can be reached or started (the
/// message names the socket and the log file), permission_denied when the
/// socket belongs to another user (nothing is sent), bad_response for
/// replies it cannot parse.
class PORTD_CLIENT_API Client {
 public:
  explicit Client(Options options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// The socket path in use (absolute).
  const std::filesystem::path& socket_path() const noexcept;

  /// Versions and limits of the daemon.
  HelloResult hello();
  /// Liveness and counters of the daemon.
  HealthResult health();
  /// Allocates a port for (app, instance, service). Idempotent on that key:
  /// asking again returns the existing allocation with created == false.
  /// Throws Error(port_taken / key_exists / port_in_use / port_reserved /
  /// pool_exhausted / invalid_request).
  AllocateResult allocate(const AllocateRequest& request);
  /// Allocates every service of `request` in one daemon transaction, or
  /// none: results in request order; idempotent like allocate(). Throws the
  /// first failure's Error (port_taken / key_exists / port_in_use for a
  /// port without `prefer`, pool_exhausted, invalid_request) with nothing
  /// allocated. See portd-protocol(7) "allocate_all".
  std::vector<AllocateResult> allocate_all(const AllocateAllRequest& request);
  /// Releases one allocation by id. Throws Error(not_found).
  ReleaseResult release(std::uint64_t id);
  /// Releases every allocation matching `filter`, which must set at least one
  /// field (Error(invalid_request) otherwise: release never deletes all).
  ReleaseResult release(const Filter& filter);
  /// Allocations matching `filter` (all for an empty filter), ordered by id.
  std::vector<Allocation> list(const Filter& filter = {});
  /// Whether `port` (1-65535) could be allocated, and who holds it if not.
  CheckResult check(std::uint16_t port);
  /// Per-pool use.
  StatsResult stats();
  /// Removes allocations whose worktree is gone, whose owner pid is dead or
  /// whose lease expired; with `dry_run` only reports them.
  GcResult gc(bool dry_run);
  /// Every allocation, as a portable document.
  ExportResult export_allocations();
  /// Loads allocations (keys, ports and metadata as given; the daemon
  /// assigns ids). With `replace`, allocations in the way are overwritten.
  /// Returns how many were imported. Throws Error(key_exists / port_taken)
  /// on conflicts without `replace`.
  std::uint64_t import_allocations(const std::vector<Allocation>& allocations, bool replace);
  /// Streams allocation events on a dedicated connection, calling
  /// `on_event` for each until it returns false. After an "overflow" event
  /// for which `on_event` returns true, watches again on a new connection
  /// (list() tells what was missed). Throws Error(unavailable) when the
  /// daemon closes the stream otherwise.
  void watch(const std::function<bool(const WatchEvent&)>& on_event);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portd::client
