// Length-prefixed framing: a 4-byte big-endian unsigned length N, then N
// bytes of payload (portd-protocol(7) "FRAMING").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace portd::proto {

/// Size of the length prefix, in bytes.
inline constexpr std::size_t kFrameHeaderSize = 4;
/// Default largest request payload the daemon accepts, in bytes (1 MiB).
inline constexpr std::size_t kDefaultMaxFrame = 1u << 20;
/// Largest response payload a client accepts, in bytes (64 MiB).
inline constexpr std::size_t kMaxResponseFrame = 64u << 20;

/// Incremental decoder that accepts bytes in any chunking: one byte at a
/// time, or many frames in one read. The length is checked against the limit
/// before any payload is buffered, so a hostile length allocates nothing.
class FrameDecoder {
 public:
  /// `max_frame`: largest payload accepted, in bytes (>= 1).
  explicit FrameDecoder(std::size_t max_frame = kDefaultMaxFrame);

  /// Returns writable space of at least `hint` bytes at the end of the
  /// buffer (for a read callback to fill without a copy); then call commit().
  std::span<char> prepare(std::size_t hint);
  /// Marks `n` bytes of the span from prepare() as received.
  void commit(std::size_t n);
  /// Appends received bytes (copying variant of prepare()+commit()).
  void feed(std::string_view bytes);

  /// The next complete payload, or std::nullopt when more bytes are needed.
  /// The view stays valid until the next prepare(), feed() or next() call.
  /// Throws Error(frame_too_large) when a length exceeds the limit and
  /// Error(invalid_request) for a zero length; the stream cannot be resynced
  /// after either, so the caller closes the connection.
  std::optional<std::string_view> next();

  /// Bytes received but not yet returned by next().
  std::size_t buffered() const noexcept { return end_ - begin_; }
  /// True when a frame has started but not completed (a peer that closes now
  /// closed mid-frame).
  bool mid_frame() const noexcept { return buffered() > 0; }
  std::size_t max_frame() const noexcept { return max_frame_; }

 private:
  std::string buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t max_frame_;
};

/// Appends the 4-byte big-endian prefix for a `length`-byte payload to `out`.
void append_frame_header(std::string& out, std::uint32_t length);

/// Overwrites the 4 bytes at `out[offset]` with the big-endian `length`
/// (for encoders that reserve the header and fill it in after the payload).
void patch_frame_header(std::string& out, std::size_t offset, std::uint32_t length);

/// Reads a big-endian u32 from 4 bytes.
std::uint32_t read_frame_header(const char* p) noexcept;

}  // namespace portd::proto
