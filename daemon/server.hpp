// The portd server: the libuv loop around the registry. Requests decoded
// in one loop iteration form one batch that runs in one LMDB transaction
// and is committed once (group commit) before any of its replies is sent.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "activation.hpp"
#include "config/config.hpp"
#include "gather.hpp"
#include "ops.hpp"
#include "proto/codec.hpp"
#include "registry/registry.hpp"
#include "store/store.hpp"

namespace portd::daemon {

class Connection;

struct ServerOptions {
  Config config;
  std::filesystem::path config_path;   ///< reread on SIGHUP
  std::int64_t idle_exit_seconds = 0;  ///< 0 = never
};

class Server {
 public:
  /// Takes over `listener`. `store` and `registry` must outlive the server.
  Server(store::Store& store, Registry& registry, Listener listener, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves until SIGTERM/SIGINT or idle exit. Returns the exit status.
  int run();

  // Called by connections.
  uv_loop_t* loop() noexcept { return &loop_; }
  const Config& config() const noexcept { return options_.config; }
  /// Queues a decoded request (or the error decoding it) for this iteration's batch.
  void enqueue(Connection& conn, proto::Request request);
  void enqueue_error(Connection& conn, std::uint64_t request_id, const Error& error, bool fatal);
  /// Called once a connection's close has started.
  void forget(Connection& conn);

 private:
  struct Pending {
    std::uint64_t conn_id;
    std::optional<proto::Request> request;
    std::optional<Error> error;  ///< decode error to report instead
    std::uint64_t error_id = 0;
    bool fatal = false;
    /// Left for a later batch: its connection's output is backlogged.
    bool deferred = false;
  };

  static void on_connection(uv_stream_t* listener, int status);
  static void on_check(uv_check_t* h);
  static void on_signal(uv_signal_t* h, int signum);
  static void on_idle_timer(uv_timer_t* t);
  static void on_sweep_timer(uv_timer_t* t);
  static void on_drain_timer(uv_timer_t* t);

  void accept_one();
  void process_batch();
  /// True when some queued request can run now (its connection is gone or
  /// not backlogged), so the loop must not sleep.
  bool any_runnable() const;
  /// How many connections have a mutation in `list` (not deferred; with
  /// `runnable_only`, only connections that are open and not backlogged).
  std::size_t writers_in(const std::vector<Pending>& list, bool runnable_only) const;
  enum class BatchResult { done, map_full, disk_full, write_failed };
  /// Runs the batch in one txn. With `refuse` set, its mutations are
  /// answered with that error instead of run. Anything but `done` means
  /// nothing was committed and every reply of the batch was taken back.
  BatchResult run_batch(std::vector<Pending>& batch, const std::optional<Error>& refuse,
                        std::int64_t now, std::vector<Event>& events, std::string& failure);
  void publish(const std::vector<Event>& events);
  void stop(const char* why);
  void reload_config();
  void update_idle_timer();
  Connection* find(std::uint64_t id) noexcept;

  uv_loop_t loop_{};
  uv_pipe_t listener_{};
  uv_check_t check_{};
  // Active while requests wait: keeps the next poll from blocking, so that
  // requests queued outside a read callback still run at once.
  uv_idle_t wake_{};
  uv_signal_t sigterm_{}, sigint_{}, sighup_{};
  uv_timer_t idle_timer_{}, sweep_timer_{};
  uv_timer_t drain_timer_{};  ///< bounds the wait for clients at shutdown
  store::Store* store_;
  Registry* registry_;
  Listener listener_info_;
  ServerOptions options_;
  ServerInfo info_;
  std::unordered_map<std::uint64_t, Connection*> connections_;
  std::vector<Pending> pending_;
  std::vector<Pending> spare_;  ///< empty; storage reused by the next batch
  CommitGather gather_;
  std::uint64_t next_conn_id_ = 1;
  bool stopping_ = false;
  bool listener_open_ = false;
  /// This batch's allocate/import requests are refused: the map's headroom
  /// for releases is reached (portd.toml(5), max_map_size_mib).
  bool refuse_adds_ = false;
};

}  // namespace portd::daemon
