// Error codes of the portd protocol and the exception that carries them.
//
// Every failure that reaches a client is a portd::Error: a wire code from
// portd-protocol(7), a human message worded "failed to <verb> <object>: <cause>"
// or as a plain statement, and optional details (the holder of a port).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "model/allocation.hpp"
#include "model/error_list.hpp"

namespace portd {

/// Wire error codes, spelled in snake_case on the wire (portd-protocol(7)
/// "ERRORS"); generated from PORTD_ERROR_LIST in model/error_list.hpp.
enum class ErrorCode : std::uint8_t {
#define PORTD_ERROR_ENUMERATOR(name, exit_status, retryable) name,
  PORTD_ERROR_LIST(PORTD_ERROR_ENUMERATOR)
#undef PORTD_ERROR_ENUMERATOR
  /// Not on the list: a code this build does not know, received from a newer
  /// peer. Error::code_name() keeps its wire spelling.
  unknown,
};

/// Number of listed codes (every ErrorCode but `unknown`).
inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(ErrorCode::unknown);

/// The wire spelling of `code`, e.g. "port_taken" ("unknown" for unknown).
std::string_view to_string(ErrorCode code) noexcept;

/// Parses a wire spelling; std::nullopt for a code this build does not know.
std::optional<ErrorCode> parse_error_code(std::string_view name) noexcept;

/// portctl's exit status when the daemon answers with `code` (portctl(1)
/// "EXIT STATUS"); 1 for unknown codes.
int exit_status(ErrorCode code) noexcept;

/// True when the same request may succeed if simply sent again later on a
/// new connection (the daemon was at its connection limit).
bool is_retryable(ErrorCode code) noexcept;

/// Quotes bytes from a peer for an error message: printable ASCII is kept,
/// anything else (control bytes, non-ASCII, invalid UTF-8) becomes \xNN,
/// and at most `max_bytes` input bytes are shown ("..." marks a cut). A
/// message thus never echoes raw bytes back to a terminal or a client.
std::string escape_bytes(std::string_view bytes, std::size_t max_bytes = 64);

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
  /// An error with a code as a peer spelled it: code() is ErrorCode::unknown
  /// when this build does not list it, and code_name() keeps the spelling.
  Error(std::string code_name, const std::string& message);

  ErrorCode code() const noexcept { return code_; }
  /// The wire spelling of the code; for ErrorCode::unknown, as received.
  std::string_view code_name() const noexcept {
    return code_ == ErrorCode::unknown ? std::string_view(code_name_) : to_string(code_);
  }
  /// For busy: the daemon's connection limit ("limit" on the wire).
  const std::optional<std::uint64_t>& limit() const noexcept { return limit_; }
  Error& with_limit(std::uint64_t limit) {
    limit_ = limit;
    return *this;
  }
  const std::optional<Allocation>& holder() const noexcept { return holder_; }
  const std::optional<PortOwner>& owner() const noexcept { return owner_; }
  Error& with_holder(Allocation holder) {
    holder_ = std::move(holder);
    return *this;
  }
  Error& with_owner(PortOwner owner) {
    owner_ = std::move(owner);
    return *this;
  }

 private:
  ErrorCode code_;
  std::string code_name_;  ///< set only for ErrorCode::unknown
  std::optional<Allocation> holder_;
  std::optional<std::uint64_t> limit_;
  std::optional<PortOwner> owner_;
};

}  // namespace portd
