// Validation of user-supplied names, ports and filters (portd-protocol(7)).
#pragma once

#include <cstdint>
#include <string_view>

#include "model/allocation.hpp"

namespace portd {

/// Longest accepted name, in bytes.
inline constexpr std::size_t kMaxNameLength = 64;
/// Longest accepted description and worktree path, in bytes.
inline constexpr std::size_t kMaxTextLength = 4096;

/// True when `name` is 1-64 characters of [A-Za-z0-9._-].
bool is_valid_name(std::string_view name) noexcept;

/// Checks a name field (`field` is "app", "instance", "service" or "pool").
/// Throws Error(invalid_request) naming the field and the rule.
void validate_name(std::string_view field, std::string_view value);

/// Checks a free-text field (description, worktree) for length and NUL bytes.
/// Throws Error(invalid_request).
void validate_text(std::string_view field, std::string_view value);

/// Converts a wire integer to a port in 1-65535.
/// Throws Error(invalid_request) naming `field` when out of range.
Port validate_port(std::string_view field, std::int64_t value);

/// Checks every set field of a filter. Throws Error(invalid_request).
void validate_filter(const Filter& filter);

}  // namespace portd
