// Where every encoder of portd's protocol writes: a msgpack packer appending
// to a std::string, and the frame (length prefix + payload) around it
// (portd-protocol(7) "FRAMING").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

namespace portd::proto {

/// The packer type every encoder here writes with.
class FrameSink;
using Packer = msgpack::packer<FrameSink>;

/// Appends to a std::string; msgpack's packer writes through it.
class FrameSink {
 public:
  explicit FrameSink(std::string& out) : out_(&out) {}
  void write(const char* data, std::size_t n) { out_->append(data, n); }

 private:
  std::string* out_;
};

/// Builds one frame at the end of `out`: reserves the length prefix on
/// construction; finish() fills it in.
class FrameWriter {
 public:
  explicit FrameWriter(std::string& out);
  Packer& packer() noexcept { return packer_; }
  /// Completes the frame; call exactly once. Throws Error(internal) when
  /// the payload does not fit a 32-bit length.
  void finish();

 private:
  std::string* out_;
  std::size_t start_;
  FrameSink sink_;
  Packer packer_;
};

/// Packs a string-keyed field name.
inline void pack_key(Packer& pk, std::string_view key) {
  pk.pack_str(static_cast<uint32_t>(key.size()))
      .pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
}
/// Packs a string value.
inline void pack_string(Packer& pk, std::string_view s) {
  pack_key(pk, s);
}

}  // namespace portd::proto
