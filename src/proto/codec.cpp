#include "proto/codec.hpp"

#include <algorithm>
#include <array>
#include <new>

#include <fmt/format.h>

#include "model/validate.hpp"
#include "proto/fields.hpp"
#include "proto/ops/allocate.hpp"
#include "proto/ops/check.hpp"
#include "proto/ops/gc.hpp"
#include "proto/ops/list.hpp"
#include "proto/ops/release.hpp"
#include "proto/ops/transfer.hpp"

namespace portd::proto {
namespace {

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

// --- ops -------------------------------------------------------------------

/// How one op's request travels (portd-protocol(7) "OPS"): its wire name,
/// the reader and writer of its fields beyond v/id/op (null when it has
/// none), and whether it changes the registry.
struct OpCodec {
  std::string_view name;
  void (*read)(const Fields& f, Request& r, std::size_t payload_size);
  void (*add)(MapWriter& m, const Request& r);
  bool mutation;
};

// One row per op, indexed by Op: keep the enum's (sorted) order, which
// parse_op's binary search relies on.
constexpr std::array<OpCodec, 12> kOps = {{
    {"allocate", [](const Fields& f, Request& r, std::size_t) { read_allocate(f, r); },
     [](MapWriter& m, const Request& r) { add_allocate(m, r); }, true},
    {"allocate_all", [](const Fields& f, Request& r, std::size_t) { read_allocate_all(f, r); },
     add_allocate_all, true},
    {"check", [](const Fields& f, Request& r, std::size_t) { read_check(f, r); }, add_check, false},
    {"export", nullptr, nullptr, false},
    {"gc", [](const Fields& f, Request& r, std::size_t) { read_gc(f, r); }, add_gc, true},
    {"health", nullptr, nullptr, false},
    {"hello", nullptr, nullptr, false},
    {"import", read_import, add_import, true},
    {"list", [](const Fields& f, Request& r, std::size_t) { read_filter(f, r.filter); },
     [](MapWriter& m, const Request& r) { add_filter(m, r.filter); }, false},
    {"release", [](const Fields& f, Request& r, std::size_t) { read_release(f, r); },
     [](MapWriter& m, const Request& r) { add_filter(m, r.filter); }, true},
    {"stats", nullptr, nullptr, false},
    {"watch", nullptr, nullptr, false},
}};
static_assert(kOps.size() == static_cast<std::size_t>(Op::watch) + 1);
static_assert(std::is_sorted(kOps.begin(), kOps.end(),
                             [](const OpCodec& a, const OpCodec& b) { return a.name < b.name; }));

const OpCodec& op_codec(Op op) noexcept {
  return kOps[static_cast<std::size_t>(op)];
}

// --- request fields per op -----------------------------------------------------------

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

  if (const auto read = op_codec(r.op).read) read(f, r, payload_size);
}

// --- encoding helpers -------------------------------------------------------------

[[noreturn]] void bad_response(std::string_view why) {
  throw Error(ErrorCode::invalid_request, fmt::format("malformed response: {}", why));
}

}  // namespace

// --- ops ------------------------------------------------------------------------------

std::string_view to_string(Op op) noexcept {
  return op_codec(op).name;
}

std::optional<Op> parse_op(std::string_view name) noexcept {
  auto it = std::lower_bound(kOps.begin(), kOps.end(), name,
                             [](const OpCodec& op, std::string_view n) { return op.name < n; });
  if (it == kOps.end() || it->name != name) return std::nullopt;
  return static_cast<Op>(it - kOps.begin());
}

bool is_mutation(Op op) noexcept {
  return op_codec(op).mutation;
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
  pack_map(w.packer(), [&](MapWriter& m) {
    m.num("v", r.version);
    m.num("id", r.id);
    m.str("op", to_string(r.op));
    if (const auto add = op_codec(r.op).add) add(m, r);
  });
  w.finish();
}

// --- responses ------------------------------------------------------------------------

void encode_error(std::string& out, std::uint64_t id, const Error& error) {
  FrameWriter w(out);
  pack_map(w.packer(), [&](MapWriter& m) {
    m.num("id", id);
    m.num("ok", false);
    m.value("error", [&](Packer& pk) {
      pack_map(pk, [&](MapWriter& e) {
        e.str("code", error.code_name());
        e.str("message", error.what());
        if (error.limit()) e.num("limit", *error.limit());
        if (error.holder()) {
          e.value("holder", [&](Packer& p) { pack_allocation(p, *error.holder()); });
        }
        if (const auto& owner = error.owner()) {
          e.num("pid", owner->pid);
          e.str("command", owner->command);
        }
      });
    });
  });
  w.finish();
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
