#include "proto/read.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "model/error.hpp"
#include "model/time.hpp"
#include "model/validate.hpp"
#include "proto/utf8.hpp"

namespace portd::proto {
namespace {

// 9999-12-31T23:59:59Z: the largest time RFC 3339 can spell.
constexpr std::int64_t kMaxTime = 253'402'300'799;

}  // namespace

void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_request, message);
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

std::string integer_text(const msgpack::object& o) {
  return o.type == msgpack::type::NEGATIVE_INTEGER ? fmt::format("{}", o.via.i64)
                                                   : fmt::format("{}", o.via.u64);
}

std::string_view as_string(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::STR) fail(fmt::format("field '{}' must be a string", field));
  return {o.via.str.ptr, o.via.str.size};
}

std::string_view as_utf8(const msgpack::object& o, std::string_view field) {
  std::string_view s = as_string(o, field);
  if (!is_valid_utf8(s)) fail(fmt::format("field '{}' is not valid UTF-8", field));
  return s;
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

double as_double(const msgpack::object& o, std::string_view field) {
  switch (o.type) {
    case msgpack::type::POSITIVE_INTEGER:
      return static_cast<double>(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return static_cast<double>(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    default:
      fail(fmt::format("field '{}' must be a number", field));
  }
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

std::uint16_t as_uint16(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::POSITIVE_INTEGER || o.via.u64 > 0xffffu) {
    fail(fmt::format("field '{}' must be an unsigned 16-bit integer", field));
  }
  return static_cast<std::uint16_t>(o.via.u64);
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

std::string as_name(const msgpack::object* o, std::string_view field) {
  std::string_view v = o ? as_utf8(*o, field) : std::string_view();
  validate_name(field, v);
  return std::string(v);
}

std::string as_text(const msgpack::object& o, std::string_view field, bool check_utf8) {
  std::string_view v = check_utf8 ? as_utf8(o, field) : as_string(o, field);
  validate_text(field, v);
  return std::string(v);
}

Port as_port(const msgpack::object& o, std::string_view field) {
  std::int64_t v = as_int(o, field);
  if (v > 65535) fail(fmt::format("invalid {} {}: ports are 1-65535", field, integer_text(o)));
  return validate_port(field, v);
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

}  // namespace portd::proto
