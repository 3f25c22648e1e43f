// UTF-8 validation for strings received from peers (portd-protocol(7):
// every string is UTF-8, as MessagePack's str type requires).
#pragma once

#include <string_view>

namespace portd::proto {

/// True when `s` is well-formed UTF-8 (RFC 3629): no overlong encodings, no
/// surrogates (U+D800-U+DFFF), nothing above U+10FFFF, no truncated sequence.
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace portd::proto
