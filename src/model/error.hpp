// Error codes of the portd protocol and the exception that carries them.
//
// Every failure that reaches a client is a portd::Error: a wire code from
// portd-protocol(7), a human message worded "failed to <verb> <object>: <cause>"
// or as a plain statement, and optional details (the holder of a port).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "model/allocation.hpp"

namespace portd {

/// Wire error codes, spelled in snake_case on the wire (see portd-protocol(7)).
enum class ErrorCode : std::uint8_t {
  invalid_request,
  unsupported_version,
  unknown_op,
  port_taken,
  port_in_use,
  port_reserved,
  key_exists,
  not_found,
  pool_exhausted,
  frame_too_large,
  permission_denied,
  store_full,
  internal,
  busy,  ///< the daemon is at its connection limit; retry later
};

/// The wire spelling of `code`, e.g. "port_taken".
std::string_view to_string(ErrorCode code) noexcept;

/// Parses a wire spelling; std::nullopt for a code this build does not know.
std::optional<ErrorCode> parse_error_code(std::string_view name) noexcept;

/// A process that the OS reports as holding a port (pid 0 when unknown).
struct PortOwner {
  std::uint32_t pid = 0;
  std::string command;
};

/// An error with a protocol code. `holder` is set for port_taken and
/// key_exists (the allocation in the way); `owner` for port_in_use when the
/// OS could tell which process has the port bound.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Error(ErrorCode code, const std::string& message, Allocation holder)
      : std::runtime_error(message), code_(code), holder_(std::move(holder)) {}

  ErrorCode code() const noexcept { return code_; }
  const std::optional<Allocation>& holder() const noexcept { return holder_; }
  const std::optional<PortOwner>& owner() const noexcept { return owner_; }
  Error& with_owner(PortOwner owner) {
    owner_ = std::move(owner);
    return *this;
  }

 private:
  ErrorCode code_;
  std::optional<Allocation> holder_;
  std::optional<PortOwner> owner_;
};

}  // namespace portd
