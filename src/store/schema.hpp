// The on-disk layout of the store: database names, key encodings and the
// value formats. Independent of the wire protocol (proto/codec), so that a
// protocol change never rewrites the database and vice versa.
//
//   alloc   u64 BE id                    -> allocation record
//   port    u16 BE port                  -> u64 BE id
//   key     app\0instance\0service       -> u64 BE id
//   sticky  app\0instance\0service       -> sticky record
//   frozen  u16 BE port                  -> frozen record
//   meta    "schema_version"             -> u32 BE
//           "next_id"                    -> u64 BE
//
// Integers in keys are big-endian so that LMDB's bytewise key order is the
// numeric order (for_each walks ids in order, frozen() ports in order).
// Records are MessagePack arrays whose first element is a record-format
// number (kRecordFormat), so one record kind can evolve without touching the
// others. Any record that does not decode exactly is refused with
// Error(internal, "corrupt record ...").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/allocation.hpp"
#include "store/store.hpp"

namespace portd::store::schema {

/// Named databases (mdb_dbi_open names).
inline constexpr const char* kAllocDb = "alloc";
inline constexpr const char* kPortDb = "port";
inline constexpr const char* kKeyDb = "key";
inline constexpr const char* kStickyDb = "sticky";
inline constexpr const char* kFrozenDb = "frozen";
inline constexpr const char* kMetaDb = "meta";
/// How many named databases the environment needs (mdb_env_set_maxdbs).
inline constexpr unsigned kDbCount = 6;

/// Keys of the meta database.
inline constexpr std::string_view kSchemaVersionKey = "schema_version";
inline constexpr std::string_view kNextIdKey = "next_id";

/// Format number leading every allocation, sticky and frozen record.
inline constexpr std::uint32_t kRecordFormat = 1;

/// Fixed-width big-endian encodings (2, 4 and 8 bytes).
std::string encode_u16(std::uint16_t value);
std::string encode_u32(std::uint32_t value);
std::string encode_u64(std::uint64_t value);

/// Decode the fixed-width encodings. `what` names the value for the error
/// message (e.g. "meta/next_id"). Throws Error(internal, "corrupt record
/// <what>: ...") when `bytes` has the wrong length.
std::uint16_t decode_u16(std::string_view bytes, std::string_view what);
std::uint32_t decode_u32(std::string_view bytes, std::string_view what);
std::uint64_t decode_u64(std::string_view bytes, std::string_view what);

/// "app\0instance\0service". Names never contain NUL (model/validate), so
/// the encoding is unambiguous.
std::string encode_key(const AllocationKey& key);
/// Inverse of encode_key(). Throws Error(internal, "corrupt record ...")
/// unless `bytes` holds exactly three NUL-separated parts.
AllocationKey decode_key(std::string_view bytes, std::string_view what);

/// The allocation record:
/// [format, id, app, instance, service, port, pool, description, worktree,
///  pid, allocated_by, created_at, expires_at].
std::string encode_allocation(const Allocation& a);
/// Inverse of encode_allocation(). Throws Error(internal, "corrupt record
/// <what>: ...") on anything malformed: bad MessagePack, trailing bytes,
/// unknown format, wrong field count or type, out-of-range integers. Never
/// allocates more than the record's own size allows.
Allocation decode_allocation(std::string_view bytes, std::string_view what);

/// Sticky record: [format, port, released_at].
std::string encode_sticky(const StickyPort& sticky);
/// Throws Error(internal, "corrupt record ...") like decode_allocation().
StickyPort decode_sticky(std::string_view bytes, std::string_view what);

/// Frozen record: [format, released_at, app, instance, service]; the port
/// is the database key, not part of the value.
std::string encode_frozen(const FrozenPort& frozen);
/// Decodes a frozen record stored under `port`. Throws Error(internal,
/// "corrupt record ...") like decode_allocation().
FrozenPort decode_frozen(Port port, std::string_view bytes, std::string_view what);

}  // namespace portd::store::schema
