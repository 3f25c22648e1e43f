// Wall-clock helpers. Stored times are UTC seconds since the Unix epoch;
// users see them as RFC 3339 (RFC 3339 §5.6, always "Z").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portd {

/// Current UTC time in seconds since the epoch.
std::int64_t unix_now() noexcept;

/// "2025-02-08T15:04:05Z" for `seconds` since the epoch.
std::string format_rfc3339(std::int64_t seconds);

/// Parses "YYYY-MM-DDTHH:MM:SSZ" (also with an offset such as "+02:00").
/// Returns std::nullopt on anything else.
std::optional<std::int64_t> parse_rfc3339(std::string_view text) noexcept;

}  // namespace portd
