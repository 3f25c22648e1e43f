#include <optional>
#include <typeinfo>

#include <fmt/format.h>

#include "lib/autostart.hpp"
#include "lib/convert.hpp"
#include "lib/retry.hpp"
#include "lib/transport.hpp"
#include "paths/paths.hpp"
#include "portd/client.hpp"
#include "proto/codec.hpp"
#include "proto/ops/allocate.hpp"
#include "proto/ops/check.hpp"
#include "proto/ops/gc.hpp"
#include "proto/ops/health.hpp"
#include "proto/ops/list.hpp"
#include "proto/ops/release.hpp"
#include "proto/ops/stats.hpp"
#include "proto/ops/transfer.hpp"
#include "proto/ops/watch.hpp"

namespace portd::client {
namespace {

using detail::Clock;

std::filesystem::path resolve_socket(const Options& options) {
  std::filesystem::path p = options.socket_path;
  if (p.empty()) {
    try {
      p = default_socket_path();
    } catch (const portd::Error& e) {
      throw detail::to_client_error(e);
    }
  }
  // Absolute, so that an autostarted daemon (which runs in /) binds the same path.
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal();
}

}  // namespace

// Hidden: Impl's members would otherwise inherit Client's default visibility.
struct __attribute__((visibility("hidden"))) Client::Impl {
  Options options;
  std::filesystem::path socket;
  std::optional<detail::Connection> conn;
  std::uint64_t next_id = 1;

  explicit Impl(Options o) : options(std::move(o)), socket(resolve_socket(options)) {}

  detail::Connection& connection() {
    if (!conn) conn.emplace(detail::connect_daemon(socket, options), socket);
    return *conn;
  }

  // Sends `request` and hands the successful reply to `convert`. Retries
  // once on a fresh connection when the daemon closed the connection before
  // replying, if the request is `idempotent` or was not sent at all; `busy`
  // is retried on fresh connections for options.connect_timeout.
  template <class F>
  auto call(proto::Request& request, bool idempotent, F&& convert) {
    detail::BusyRetry busy(options.connect_timeout);
    for (int lost_retries = 0;;) {
      detail::Connection& c = connection();
      request.id = next_id++;
      std::string frame;
      proto::encode_request(frame, request);
      try {
        proto::Response response =
            detail::exchange(c, frame, Clock::now() + options.request_timeout);
        if (!response.ok && !response.error) {
          throw Error(ErrorCode::bad_response, "portd failed without an error");
        }
        if (!response.ok && response.id == 0) {
          // Id 0: the daemon answers the connection, not a request (busy,
          // framing errors), and closes it.
          conn.reset();
          if (response.error->code() == portd::ErrorCode::busy) {
            busy.wait(*response.error);
            continue;
          }
          throw detail::to_client_error(*response.error);
        }
        if (response.id != request.id) {
          conn.reset();
          throw Error(ErrorCode::bad_response,
                      fmt::format("failed to read portd's reply: id {} answers request {}",
                                  response.id, request.id));
        }
        if (!response.ok) {
          // The daemon closes the connection after an oversized frame.
          if (response.error->code() == portd::ErrorCode::frame_too_large) conn.reset();
          throw detail::to_client_error(*response.error);
        }
        return convert(response);
      } catch (const detail::ConnectionLost& lost) {
        conn.reset();
        if (lost_retries++ > 0 || !(idempotent || lost.nothing_sent())) {
          throw Error(ErrorCode::unavailable, lost.what());
        }
      } catch (const Error& e) {
        // After a timeout or a garbled reply the stream position is unknown.
        if (e.code() == ErrorCode::unavailable || e.code() == ErrorCode::bad_response) conn.reset();
        throw;
      } catch (const portd::Error& e) {
        conn.reset();
        // The codec rejected the reply (or the request: a name too long to encode).
        throw Error(ErrorCode::bad_response,
                    fmt::format("failed to read portd's reply: {}", e.what()));
      } catch (const std::bad_cast& e) {
        conn.reset();
        throw Error(ErrorCode::bad_response,
                    fmt::format("failed to read portd's reply: {}", e.what()));
      }
    }
  }

