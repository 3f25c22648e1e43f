#include "proto/codec.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <new>

#include <fmt/format.h>

#include "model/time.hpp"
#include "model/validate.hpp"
#include "proto/frame.hpp"
#include "proto/utf8.hpp"

namespace portd::proto {
namespace {

// --- ops -------------------------------------------------------------------

// Indexed by Op; keep in the enum's (sorted) order.
constexpr std::array<std::string_view, 12> kOpNames = {
    "allocate", "allocate_all", "check", "export",  "gc",    "health",
    "hello",    "import",       "list",  "release", "stats", "watch",
};
static_assert(kOpNames.size() == static_cast<std::size_t>(Op::watch) + 1);

// --- unpack limits -----------------------------------------------------------

// msgpack-cxx allocates count * sizeof(object) for an array or map header
// before reading a single element (docs/internals.md, "msgpack-cxx"), so every count limit is
// also capped by the payload size: an element takes at least one byte, a map
// entry at least two. A 5-byte "dd ff ff ff ff" then fails on its header.

// A request map has a dozen known keys; 64 leaves room for unknown fields.
constexpr std::size_t kMaxRequestMapEntries = 64;
// Names are at most 64 bytes and free text 4096; longer strings still unpack
// (they point into the payload, nothing is copied) so that validation can
// name the field, but anything beyond this is not a portd request.
constexpr std::size_t kMaxRequestString = 64u << 10;
// import carries one map per allocation.
constexpr std::size_t kMaxImportRecords = 100'000;
// request map -> "allocations" array -> allocation map, plus one spare level
// so that an unknown field may hold a small map or array.
constexpr std::size_t kMaxRequestDepth = 4;

// Responses come from the daemon the client chose to trust, but a confused
// or hostile peer still must not make the client allocate gigabytes.
constexpr std::size_t kMaxResponseArray = 1u << 20;
constexpr std::size_t kMaxResponseMapEntries = 1u << 16;
constexpr std::size_t kMaxResponseDepth = 8;

// Leases longer than a century are a mistake; this also keeps
// created_at + ttl far from overflowing.
constexpr std::int64_t kMaxTtlSeconds = 100LL * 366 * 86400;
// Services in one allocate_all: far more than a project has.
constexpr std::uint32_t kMaxAllocateAll = 256;
// 9999-12-31T23:59:59Z: the largest time RFC 3339 can spell.
constexpr std::int64_t kMaxTime = 253'402'300'799;

msgpack::unpack_limit request_limit(std::size_t payload) {
  return msgpack::unpack_limit(std::min(payload, kMaxImportRecords),
                               std::min(payload / 2, kMaxRequestMapEntries),
                               std::min(payload, kMaxRequestString),
                               std::min(payload, kMaxRequestString), 0, kMaxRequestDepth);
}

msgpack::unpack_limit response_limit(std::size_t payload) {
  return msgpack::unpack_limit(std::min(payload, kMaxResponseArray),
                               std::min(payload / 2, kMaxResponseMapEntries), payload, payload, 0,
                               kMaxResponseDepth);
}

// Strings and binaries of a request point into the payload instead of being
// copied into the zone: decode_request copies what it keeps before returning.
bool reference_payload(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

// One zone per thread, cleared after each request: decoding a small request
// then costs no zone malloc/free. clear() keeps only the zone's first chunk,
// so a large import does not pin its memory.
msgpack::zone& request_zone() {
  thread_local msgpack::zone zone;
  return zone;
}

struct ZoneClear {
  msgpack::zone& zone;
  ~ZoneClear() { zone.clear(); }
};

std::string describe_unpack_failure(const std::exception& e) {
  if (dynamic_cast<const msgpack::insufficient_bytes*>(&e)) return "truncated MessagePack";
  if (dynamic_cast<const msgpack::depth_size_overflow*>(&e)) return "nested too deeply";
  if (dynamic_cast<const msgpack::array_size_overflow*>(&e)) return "array too long";
  if (dynamic_cast<const msgpack::map_size_overflow*>(&e)) return "map has too many entries";
  if (dynamic_cast<const msgpack::str_size_overflow*>(&e)) return "string too long";
  if (dynamic_cast<const msgpack::bin_size_overflow*>(&e)) return "binary value too long";
  if (dynamic_cast<const msgpack::ext_size_overflow*>(&e)) return "ext values are not allowed";
  if (dynamic_cast<const msgpack::parse_error*>(&e)) return "invalid MessagePack";
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "out of memory";
  return e.what();
}

std::string_view type_name(const msgpack::object& o) noexcept {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a float";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "a binary";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    case msgpack::type::EXT:
      return "an ext value";
  }
  return "an unknown type";
}

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_request, message);
}

