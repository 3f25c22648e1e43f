#include "proto/ops/release.hpp"

#include "proto/ops/list.hpp"
#include "proto/read.hpp"

namespace portd::proto {

void read_release(const Fields& f, Request& r) {
  read_filter(f, r.filter);
  if (r.filter.empty()) {
    fail("release needs allocation_id or at least one of app, instance, service, port");
  }
}

void encode_release_reply(std::string& out, std::uint64_t id,
                          const std::vector<Allocation>& released) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.num("released", std::uint64_t{released.size()});
    m.value("allocations", [&](Packer& pk) { pack_allocations(pk, released); });
  });
}

ReleaseReply decode_release_reply(const Response& r) {
  ReleaseReply out;
  out.released = read_or_zero(r.find("released"), "released", as_uint);
  out.allocations = unpack_allocations(r.find("allocations"), "allocations");
  return out;
}

}  // namespace portd::proto
