// Typed reads of MessagePack values, shared by request decoding (daemon),
// reply decoding (client) and the per-op codecs. Every reader throws
// Error(invalid_request) with a message naming `field`; the client turns it
// into bad_response.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "model/allocation.hpp"

namespace portd::proto {

/// Throws Error(invalid_request) with `message`.
[[noreturn]] void fail(const std::string& message);

/// "a string", "an integer", ... for messages.
std::string_view type_name(const msgpack::object& o) noexcept;

/// The exact wire value of an integer, for messages (as_int saturates).
std::string integer_text(const msgpack::object& o);

/// A str value; points into `o`.
std::string_view as_string(const msgpack::object& o, std::string_view field);
/// A str value that must be valid UTF-8 (request strings are checked before
/// they are stored or quoted in a message).
std::string_view as_utf8(const msgpack::object& o, std::string_view field);
/// A non-negative integer of any wire width.
std::uint64_t as_uint(const msgpack::object& o, std::string_view field);
/// An integer; values above INT64_MAX saturate.
std::int64_t as_int(const msgpack::object& o, std::string_view field);
/// An integer or a float, as a double.
double as_double(const msgpack::object& o, std::string_view field);
bool as_bool(const msgpack::object& o, std::string_view field);
/// An unsigned 32-bit integer (pids).
std::uint32_t as_pid(const msgpack::object& o, std::string_view field);
/// An unsigned 16-bit integer, 0 included (ports in replies, pool bounds).
std::uint16_t as_uint16(const msgpack::object& o, std::string_view field);
/// An RFC 3339 string or integer seconds since the epoch, 1970 to 9999.
std::int64_t as_time(const msgpack::object& o, std::string_view field);
/// A name (app, instance, service, pool), validated; absent reads as "",
/// which validation rejects.
std::string as_name(const msgpack::object* o, std::string_view field);
/// Free text (description, worktree, allocated_by), validated. Replies are
/// read with `check_utf8` false, so that records a daemon stored before it
/// checked can still be listed, exported, released.
std::string as_text(const msgpack::object& o, std::string_view field, bool check_utf8 = true);
/// A port, 1-65535.
Port as_port(const msgpack::object& o, std::string_view field);

/// Looks up `key` in a msgpack map; nullptr when absent or `o` is no map.
const msgpack::object* map_find(const msgpack::object& o, std::string_view key) noexcept;

/// `o` unless it is nil: replies may send nil for a field that is not set.
inline const msgpack::object* present(const msgpack::object* o) noexcept {
  return (o && o->type == msgpack::type::NIL) ? nullptr : o;
}

/// `read(*o, field)` for a field that may be absent: an absent or nil field
/// reads as the value type's zero (replies leave out what is not set).
template <class Read>
auto read_or_zero(const msgpack::object* o, std::string_view field, Read read) {
  using T = std::decay_t<decltype(read(*o, field))>;
  if (!o || o->type == msgpack::type::NIL) return T{};
  return T(read(*o, field));
}

}  // namespace portd::proto