// --- typed field access --------------------------------------------------------

std::string_view as_string(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::STR) fail(fmt::format("field '{}' must be a string", field));
  return {o.via.str.ptr, o.via.str.size};
}

/// A string of a request: MessagePack's str must hold UTF-8, and a peer's
/// bytes are checked before they are stored or quoted in a message.
std::string_view as_utf8(const msgpack::object& o, std::string_view field) {
  std::string_view s = as_string(o, field);
  if (!is_valid_utf8(s)) fail(fmt::format("field '{}' is not valid UTF-8", field));
  return s;
}

/// The exact wire value of an integer, for messages (as_int saturates).
std::string integer_text(const msgpack::object& o) {
  return o.type == msgpack::type::NEGATIVE_INTEGER ? fmt::format("{}", o.via.i64)
                                                   : fmt::format("{}", o.via.u64);
}

std::uint64_t as_uint(const msgpack::object& o, std::string_view field) {
  // msgpack-cxx stores every non-negative integer, whatever its wire width
  // or signedness, as POSITIVE_INTEGER.
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    fail(fmt::format("field '{}' must be a non-negative integer", field));
  }
  return o.via.u64;
}

std::int64_t as_int(const msgpack::object& o, std::string_view field) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    fail(fmt::format("field '{}' must be an integer", field));
  }
  // Saturate: anything this large is out of range for every field anyway.
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(o.via.u64, kMax));
}

bool as_bool(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::BOOLEAN) fail(fmt::format("field '{}' must be a boolean", field));
  return o.via.boolean;
}

std::uint32_t as_pid(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::POSITIVE_INTEGER || o.via.u64 > 0xffffffffu) {
    fail(fmt::format("field '{}' must be an unsigned 32-bit integer", field));
  }
  return static_cast<std::uint32_t>(o.via.u64);
}

std::int64_t as_time(const msgpack::object& o, std::string_view field) {
  std::int64_t t = 0;
  if (o.type == msgpack::type::STR) {
    auto parsed = parse_rfc3339({o.via.str.ptr, o.via.str.size});
    if (!parsed) fail(fmt::format("field '{}' must be an RFC 3339 time", field));
    t = *parsed;
  } else if (o.type == msgpack::type::POSITIVE_INTEGER ||
             o.type == msgpack::type::NEGATIVE_INTEGER) {
    t = as_int(o, field);
  } else {
    fail(fmt::format("field '{}' must be an RFC 3339 time or integer seconds", field));
  }
  // Outside this range format_rfc3339 cannot spell the time back.
  if (t < 0 || t > kMaxTime) {
    fail(fmt::format("field '{}' is out of range (1970 to 9999)", field));
  }
  return t;
}

/// A name (app, instance, service, pool); validated.
std::string as_name(const msgpack::object* o, std::string_view field) {
  std::string_view v = o ? as_utf8(*o, field) : std::string_view();
  validate_name(field, v);
  return std::string(v);
}

/// Free text (description, worktree, allocated_by); validated. Replies are
/// read without the UTF-8 check (`check_utf8` false), so that records a
/// daemon stored before it checked can still be listed, exported, released.
std::string as_text(const msgpack::object& o, std::string_view field, bool check_utf8 = true) {
  std::string_view v = check_utf8 ? as_utf8(o, field) : as_string(o, field);
  validate_text(field, v);
  return std::string(v);
}

