#include <array>

#include "config.h"
#include "portd/client.hpp"

namespace portd::client {
namespace {

// Indexed by ErrorCode; keep in the enum's order.
constexpr std::array<std::string_view, 16> kCodeNames = {
    "invalid_request", "unsupported_version", "unknown_op",        "port_taken",
    "port_in_use",     "port_reserved",       "key_exists",        "not_found",
    "pool_exhausted",  "frame_too_large",     "permission_denied", "store_full",
    "internal",        "unavailable",         "bad_response",      "unknown",
};
static_assert(kCodeNames.size() == static_cast<std::size_t>(ErrorCode::unknown) + 1);

ErrorCode parse_code(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kCodeNames.size(); ++i) {
    if (kCodeNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return ErrorCode::unknown;
}

}  // namespace

std::string_view library_version() noexcept {
  return PORTD_VERSION;
}

std::string_view to_string(ErrorCode code) noexcept {
  return kCodeNames[static_cast<std::size_t>(code)];
}

Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error(message), code_(code), code_name_(to_string(code)) {}

Error::Error(std::string code_name, const std::string& message)
    : std::runtime_error(message), code_(parse_code(code_name)), code_name_(std::move(code_name)) {}

Error& Error::with_holder(Allocation holder) {
  holder_ = std::move(holder);
  return *this;
}

Error& Error::with_owner(std::uint32_t pid, std::string command) {
  owner_pid_ = pid;
  owner_command_ = std::move(command);
  return *this;
}

}  // namespace portd::client
