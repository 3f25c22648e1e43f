#include "proto/sink.hpp"

#include <limits>

#include <fmt/format.h>

#include "model/error.hpp"
#include "proto/frame.hpp"

namespace portd::proto {

FrameWriter::FrameWriter(std::string& out)
    : out_(&out), start_(out.size()), sink_(out), packer_(sink_) {
  out.append(kFrameHeaderSize, '\0');
}

void FrameWriter::finish() {
  const std::size_t payload = out_->size() - start_ - kFrameHeaderSize;
  if (payload > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(ErrorCode::internal,
                fmt::format("failed to encode message: {} bytes do not fit in a frame", payload));
  }
  patch_frame_header(*out_, start_, static_cast<std::uint32_t>(payload));
}

}  // namespace portd::proto