Port as_port(const msgpack::object& o, std::string_view field) {
  std::int64_t v = as_int(o, field);
  if (v > 65535) fail(fmt::format("invalid {} {}: ports are 1-65535", field, integer_text(o)));
  return validate_port(field, v);
}

// --- key scanning ----------------------------------------------------------------

// Every key a request may carry; the scan maps each map entry to one slot so
// that the op handlers below read fields without further string compares.
enum class Key : std::uint8_t {
  unknown,
  v,
  id,
  op,
  app,
  instance,
  service,
  port,
  pool,
  description,
  worktree,
  pid,
  ttl,
  replace,
  force,
  allocation_id,
  dry_run,
  allocations,
  requests,
  prefer,
  // allocation maps only
  allocated_by,
  created_at,
  expires_at,
  count_,
};

Key classify(std::string_view k) noexcept {
  switch (k.size()) {
    case 1:
      return k == "v" ? Key::v : Key::unknown;
    case 2:
      if (k == "id") return Key::id;
      if (k == "op") return Key::op;
      return Key::unknown;
    case 3:
      if (k == "app") return Key::app;
      if (k == "pid") return Key::pid;
      if (k == "ttl") return Key::ttl;
      return Key::unknown;
    case 4:
      if (k == "port") return Key::port;
      if (k == "pool") return Key::pool;
      return Key::unknown;
    case 5:
      return k == "force" ? Key::force : Key::unknown;
    case 6:
      return k == "prefer" ? Key::prefer : Key::unknown;
    case 7:
      if (k == "service") return Key::service;
      if (k == "replace") return Key::replace;
      if (k == "dry_run") return Key::dry_run;
      return Key::unknown;
    case 8:
      if (k == "instance") return Key::instance;
      if (k == "worktree") return Key::worktree;
      if (k == "requests") return Key::requests;
      return Key::unknown;
    case 10:
      if (k == "created_at") return Key::created_at;
      if (k == "expires_at") return Key::expires_at;
      return Key::unknown;
    case 11:
      if (k == "description") return Key::description;
      if (k == "allocations") return Key::allocations;
      return Key::unknown;
    case 12:
      return k == "allocated_by" ? Key::allocated_by : Key::unknown;
    case 13:
      return k == "allocation_id" ? Key::allocation_id : Key::unknown;
    default:
      return Key::unknown;
  }
}

/// The value of each known key in one map (the last one wins on duplicates);
/// non-string keys and unknown keys are ignored.
struct Fields {
  std::array<const msgpack::object*, static_cast<std::size_t>(Key::count_)> slot{};

  explicit Fields(const msgpack::object& map) noexcept {
    const msgpack::object_kv* kv = map.via.map.ptr;
    for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
      if (kv[i].key.type != msgpack::type::STR) continue;
      Key k = classify({kv[i].key.via.str.ptr, kv[i].key.via.str.size});
      if (k != Key::unknown) slot[static_cast<std::size_t>(k)] = &kv[i].val;
    }
  }
  const msgpack::object* operator[](Key k) const noexcept {
    return slot[static_cast<std::size_t>(k)];
  }
};

// --- request fields per op -----------------------------------------------------------

void read_allocate(const Fields& f, Request& r) {
  r.key.app = as_name(f[Key::app], "app");
  r.key.instance = as_name(f[Key::instance], "instance");
  r.key.service = as_name(f[Key::service], "service");
  if (const auto* o = f[Key::port]) {
    // 0 asks for auto-assignment, like an absent port.
    r.port = as_int(*o, "port") == 0 ? 0 : as_port(*o, "port");
  }
  if (const auto* o = f[Key::pool]) {
    // An empty pool means "the service's pool", the same as no pool.
    if (o->type != msgpack::type::STR || o->via.str.size != 0) r.pool = as_name(o, "pool");
  }
  if (const auto* o = f[Key::description]) r.description = as_text(*o, "description");
  if (const auto* o = f[Key::worktree]) r.worktree = as_text(*o, "worktree");
  if (const auto* o = f[Key::pid]) r.pid = as_pid(*o, "pid");
  if (const auto* o = f[Key::ttl]) {
    std::int64_t ttl = as_int(*o, "ttl");
    if (ttl < 0 || ttl > kMaxTtlSeconds) {
      fail(fmt::format("field 'ttl' is out of range: {} seconds (0 to {} seconds, 100 years)",
                       integer_text(*o), kMaxTtlSeconds));
    }
    r.ttl_seconds = ttl;
  }
  if (const auto* o = f[Key::replace]) r.replace = as_bool(*o, "replace");
  if (const auto* o = f[Key::force]) r.force = as_bool(*o, "force");
}

