// Op handlers: one function per protocol op (portd-protocol(7) "OPS"),
// each in daemon/ops/<op>.cpp, reached through dispatch().
#pragma once

#include <cstdint>
#include <string>

#include "proto/codec.hpp"
#include "registry/registry.hpp"

namespace portd::daemon {

class Connection;

/// Facts about the running daemon that hello/health report.
struct ServerInfo {
  std::int64_t started_at = 0;  ///< UTC seconds
  std::size_t max_frame = 0;    ///< bytes
  std::size_t connections = 0;
  std::string allocated_by;  ///< "user@host" stamped on new allocations
};

/// Everything a handler may touch. `batch` is null for ops that need no
/// store (hello, health, watch). `conn` is null when the requesting
/// connection has gone; the handler still runs (allocate is idempotent, so
/// a client that retries gets the same result).
struct OpContext {
  const proto::Request& request;
  Registry& registry;
  Batch* batch;
  const ServerInfo& info;
  Connection* conn;
  std::int64_t now;  ///< UTC seconds, one reading per batch
  std::string& out;  ///< the response frame is appended here
};

/// True when the op reads or writes the store (so the batch needs a txn).
bool needs_store(proto::Op op) noexcept;

/// Runs the handler for ctx.request.op, appending one response frame.
/// Handlers throw portd::Error for the caller to encode as an error reply.
void dispatch(OpContext& ctx);

void op_allocate(OpContext& ctx);
void op_allocate_all(OpContext& ctx);
void op_check(OpContext& ctx);
void op_export(OpContext& ctx);
void op_gc(OpContext& ctx);
void op_health(OpContext& ctx);
void op_hello(OpContext& ctx);
void op_import(OpContext& ctx);
void op_list(OpContext& ctx);
void op_release(OpContext& ctx);
void op_stats(OpContext& ctx);
void op_watch(OpContext& ctx);

}  // namespace portd::daemon
