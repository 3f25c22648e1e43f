// libFuzzer target: decode_request on raw bytes. Whatever decodes must
// survive encode_request -> decode_request unchanged, and encoding must be
// stable (encode(decode(encode(r))) == encode(r)).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "model/error.hpp"
#include "proto/codec.hpp"
#include "proto/frame.hpp"

namespace {

using namespace portd;
using namespace portd::proto;

void check(bool ok) {
  if (!ok) std::abort();
}

bool same_filter(const Filter& a, const Filter& b) {
  return a.id == b.id && a.app == b.app && a.instance == b.instance && a.service == b.service &&
         a.port == b.port;
}

bool same(const Request& a, const Request& b) {
  return a.id == b.id && a.version == b.version && a.op == b.op && a.key == b.key &&
         a.port == b.port && a.pool == b.pool && a.description == b.description &&
         a.worktree == b.worktree && a.pid == b.pid && a.ttl_seconds == b.ttl_seconds &&
         a.replace == b.replace && a.force == b.force && same_filter(a.filter, b.filter) &&
         a.dry_run == b.dry_run && a.records == b.records;
}

std::string encode(const Request& r) {
  std::string out;
  encode_request(out, r);
  check(out.size() >= kFrameHeaderSize &&
        read_frame_header(out.data()) == out.size() - kFrameHeaderSize);
  return out.substr(kFrameHeaderSize);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  Request first;
  try {
    first = decode_request(payload);
  } catch (const DecodeError& e) {
    // A rejected request must say so in a code a client understands.
    check(e.code() == ErrorCode::invalid_request || e.code() == ErrorCode::unknown_op ||
          e.code() == ErrorCode::unsupported_version);
    return 0;
  }
  const std::string encoded = encode(first);
  Request second;
  try {
    second = decode_request(encoded);
  } catch (const DecodeError&) {
    std::abort();  // we produced something we refuse to read
  }
  check(same(first, second));
  check(encode(second) == encoded);
  return 0;
}