void read_filter(const Fields& f, Filter& filter) {
  if (const auto* o = f[Key::allocation_id]) filter.id = as_uint(*o, "allocation_id");
  if (const auto* o = f[Key::app]) filter.app = std::string(as_utf8(*o, "app"));
  if (const auto* o = f[Key::instance]) filter.instance = std::string(as_utf8(*o, "instance"));
  if (const auto* o = f[Key::service]) filter.service = std::string(as_utf8(*o, "service"));
  if (const auto* o = f[Key::port]) filter.port = as_port(*o, "port");
  validate_filter(filter);
}

// Reads an import record; `check_utf8` as for as_text.
Allocation read_allocation(const msgpack::object& o, bool check_utf8);

void read_import(const Fields& f, Request& r, std::size_t payload_size) {
  const msgpack::object* list = f[Key::allocations];
  if (!list) fail("field 'allocations' is required");
  if (list->type != msgpack::type::ARRAY) fail("field 'allocations' must be an array");
  // Reserve by what the payload can hold, not by the header's claim: an
  // allocation map takes well over 32 bytes on the wire.
  r.records.reserve(std::min<std::size_t>(list->via.array.size, payload_size / 32));
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    try {
      r.records.push_back(read_allocation(list->via.array.ptr[i], true));
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("allocations[{}]: {}", i, e.what()));
    }
  }
  if (const auto* o = f[Key::replace]) r.replace = as_bool(*o, "replace");
}

// allocate_all: {app, instance, worktree?, requests: [{service, port?,
// prefer?, pool?, description?}, ...]}.
void read_allocate_all(const Fields& f, Request& r) {
  r.key.app = as_name(f[Key::app], "app");
  r.key.instance = as_name(f[Key::instance], "instance");
  if (const auto* o = f[Key::worktree]) r.worktree = as_text(*o, "worktree");
  const msgpack::object* list = f[Key::requests];
  if (!list || list->type != msgpack::type::ARRAY || list->via.array.size == 0) {
    fail("field 'requests' must be a non-empty array");
  }
  if (list->via.array.size > kMaxAllocateAll) {
    fail(fmt::format("field 'requests' has more than {} entries", kMaxAllocateAll));
  }
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    const msgpack::object& item = list->via.array.ptr[i];
    if (item.type != msgpack::type::MAP) fail(fmt::format("requests[{}] must be a map", i));
    // The item's fields share names with allocate's; the app and instance
    // are the request's.
    Fields fi(item);
    fi.slot[static_cast<std::size_t>(Key::app)] = f[Key::app];
    fi.slot[static_cast<std::size_t>(Key::instance)] = f[Key::instance];
    Request one;
    try {
      read_allocate(fi, one);
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("requests[{}]: {}", i, e.what()));
    }
    ServiceRequest s{one.key.service, one.port, false, one.pool, one.description};
    if (const auto* o = fi[Key::prefer]) s.prefer = as_bool(*o, "prefer");
    r.services.push_back(std::move(s));
  }
}

