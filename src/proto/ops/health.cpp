#include "proto/ops/health.hpp"

#include "proto/read.hpp"

namespace portd::proto {
namespace {

std::string text(const Response& r, std::string_view key) {
  return std::string(read_or_zero(r.find(key), key, as_string));
}

std::uint64_t number(const Response& r, std::string_view key) {
  return read_or_zero(r.find(key), key, as_uint);
}

}  // namespace

void encode_hello_reply(std::string& out, std::uint64_t id, const HelloReply& reply) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.str("server", reply.server);
    m.str("version", reply.version);
    m.num("protocol", reply.protocol);
    m.num("max_frame", reply.max_frame);
    m.num("pid", reply.pid);
  });
}

HelloReply decode_hello_reply(const Response& r) {
  HelloReply out;
  out.server = text(r, "server");
  out.version = text(r, "version");
  out.protocol = static_cast<std::uint32_t>(number(r, "protocol"));
  out.max_frame = number(r, "max_frame");
  out.pid = static_cast<std::uint32_t>(number(r, "pid"));
  return out;
}

void encode_health_reply(std::string& out, std::uint64_t id, const HealthReply& reply) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.str("status", reply.status);
    m.str("version", reply.version);
    m.num("pid", reply.pid);
    m.num("uptime_seconds", reply.uptime_seconds);
    m.num("allocations", reply.allocations);
    m.num("connections", reply.connections);
  });
}

HealthReply decode_health_reply(const Response& r) {
  HealthReply out;
  out.status = text(r, "status");
  out.version = text(r, "version");
  out.pid = static_cast<std::uint32_t>(number(r, "pid"));
  out.uptime_seconds = static_cast<std::int64_t>(number(r, "uptime_seconds"));
  out.allocations = number(r, "allocations");
  out.connections = number(r, "connections");
  return out;
}

}  // namespace portd::proto
