#include "proto/frame.hpp"

#include <cassert>
#include <cstring>

#include <fmt/format.h>

#include "model/error.hpp"

namespace portd::proto {
namespace {

// An idle connection that once received a large frame should not keep a
// megabyte buffer around for its lifetime: past this size an empty buffer is
// released on the next prepare()/feed().
constexpr std::size_t kKeepBufferBytes = 256u << 10;

}  // namespace

FrameDecoder::FrameDecoder(std::size_t max_frame) : max_frame_(max_frame == 0 ? 1 : max_frame) {}

std::span<char> FrameDecoder::prepare(std::size_t hint) {
  if (begin_ == end_) {
    // Everything handed out by next() has been consumed: start over at the
    // front, which keeps the steady state of small pipelined requests free
    // of memmove and reallocation.
    begin_ = end_ = 0;
    if (buf_.size() > kKeepBufferBytes && buf_.size() > 2 * hint) {
      std::string().swap(buf_);
    }
  }
  if (buf_.size() - end_ < hint) {
    if (begin_ > 0) {
      // Compact: the consumed prefix is dead, so the buffer never holds more
      // than one partial frame plus the bytes of the current read.
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < hint) {
      // Size (not capacity) is the usable space: resizing once zero-fills,
      // later reads reuse the bytes without touching them again.
      buf_.resize(end_ + hint);
    }
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void FrameDecoder::commit(std::size_t n) {
  assert(n <= buf_.size() - end_);
  end_ += n;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  std::span<char> space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::optional<std::string_view> FrameDecoder::next() {
  const std::size_t have = end_ - begin_;
  if (have < kFrameHeaderSize) return std::nullopt;
  const std::uint32_t length = read_frame_header(buf_.data() + begin_);
  // Both checks run as soon as the header is complete, before the caller has
  // any reason to read (and buffer) the payload it announces.
  if (length == 0) throw Error(ErrorCode::invalid_request, "empty frame");
  if (length > max_frame_) {
    throw Error(ErrorCode::frame_too_large,
                fmt::format("frame of {} bytes exceeds the limit of {} bytes", length, max_frame_));
  }
  if (have - kFrameHeaderSize < length) return std::nullopt;
  std::string_view payload(buf_.data() + begin_ + kFrameHeaderSize, length);
  begin_ += kFrameHeaderSize + length;
  return payload;
}

void append_frame_header(std::string& out, std::uint32_t length) {
  const char header[kFrameHeaderSize] = {
      static_cast<char>(length >> 24),
      static_cast<char>(length >> 16),
      static_cast<char>(length >> 8),
      static_cast<char>(length),
  };
  out.append(header, kFrameHeaderSize);
}

void patch_frame_header(std::string& out, std::size_t offset, std::uint32_t length) {
  assert(offset + kFrameHeaderSize <= out.size());
  out[offset] = static_cast<char>(length >> 24);
  out[offset + 1] = static_cast<char>(length >> 16);
  out[offset + 2] = static_cast<char>(length >> 8);
  out[offset + 3] = static_cast<char>(length);
}

std::uint32_t read_frame_header(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

}  // namespace portd::proto