void read_fields(const Fields& f, Request& r, std::size_t payload_size) {
  // Required: a request without it cannot say which protocol it speaks.
  const msgpack::object* version = f[Key::v];
  if (!version) fail("field 'v' is required");
  {
    std::int64_t v = as_int(*version, "v");
    if (v < 1) fail("field 'v' must be a positive integer");
    // Checked before the op: a newer protocol may well have ops we lack.
    if (v > static_cast<std::int64_t>(kProtocolVersion)) {
      throw Error(ErrorCode::unsupported_version,
                  fmt::format("unsupported protocol version {} (this portd speaks {})",
                              integer_text(*version), kProtocolVersion));
    }
    r.version = static_cast<std::uint32_t>(v);
  }
  const msgpack::object* op = f[Key::op];
  if (!op) fail("field 'op' is required");
  std::string_view name = as_utf8(*op, "op");
  auto parsed = parse_op(name);
  if (!parsed) {
    // The name is the peer's and goes into a reply: escaped, at most 64 bytes.
    throw Error(ErrorCode::unknown_op,
                fmt::format("unknown op '{}'", escape_bytes(name, kMaxNameLength)));
  }
  r.op = *parsed;

  switch (r.op) {
    case Op::allocate:
      read_allocate(f, r);
      break;
    case Op::allocate_all:
      read_allocate_all(f, r);
      break;
    case Op::check:
      if (!f[Key::port]) fail("field 'port' is required");
      r.port = as_port(*f[Key::port], "port");
      break;
    case Op::list:
      read_filter(f, r.filter);
      break;
    case Op::release:
      read_filter(f, r.filter);
      if (r.filter.empty()) {
        fail("release needs allocation_id or at least one of app, instance, service, port");
      }
      break;
    case Op::gc:
      if (const auto* o = f[Key::dry_run]) r.dry_run = as_bool(*o, "dry_run");
      break;
    case Op::import:
      read_import(f, r, payload_size);
      break;
    case Op::export_:
    case Op::health:
    case Op::hello:
    case Op::stats:
    case Op::watch:
      break;
  }
}

// --- encoding helpers -------------------------------------------------------------

void pack_kv(Packer& pk, std::string_view key, std::string_view value) {
  pack_key(pk, key);
  pack_string(pk, value);
}

void pack_filter(Packer& pk, const Filter& f) {
  if (f.id) {
    pack_key(pk, "allocation_id");
    pk.pack_uint64(*f.id);
  }
  if (f.app) pack_kv(pk, "app", *f.app);
  if (f.instance) pack_kv(pk, "instance", *f.instance);
  if (f.service) pack_kv(pk, "service", *f.service);
  if (f.port) {
    pack_key(pk, "port");
    pk.pack_uint16(*f.port);
  }
}

std::uint32_t filter_fields(const Filter& f) {
  return (f.id ? 1u : 0u) + (f.app ? 1u : 0u) + (f.instance ? 1u : 0u) + (f.service ? 1u : 0u) +
         (f.port ? 1u : 0u);
}

void pack_service_request(Packer& pk, const ServiceRequest& s) {
  pk.pack_map(1 + (s.port != 0) + s.prefer + !s.pool.empty() + !s.description.empty());
  pack_kv(pk, "service", s.service);
  if (s.port != 0) {
    pack_key(pk, "port");
    pk.pack_uint16(s.port);
  }
  if (s.prefer) {
    pack_key(pk, "prefer");
    pk.pack_true();
  }
  if (!s.pool.empty()) pack_kv(pk, "pool", s.pool);
  if (!s.description.empty()) pack_kv(pk, "description", s.description);
}

[[noreturn]] void bad_response(std::string_view why) {
  throw Error(ErrorCode::invalid_request, fmt::format("malformed response: {}", why));
}

}  // namespace

// --- ops ------------------------------------------------------------------------------

std::string_view to_string(Op op) noexcept {
  return kOpNames[static_cast<std::size_t>(op)];
}

std::optional<Op> parse_op(std::string_view name) noexcept {
  auto it = std::lower_bound(kOpNames.begin(), kOpNames.end(), name);
  if (it == kOpNames.end() || *it != name) return std::nullopt;
  return static_cast<Op>(it - kOpNames.begin());
}

bool is_mutation(Op op) noexcept {
  return op == Op::allocate || op == Op::allocate_all || op == Op::release || op == Op::gc ||
         op == Op::import;
}

// --- requests ----------------------------------------------------------------------

