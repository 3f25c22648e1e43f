#include "proto/ops/watch.hpp"

#include "proto/read.hpp"

namespace portd::proto {

void encode_watch_reply(std::string& out, std::uint64_t id) {
  encode_ok(out, id, [&](MapWriter& m) { m.num("watching", true); });
}

void encode_watch_event(std::string& out, std::uint64_t id, const WatchEvent& event) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.str("event", event.event);
    if (event.allocation) {
      m.value("allocation", [&](Packer& pk) { pack_allocation(pk, *event.allocation); });
    }
  });
}

WatchEvent decode_watch_event(const Response& r) {
  WatchEvent out;
  out.event = std::string(read_or_zero(r.find("event"), "event", as_string));
  // overflow is the last frame and carries no allocation.
  if (out.event == "overflow") return out;
  const msgpack::object* a = present(r.find("allocation"));
  if (!a) fail("field 'allocation' is required");
  out.allocation = unpack_allocation(*a);
  return out;
}

}  // namespace portd::proto
