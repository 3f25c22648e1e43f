#include "proto/ops/list.hpp"

#include "model/validate.hpp"
#include "proto/read.hpp"

namespace portd::proto {

void read_filter(const Fields& f, Filter& filter) {
  if (const auto* o = f[Key::allocation_id]) filter.id = as_uint(*o, "allocation_id");
  if (const auto* o = f[Key::app]) filter.app = std::string(as_utf8(*o, "app"));
  if (const auto* o = f[Key::instance]) filter.instance = std::string(as_utf8(*o, "instance"));
  if (const auto* o = f[Key::service]) filter.service = std::string(as_utf8(*o, "service"));
  if (const auto* o = f[Key::port]) filter.port = as_port(*o, "port");
  validate_filter(filter);
}

void add_filter(MapWriter& m, const Filter& f) {
  if (f.id) m.num("allocation_id", *f.id);
  if (f.app) m.str("app", *f.app);
  if (f.instance) m.str("instance", *f.instance);
  if (f.service) m.str("service", *f.service);
  if (f.port) m.num("port", *f.port);
}

void encode_list_reply(std::string& out, std::uint64_t id,
                       const std::vector<Allocation>& allocations) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.value("allocations", [&](Packer& pk) { pack_allocations(pk, allocations); });
  });
}

std::vector<Allocation> decode_list_reply(const Response& r) {
  return unpack_allocations(r.find("allocations"), "allocations");
}

}  // namespace portd::proto
