#include "model/error.hpp"

#include <array>

namespace portd {
namespace {

// Indexed by ErrorCode; keep in the enum's order.
constexpr std::array<std::string_view, 14> kNames = {
    "invalid_request",   "unsupported_version", "unknown_op", "port_taken",     "port_in_use",
    "port_reserved",     "key_exists",          "not_found",  "pool_exhausted", "frame_too_large",
    "permission_denied", "store_full",          "internal",   "busy",
};
static_assert(kNames.size() == static_cast<std::size_t>(ErrorCode::busy) + 1);

}  // namespace

std::string_view to_string(ErrorCode code) noexcept {
  return kNames[static_cast<std::size_t>(code)];
}

std::optional<ErrorCode> parse_error_code(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

}  // namespace portd
