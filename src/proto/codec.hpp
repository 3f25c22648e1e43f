// MessagePack encoding of portd requests and responses (portd-protocol(7)).
//
// A request is a map {"v": 1, "id": <uint>, "op": "<name>", ...fields};
// a response is {"id": <same>, "ok": true, ...result} or
// {"id": <same>, "ok": false, "error": {"code", "message", ...details}}.
// Unknown fields are ignored. msgpack types stay out of the client library's
// public headers; this header is internal to portd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "model/allocate_request.hpp"
#include "model/allocation.hpp"
#include "model/error.hpp"
#include "proto/allocation.hpp"
#include "proto/map_writer.hpp"
#include "proto/read.hpp"
#include "proto/sink.hpp"

namespace portd::proto {

/// Protocol version this build speaks ("v" in requests).
inline constexpr std::uint32_t kProtocolVersion = 1;

/// Every op, in sorted order (the daemon's dispatch table relies on it).
enum class Op : std::uint8_t {
  allocate,
  allocate_all,
  check,
  export_,
  gc,
  health,
  hello,
  import,
  list,
  release,
  stats,
  watch,
};

/// Wire name of an op ("export" for Op::export_).
std::string_view to_string(Op op) noexcept;
/// Parses a wire op name; std::nullopt if unknown.
std::optional<Op> parse_op(std::string_view name) noexcept;
/// True for ops that write the store (they go through group commit).
bool is_mutation(Op op) noexcept;

/// One service of an allocate_all request.
struct ServiceRequest {
  std::string service;
  Port port = 0;        ///< 0 = auto-assign
  bool prefer = false;  ///< `port` is only a preference (auto-assign when taken)
  std::string pool;
  std::string description;
};

/// A decoded request. Which fields are meaningful depends on `op`:
/// allocate: the AllocateRequest fields but allocated_by and prefer (port
///   0 = auto); check: port; list/release: filter (release also by
///   filter.id, sent as "allocation_id"); gc: dry_run; import: records,
///   replace; allocate_all: key.app, key.instance, worktree, services.
struct Request : AllocateRequest {
  std::uint64_t id = 0;
  std::uint32_t version = kProtocolVersion;
  Op op = Op::health;

  Filter filter;
  bool dry_run = false;
  std::vector<Allocation> records;
  std::vector<ServiceRequest> services;
};

/// Error from decoding a request. `request_id` is the request's id when it
/// could be read (0 otherwise). `fatal` is true when the bytes were not one
/// valid MessagePack map: the connection must be closed after the reply.
class DecodeError : public Error {
 public:
  DecodeError(ErrorCode code, const std::string& message, std::uint64_t request_id, bool fatal)
      : Error(code, message), request_id_(request_id), fatal_(fatal) {}
  std::uint64_t request_id() const noexcept { return request_id_; }
  bool fatal() const noexcept { return fatal_; }

 private:
  std::uint64_t request_id_;
  bool fatal_;
};

/// Decodes one request payload (without its length prefix). Unpack limits
/// (array/map/str sizes, depth) never exceed the payload size, so a small
/// payload cannot make msgpack allocate much (docs/internals.md, "msgpack-cxx").
/// Validates names, ports and filters. Throws DecodeError.
///
/// Fatal (DecodeError::fatal()) when the payload is not exactly one map:
/// truncated or invalid MessagePack, trailing bytes, ext values, nesting
/// deeper than 4 levels, more than 64 map entries or 100,000 array elements.
/// Not fatal, with the request's id: a bad field type, a string that is not
/// UTF-8, a missing "v", a failed validation, `unknown_op`,
/// `unsupported_version` ("v" above kProtocolVersion). Messages name the
/// field and quote the peer's bytes only escaped (escape_bytes).
/// Unknown keys, non-string keys and fields the op does not use are ignored;
/// of duplicate keys the last wins. "ttl" is limited to 100 years.
Request decode_request(std::string_view payload);

/// Appends one framed request to `out` (used by the client and tests). Packs
/// "v" (request.version), "id", "op" and only the fields meaningful for the
/// op; optional ones only when set (allocate's port when non-zero, ...).
void encode_request(std::string& out, const Request& request);

/// Appends a success response: a map with "id", "ok": true and the fields
/// that `fields(MapWriter&)` adds (it runs twice; see MapWriter::pack).
template <class Fields>
void encode_ok(std::string& out, std::uint64_t id, Fields&& fields) {
  FrameWriter w(out);
  pack_map(w.packer(), [&](MapWriter& m) {
    m.num("id", id);
    m.num("ok", true);
    fields(m);
  });
  w.finish();
}

/// Appends a success response: a map with "id", "ok": true and
/// `extra_fields` more key/value pairs that `body(pk)` packs. For replies
/// built by hand (tests); the daemon uses the MapWriter form above.
template <class Body>
void encode_ok(std::string& out, std::uint64_t id, std::uint32_t extra_fields, Body&& body) {
  FrameWriter w(out);
  Packer& pk = w.packer();
  pk.pack_map(2 + extra_fields);
  pack_key(pk, "id");
  pk.pack_uint64(id);
  pack_key(pk, "ok");
  pk.pack_true();
  body(pk);
  w.finish();
}

/// Appends an error response for `error` (with its holder/owner details).
void encode_error(std::string& out, std::uint64_t id, const Error& error);

/// A decoded response. `body` points into `handle` and is the whole map.
struct Response {
  std::uint64_t id = 0;
  bool ok = false;
  std::optional<Error> error;  ///< set when !ok
  msgpack::object_handle handle;
  const msgpack::object* body = nullptr;

  /// The value of `key` in the response map, or nullptr.
  const msgpack::object* find(std::string_view key) const noexcept;
};

/// Decodes one response payload (without prefix). Throws
/// Error(invalid_request) when it is not a response map. An error code this
/// build does not list becomes ErrorCode::unknown with its wire spelling
/// (Error::code_name()); "limit" (busy) is kept as Error::limit().
Response decode_response(std::string_view payload);

}  // namespace portd::proto