  static proto::Request make(proto::Op op) {
    proto::Request r;
    r.op = op;
    return r;
  }
};

Client::Client(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const std::filesystem::path& Client::socket_path() const noexcept {
  return impl_->socket;
}

HelloResult Client::hello() {
  auto req = Impl::make(proto::Op::hello);
  return impl_->call(req, true, [](const proto::Response& r) {
    proto::HelloReply h = proto::decode_hello_reply(r);
    return HelloResult{std::move(h.server), std::move(h.version), h.protocol, h.max_frame, h.pid};
  });
}

HealthResult Client::health() {
  auto req = Impl::make(proto::Op::health);
  return impl_->call(req, true, [](const proto::Response& r) {
    proto::HealthReply h = proto::decode_health_reply(r);
    return HealthResult{std::move(h.status),
                        std::move(h.version),
                        h.pid,
                        static_cast<std::uint64_t>(h.uptime_seconds),
                        h.allocations,
                        h.connections};
  });
}

AllocateResult Client::allocate(const AllocateRequest& a) {
  auto req = Impl::make(proto::Op::allocate);
  static_cast<portd::AllocateRequest&>(req) = detail::to_model(a);
  // Idempotent on its key: a retry after a lost reply returns the same port.
  return impl_->call(req, true, [](const proto::Response& r) {
    portd::AllocateResult a = proto::decode_allocate_reply(r);
    return AllocateResult{detail::to_public(a.allocation), a.created};
  });
}

std::vector<AllocateResult> Client::allocate_all(const AllocateAllRequest& a) {
  proto::Request req = detail::to_model(a);
  return impl_->call(req, true, [](const proto::Response& r) {
    std::vector<AllocateResult> out;
    for (const portd::AllocateResult& x : proto::decode_allocate_all_reply(r)) {
      out.push_back({detail::to_public(x.allocation), x.created});
    }
    return out;
  });
}

namespace {
ReleaseResult read_release(const proto::Response& r) {
  proto::ReleaseReply reply = proto::decode_release_reply(r);
  ReleaseResult out;
  out.released = reply.released;
  for (const auto& a : reply.allocations) out.allocations.push_back(detail::to_public(a));
  return out;
}
}  // namespace

ReleaseResult Client::release(std::uint64_t id) {
  auto req = Impl::make(proto::Op::release);
  req.filter.id = id;
  return impl_->call(req, false, read_release);
}

ReleaseResult Client::release(const Filter& filter) {
  if (filter.empty()) {
    throw Error(ErrorCode::invalid_request,
                "failed to release allocations: give at least one filter field");
  }
  auto req = Impl::make(proto::Op::release);
  req.filter = detail::to_model(filter);
  return impl_->call(req, false, read_release);
}

std::vector<Allocation> Client::list(const Filter& filter) {
  auto req = Impl::make(proto::Op::list);
  req.filter = detail::to_model(filter);
  return impl_->call(req, true, [](const proto::Response& r) {
    std::vector<Allocation> out;
    for (const auto& a : proto::decode_list_reply(r)) out.push_back(detail::to_public(a));
    return out;
  });
}

CheckResult Client::check(std::uint16_t port) {
  auto req = Impl::make(proto::Op::check);
  req.port = port;
  return impl_->call(req, true, [](const proto::Response& r) {
    proto::CheckReply c = proto::decode_check_reply(r);
    CheckResult out;
    out.port = c.port;
    out.available = c.available;
    if (c.holder) out.holder = detail::to_public(*c.holder);
    out.reserved = c.reserved;
    out.in_use = c.in_use;
    out.pid = c.pid;
    out.command = std::move(c.command);
    return out;
  });
}

StatsResult Client::stats() {
  auto req = Impl::make(proto::Op::stats);
  return impl_->call(req, true, [](const proto::Response& r) {
    proto::StatsReply reply = proto::decode_stats_reply(r);
    StatsResult out;
    out.allocations = reply.allocations;
    for (proto::PoolReply& p : reply.pools) {
      out.pools.push_back(
          {std::move(p.name), p.start, p.end, p.size, p.allocated, p.free, p.percent, p.warning});
    }
    return out;
  });
}

GcResult Client::gc(bool dry_run) {
  auto req = Impl::make(proto::Op::gc);
  req.dry_run = dry_run;
  return impl_->call(req, dry_run, [](const proto::Response& r) {
    proto::GcReply reply = proto::decode_gc_reply(r);
    GcResult out;
    out.dry_run = reply.dry_run;
    for (proto::GcRemoved& e : reply.removed) {
      out.removed.push_back({detail::to_public(e.allocation), std::move(e.reason)});
    }
    return out;
  });
}

ExportResult Client::export_allocations() {
  auto req = Impl::make(proto::Op::export_);
  return impl_->call(req, true, [](const proto::Response& r) {
    proto::ExportReply reply = proto::decode_export_reply(r);
    ExportResult out;
    out.version = reply.version;
    out.exported_at = std::move(reply.exported_at);
    for (const auto& a : reply.allocations) out.allocations.push_back(detail::to_public(a));
    return out;
  });
}

std::uint64_t Client::import_allocations(const std::vector<Allocation>& allocations, bool replace) {
  auto req = Impl::make(proto::Op::import);
  req.records.reserve(allocations.size());
  for (const auto& a : allocations) req.records.push_back(detail::to_model(a));
  req.replace = replace;
  return impl_->call(req, false, proto::decode_import_reply);
}

namespace {

// Answer of one watch connection: the caller stopped, or portd dropped the
// watch (event `overflow`, portd-protocol(7) WATCH) and the caller, told of
// it, wants to go on.
enum class WatchEnd { stopped, overflowed };

WatchEnd watch_once(detail::Connection& c, std::uint64_t id, std::chrono::milliseconds timeout,
                    const std::filesystem::path& socket,
                    const std::function<bool(const WatchEvent&)>& on_event) {
  proto::Request req;
  req.op = proto::Op::watch;
  req.id = id;
  std::string frame;
  proto::encode_request(frame, req);
  try {
    auto deadline = Clock::now() + timeout;
    c.send_all(frame, deadline);
    bool first = true;
    for (;;) {
      std::string_view payload = c.read_frame(first ? &deadline : nullptr);
      proto::Response r = proto::decode_response(payload);
      // Id 0 answers the connection itself (busy, framing errors).
      if (!r.ok && r.id == 0 && r.error) throw detail::to_client_error(*r.error);
      if (r.id != req.id) {
        throw Error(
            ErrorCode::bad_response,
            fmt::format("failed to read portd's reply: id {} answers request {}", r.id, req.id));
      }
      if (!r.ok) {
        if (!r.error) throw Error(ErrorCode::bad_response, "portd failed without an error");
        throw detail::to_client_error(*r.error);
      }
      if (first) {
        first = false;
        continue;  // {"watching": true}
      }
      proto::WatchEvent e = proto::decode_watch_event(r);
      WatchEvent ev;
      ev.event = std::move(e.event);
      if (!e.allocation) {
        // overflow: the daemon sends nothing more and closes this connection.
        return on_event(ev) ? WatchEnd::overflowed : WatchEnd::stopped;
      }
      ev.allocation = detail::to_public(*e.allocation);
      if (!on_event(ev)) return WatchEnd::stopped;
    }
  } catch (const detail::ConnectionLost&) {
    throw Error(ErrorCode::unavailable,
                fmt::format("portd closed the watch stream on '{}'", socket.string()));
  } catch (const portd::Error& e) {
    throw Error(ErrorCode::bad_response, fmt::format("failed to read portd's reply: {}", e.what()));
  }
}

}  // namespace

void Client::watch(const std::function<bool(const WatchEvent&)>& on_event) {
  for (;;) {
    // A watch stream occupies its connection, so it gets its own.
    detail::Connection c(detail::connect_daemon(impl_->socket, impl_->options), impl_->socket);
    if (watch_once(c, impl_->next_id++, impl_->options.request_timeout, impl_->socket, on_event) ==
        WatchEnd::stopped) {
      return;
    }
  }
}

}  // namespace portd::client