Request decode_request(std::string_view payload) {
  msgpack::zone& zone = request_zone();
  ZoneClear clear{zone};
  msgpack::object root;
  try {
    std::size_t off = 0;
    root = msgpack::unpack(zone, payload.data(), payload.size(), off, reference_payload, nullptr,
                           request_limit(payload.size()));
    if (off != payload.size()) {
      throw DecodeError(ErrorCode::invalid_request,
                        fmt::format("malformed request: {} trailing bytes after the request map",
                                    payload.size() - off),
                        0, true);
    }
  } catch (const DecodeError&) {
    throw;
  } catch (const std::exception& e) {
    // unpack_error, type_error (a std::bad_cast) and bad_alloc alike: the
    // bytes are not one request map, and the stream cannot be trusted.
    throw DecodeError(ErrorCode::invalid_request,
                      "malformed request: " + describe_unpack_failure(e), 0, true);
  }
  if (root.type != msgpack::type::MAP) {
    throw DecodeError(ErrorCode::invalid_request,
                      fmt::format("malformed request: expected a map, got {}", type_name(root)), 0,
                      true);
  }

  Fields fields(root);
  Request r;
  try {
    if (const auto* o = fields[Key::id]) r.id = as_uint(*o, "id");
    read_fields(fields, r, payload.size());
  } catch (const Error& e) {
    // A well-formed map with a bad field: answer it, keep the connection.
    throw DecodeError(e.code(), e.what(), r.id, false);
  } catch (const std::exception& e) {
    throw DecodeError(ErrorCode::internal, fmt::format("failed to decode request: {}", e.what()),
                      r.id, true);
  }
  return r;
}

void encode_request(std::string& out, const Request& r) {
  FrameWriter w(out);
  Packer& pk = w.packer();
  std::uint32_t n = 3;
  switch (r.op) {
    case Op::allocate:
      n += 3 + (r.port != 0) + !r.pool.empty() + !r.description.empty() + !r.worktree.empty() +
           (r.pid != 0) + (r.ttl_seconds != 0) + r.replace + r.force;
      break;
    case Op::allocate_all:
      n += 3 + !r.worktree.empty();
      break;
    case Op::check:
    case Op::gc:
      n += 1;
      break;
    case Op::list:
    case Op::release:
      n += filter_fields(r.filter);
      break;
    case Op::import:
      n += 1 + r.replace;
      break;
    case Op::export_:
    case Op::health:
    case Op::hello:
    case Op::stats:
    case Op::watch:
      break;
  }
  pk.pack_map(n);
  pack_key(pk, "v");
  pk.pack_uint32(r.version);
  pack_key(pk, "id");
  pk.pack_uint64(r.id);
  pack_kv(pk, "op", to_string(r.op));
  switch (r.op) {
    case Op::allocate:
      pack_kv(pk, "app", r.key.app);
      pack_kv(pk, "instance", r.key.instance);
      pack_kv(pk, "service", r.key.service);
      if (r.port != 0) {
        pack_key(pk, "port");
        pk.pack_uint16(r.port);
      }
      if (!r.pool.empty()) pack_kv(pk, "pool", r.pool);
      if (!r.description.empty()) pack_kv(pk, "description", r.description);
      if (!r.worktree.empty()) pack_kv(pk, "worktree", r.worktree);
      if (r.pid != 0) {
        pack_key(pk, "pid");
        pk.pack_uint32(r.pid);
      }
      if (r.ttl_seconds != 0) {
        pack_key(pk, "ttl");
        pk.pack_int64(r.ttl_seconds);
      }
      if (r.replace) {
        pack_key(pk, "replace");
        pk.pack_true();
      }
      if (r.force) {
        pack_key(pk, "force");
        pk.pack_true();
      }
      break;
    case Op::allocate_all:
      pack_kv(pk, "app", r.key.app);
      pack_kv(pk, "instance", r.key.instance);
      if (!r.worktree.empty()) pack_kv(pk, "worktree", r.worktree);
      pack_key(pk, "requests");
      pk.pack_array(static_cast<std::uint32_t>(r.services.size()));
      for (const ServiceRequest& s : r.services) pack_service_request(pk, s);
      break;
    case Op::check:
      pack_key(pk, "port");
      pk.pack_uint16(r.port);
      break;
    case Op::list:
    case Op::release:
      pack_filter(pk, r.filter);
      break;
    case Op::gc:
      pack_key(pk, "dry_run");
      pk.pack(r.dry_run);
      break;
    case Op::import:
      pack_key(pk, "allocations");
      pk.pack_array(static_cast<std::uint32_t>(r.records.size()));
      for (const Allocation& a : r.records) pack_allocation(pk, a);
      if (r.replace) {
        pack_key(pk, "replace");
        pk.pack_true();
      }
      break;
    case Op::export_:
    case Op::health:
    case Op::hello:
    case Op::stats:
    case Op::watch:
      break;
  }
  w.finish();
}

