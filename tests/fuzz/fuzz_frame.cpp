// libFuzzer target: a byte stream cut into arbitrary chunks goes through
// FrameDecoder (alternating the feed() and prepare()/commit() paths), and
// every frame through decode_request and decode_response.
//
// Input layout: byte 0 seeds the chunk sizes, byte 1 picks the frame limit
// (0: the 1 MiB default, else 16 * byte), the rest is the stream.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

void decode_frame(std::string_view payload, std::size_t max_frame) {
  check(!payload.empty() && payload.size() <= max_frame);
  try {
    Request r = decode_request(payload);
    check(r.version >= 1 && r.version <= kProtocolVersion);
  } catch (const DecodeError&) {
    // Expected for most inputs; anything else escaping is a bug.
  }
  try {
    Response r = decode_response(payload);
    check(r.ok || r.error.has_value());
  } catch (const Error& e) {
    check(e.code() == ErrorCode::invalid_request);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::uint32_t rng = data[0] * 2654435761u + 1;
  const std::size_t max_frame = data[1] == 0 ? kDefaultMaxFrame : std::size_t{data[1]} * 16;
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  FrameDecoder decoder(max_frame);
  std::size_t pos = 0;
  while (pos < stream.size()) {
    rng = rng * 1103515245u + 12345u;
    // Mostly small chunks (many boundaries), sometimes a large read.
    std::size_t n = (rng >> 16) % 8 == 0 ? (rng >> 8) % 4096 : (rng >> 16) % 17;
    n = std::min(n, stream.size() - pos);
    if ((rng >> 4) & 1) {
      decoder.feed(stream.substr(pos, n));
    } else {
      std::span<char> space = decoder.prepare(n);
      check(space.size() >= n);
      std::memcpy(space.data(), stream.data() + pos, n);
      decoder.commit(n);
    }
    pos += n;
    // The buffer holds at most one partial frame plus the latest chunk.
    check(decoder.buffered() <= kFrameHeaderSize + max_frame + n);
    try {
      while (auto payload = decoder.next()) decode_frame(*payload, max_frame);
    } catch (const Error& e) {
      // A bad length ends the stream, as the daemon closes the connection.
      check(e.code() == ErrorCode::frame_too_large || e.code() == ErrorCode::invalid_request);
      return 0;
    }
  }
  return 0;
}
