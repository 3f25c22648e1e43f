// Test support: a blocking client speaking the raw protocol, for tests that
// need to send exactly the bytes they choose.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "proto/codec.hpp"
#include "proto/frame.hpp"
#include "sys/unique_fd.hpp"

namespace portd::testing {

class RawClient {
 public:
  /// Connects to `socket`; throws std::runtime_error on failure.
  explicit RawClient(const std::filesystem::path& socket);
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  /// Sends bytes as they are. Returns false if the peer has gone.
  bool send_raw(std::string_view bytes);
  /// Sends one framed request (id assigned if 0).
  bool send(proto::Request request);
  /// The next response, or std::nullopt on EOF or after `timeout`.
  std::optional<proto::Response> receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// send + receive; throws std::runtime_error when no reply comes.
  proto::Response call(proto::Request request);
  /// True when the daemon has closed this connection (EOF within `timeout`).
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  int fd() const noexcept { return fd_.get(); }

 private:
  sys::UniqueFd fd_;
  std::uint64_t next_id_ = 1;
  proto::FrameDecoder decoder_{proto::kMaxResponseFrame};
};

/// Request builders.
proto::Request make_request(proto::Op op);
proto::Request allocate_request(const std::string& app, const std::string& instance,
                                const std::string& service, Port port = 0);

}  // namespace portd::testing