// --- frames ---------------------------------------------------------------------------

FrameWriter::FrameWriter(std::string& out)
    : out_(&out), start_(out.size()), sink_(out), packer_(sink_) {
  out.append(kFrameHeaderSize, '\0');
}

void FrameWriter::finish() {
  const std::size_t payload = out_->size() - start_ - kFrameHeaderSize;
  if (payload > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(ErrorCode::internal,
                fmt::format("failed to encode message: {} bytes do not fit in a frame", payload));
  }
  patch_frame_header(*out_, start_, static_cast<std::uint32_t>(payload));
}

// --- allocations ----------------------------------------------------------------------

void pack_allocation(Packer& pk, const Allocation& a) {
  pk.pack_map(a.expires_at != 0 ? 12 : 11);
  pack_key(pk, "id");
  pk.pack_uint64(a.id);
  pack_kv(pk, "app", a.app);
  pack_kv(pk, "instance", a.instance);
  pack_kv(pk, "service", a.service);
  pack_key(pk, "port");
  pk.pack_uint16(a.port);
  pack_kv(pk, "pool", a.pool);
  pack_kv(pk, "description", a.description);
  pack_kv(pk, "worktree", a.worktree);
  pack_key(pk, "pid");
  pk.pack_uint32(a.pid);
  pack_kv(pk, "allocated_by", a.allocated_by);
  pack_kv(pk, "created_at", format_rfc3339(a.created_at));
  if (a.expires_at != 0) pack_kv(pk, "expires_at", format_rfc3339(a.expires_at));
}

namespace {

Allocation read_allocation(const msgpack::object& o, bool check_utf8) {
  if (o.type != msgpack::type::MAP)
    fail(fmt::format("allocation must be a map, not {}", type_name(o)));
  Fields f(o);
  Allocation a;
  if (const auto* v = f[Key::id]) a.id = as_uint(*v, "id");
  a.app = as_name(f[Key::app], "app");
  a.instance = as_name(f[Key::instance], "instance");
  a.service = as_name(f[Key::service], "service");
  if (!f[Key::port]) fail("field 'port' is required");
  a.port = as_port(*f[Key::port], "port");
  if (const auto* v = f[Key::pool]) {
    if (v->type != msgpack::type::STR || v->via.str.size != 0) a.pool = as_name(v, "pool");
  }
  if (const auto* v = f[Key::description]) {
    a.description = as_text(*v, "description", check_utf8);
  }
  if (const auto* v = f[Key::worktree]) a.worktree = as_text(*v, "worktree", check_utf8);
  if (const auto* v = f[Key::pid]) a.pid = as_pid(*v, "pid");
  if (const auto* v = f[Key::allocated_by]) {
    a.allocated_by = as_text(*v, "allocated_by", check_utf8);
  }
  if (const auto* v = f[Key::created_at]) a.created_at = as_time(*v, "created_at");
  if (const auto* v = f[Key::expires_at]) a.expires_at = as_time(*v, "expires_at");
  return a;
}

}  // namespace

Allocation unpack_allocation(const msgpack::object& o) {
  return read_allocation(o, false);
}

