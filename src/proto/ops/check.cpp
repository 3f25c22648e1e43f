#include "proto/ops/check.hpp"

#include "proto/read.hpp"

namespace portd::proto {

void read_check(const Fields& f, Request& r) {
  if (!f[Key::port]) fail("field 'port' is required");
  r.port = as_port(*f[Key::port], "port");
}

void add_check(MapWriter& m, const Request& r) {
  m.num("port", r.port);
}

void encode_check_reply(std::string& out, std::uint64_t id, const CheckReply& reply) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.num("port", reply.port);
    m.num("available", reply.available);
    m.num("reserved", reply.reserved);
    m.num("in_use", reply.in_use);
    if (reply.holder) {
      m.value("holder", [&](Packer& pk) { pack_allocation(pk, *reply.holder); });
    }
    // The OS may name a command without a pid we can see; send only what is known.
    if (reply.pid != 0) {
      m.num("pid", reply.pid);
      m.str("command", reply.command);
    }
  });
}

CheckReply decode_check_reply(const Response& r) {
  CheckReply out;
  out.port = read_or_zero(r.find("port"), "port", as_uint16);
  out.available = read_or_zero(r.find("available"), "available", as_bool);
  out.reserved = read_or_zero(r.find("reserved"), "reserved", as_bool);
  out.in_use = read_or_zero(r.find("in_use"), "in_use", as_bool);
  if (const auto* h = present(r.find("holder"))) out.holder = unpack_allocation(*h);
  out.pid = static_cast<std::uint32_t>(read_or_zero(r.find("pid"), "pid", as_uint));
  out.command = std::string(read_or_zero(r.find("command"), "command", as_string));
  return out;
}

}  // namespace portd::proto