// --- responses ------------------------------------------------------------------------

void encode_error(std::string& out, std::uint64_t id, const Error& error) {
  FrameWriter w(out);
  Packer& pk = w.packer();
  pk.pack_map(3);
  pack_key(pk, "id");
  pk.pack_uint64(id);
  pack_key(pk, "ok");
  pk.pack_false();
  pack_key(pk, "error");
  const auto& holder = error.holder();
  const auto& owner = error.owner();
  const auto& limit = error.limit();
  pk.pack_map(2 + (holder ? 1 : 0) + (owner ? 2 : 0) + (limit ? 1 : 0));
  pack_kv(pk, "code", error.code_name());
  pack_kv(pk, "message", error.what());
  if (limit) {
    pack_key(pk, "limit");
    pk.pack_uint64(*limit);
  }
  if (holder) {
    pack_key(pk, "holder");
    pack_allocation(pk, *holder);
  }
  if (owner) {
    pack_key(pk, "pid");
    pk.pack_uint32(owner->pid);
    pack_kv(pk, "command", owner->command);
  }
  w.finish();
}

const msgpack::object* map_find(const msgpack::object& o, std::string_view key) noexcept {
  if (o.type != msgpack::type::MAP) return nullptr;
  const msgpack::object_kv* kv = o.via.map.ptr;
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object& k = kv[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) {
      return &kv[i].val;
    }
  }
  return nullptr;
}

const msgpack::object* Response::find(std::string_view key) const noexcept {
  return body ? map_find(*body, key) : nullptr;
}

Response decode_response(std::string_view payload) {
  Response r;
  try {
    std::size_t off = 0;
    // No reference function: strings are copied into the handle's zone, so
    // the Response outlives the receive buffer.
    msgpack::unpack(r.handle, payload.data(), payload.size(), off, nullptr, nullptr,
                    response_limit(payload.size()));
    if (off != payload.size()) bad_response("trailing bytes after the response map");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    bad_response(describe_unpack_failure(e));
  }
  const msgpack::object& root = r.handle.get();
  if (root.type != msgpack::type::MAP) {
    bad_response(fmt::format("expected a map, got {}", type_name(root)));
  }
  // handle.get() refers to a member of the handle, which moves with the
  // Response; a copy of the root inside the zone stays put.
  auto* body = static_cast<msgpack::object*>(
      r.handle.zone()->allocate_align(sizeof(msgpack::object), alignof(msgpack::object)));
  r.body = new (body) msgpack::object(root);

  try {
    if (const auto* o = map_find(root, "id")) r.id = as_uint(*o, "id");
    const msgpack::object* ok = map_find(root, "ok");
    if (!ok) fail("field 'ok' is required");
    r.ok = as_bool(*ok, "ok");
    if (r.ok) return r;

    const msgpack::object* err = map_find(root, "error");
    if (!err || err->type != msgpack::type::MAP) {
      r.error.emplace(ErrorCode::internal, "request failed without an error description");
      return r;
    }
    std::string message;
    if (const auto* m = map_find(*err, "message")) message = std::string(as_string(*m, "message"));
    // A code from a newer daemon stays what it is: ErrorCode::unknown with
    // its wire spelling, which callers may show or pass on.
    std::string code = "internal";
    if (const auto* c = map_find(*err, "code")) code = std::string(as_string(*c, "code"));
    r.error.emplace(std::move(code), message);
    if (const auto* h = map_find(*err, "holder")) r.error->with_holder(unpack_allocation(*h));
    if (const auto* l = map_find(*err, "limit")) r.error->with_limit(as_uint(*l, "limit"));
    const auto* pid = map_find(*err, "pid");
    const auto* command = map_find(*err, "command");
    if (pid || command) {
      PortOwner owner;
      if (pid) owner.pid = as_pid(*pid, "pid");
      if (command) owner.command = std::string(as_string(*command, "command"));
      r.error->with_owner(std::move(owner));
    }
  } catch (const Error& e) {
    bad_response(e.what());
  }
  return r;
}

}  // namespace portd::proto
