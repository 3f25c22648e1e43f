#include "store/schema.hpp"

#include <fmt/format.h>

#include <limits>
#include <msgpack.hpp>

#include "model/error.hpp"

namespace portd::store::schema {
namespace {

constexpr std::uint32_t kAllocationFields = 13;
constexpr std::uint32_t kStickyFields = 3;
constexpr std::uint32_t kFrozenFields = 5;

// Records are written by us, but a damaged file must fail cleanly: bound
// every count so that a bogus array header cannot make msgpack allocate
// gigabytes (docs/internals.md, "msgpack-cxx"), and refuse maps, bin and ext outright.
const msgpack::unpack_limit kRecordLimit(/*array=*/16, /*map=*/0, /*str=*/1u << 16, /*bin=*/0,
                                         /*ext=*/0, /*depth=*/2);

[[noreturn]] void corrupt(std::string_view what, std::string_view detail) {
  throw Error(ErrorCode::internal, fmt::format("corrupt record {}: {}", what, detail));
}

template <typename T>
std::string encode_be(T value) {
  std::string out(sizeof(T), '\0');
  for (std::size_t i = sizeof(T); i-- > 0;) {
    out[i] = static_cast<char>(value & 0xff);
    value = static_cast<T>(value >> 8);
  }
  return out;
}

template <typename T>
T decode_be(std::string_view bytes, std::string_view what) {
  if (bytes.size() != sizeof(T)) {
    corrupt(what, fmt::format("expected {} bytes, found {}", sizeof(T), bytes.size()));
  }
  T value = 0;
  for (const char c : bytes) value = static_cast<T>((value << 8) | static_cast<unsigned char>(c));
  return value;
}

// Reads the fields of one record array in order, checking each type and
// range, so a decoder reads like the field list it implements.
class FieldReader {
 public:
  FieldReader(const msgpack::object& array, std::string_view what) : array_(array), what_(what) {}

  std::string str() {
    const msgpack::object& o = next();
    if (o.type != msgpack::type::STR) wrong_type("a string");
    return std::string(o.via.str.ptr, o.via.str.size);
  }

  template <typename T>
  T uint(std::uint64_t max = std::numeric_limits<T>::max()) {
    const msgpack::object& o = next();
    if (o.type != msgpack::type::POSITIVE_INTEGER) wrong_type("an unsigned integer");
    if (o.via.u64 > max) out_of_range(o.via.u64);
    return static_cast<T>(o.via.u64);
  }

  std::int64_t i64() {
    const msgpack::object& o = next();
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    if (o.type != msgpack::type::POSITIVE_INTEGER) wrong_type("an integer");
    if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      out_of_range(o.via.u64);
    }
    return static_cast<std::int64_t>(o.via.u64);
  }

 private:
  const msgpack::object& next() { return array_.via.array.ptr[index_++]; }
  [[noreturn]] void wrong_type(std::string_view expected) const {
    corrupt(what_, fmt::format("field {} is not {}", index_ - 1, expected));
  }
  [[noreturn]] void out_of_range(std::uint64_t value) const {
    corrupt(what_, fmt::format("field {} is out of range ({})", index_ - 1, value));
  }

  const msgpack::object& array_;
  std::string_view what_;
  std::uint32_t index_ = 0;
};

// Unpacks `bytes` as exactly one array of `fields` elements led by
// kRecordFormat, then hands a reader positioned after the format to `read`.
// The handle must outlive the reader (objects point into its zone), hence
// the callback shape.
template <typename Read>
auto decode_record(std::string_view bytes, std::uint32_t fields, std::string_view what,
                   Read&& read) {
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, kRecordLimit);
  } catch (const std::exception& e) {
    // msgpack throws unpack_error subclasses, but also bad_alloc/bad_cast.
    corrupt(what, fmt::format("invalid MessagePack ({})", e.what()));
  }
  if (offset != bytes.size()) corrupt(what, "trailing bytes after the record");
  const msgpack::object& array = handle.get();
  if (array.type != msgpack::type::ARRAY) corrupt(what, "not an array");
  if (array.via.array.size == 0) corrupt(what, "empty array");
  FieldReader reader(array, what);
  const auto format = reader.uint<std::uint32_t>();
  if (format != kRecordFormat) {
    corrupt(what,
            fmt::format("unknown record format {} (this portd writes {})", format, kRecordFormat));
  }
  if (array.via.array.size != fields) {
    corrupt(what, fmt::format("expected {} fields, found {}", fields, array.via.array.size));
  }
  return read(reader);
}

template <typename Write>
std::string encode_record(std::uint32_t fields, Write&& write) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(fields);
  packer.pack(kRecordFormat);
  write(packer);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace

std::string encode_u16(std::uint16_t value) {
  return encode_be(value);
}
std::string encode_u32(std::uint32_t value) {
  return encode_be(value);
}
std::string encode_u64(std::uint64_t value) {
  return encode_be(value);
}

std::uint16_t decode_u16(std::string_view bytes, std::string_view what) {
  return decode_be<std::uint16_t>(bytes, what);
}
std::uint32_t decode_u32(std::string_view bytes, std::string_view what) {
  return decode_be<std::uint32_t>(bytes, what);
}
std::uint64_t decode_u64(std::string_view bytes, std::string_view what) {
  return decode_be<std::uint64_t>(bytes, what);
}

std::string encode_key(const AllocationKey& key) {
  std::string out;
  out.reserve(key.app.size() + key.instance.size() + key.service.size() + 2);
  out.append(key.app).push_back('\0');
  out.append(key.instance).push_back('\0');
  out.append(key.service);
  return out;
}

AllocationKey decode_key(std::string_view bytes, std::string_view what) {
  const auto first = bytes.find('\0');
  const auto second = first == std::string_view::npos ? first : bytes.find('\0', first + 1);
  if (second == std::string_view::npos || bytes.find('\0', second + 1) != std::string_view::npos) {
    corrupt(what, "key is not app\\0instance\\0service");
  }
  return AllocationKey{std::string(bytes.substr(0, first)),
                       std::string(bytes.substr(first + 1, second - first - 1)),
                       std::string(bytes.substr(second + 1))};
}

std::string encode_allocation(const Allocation& a) {
  return encode_record(kAllocationFields, [&](auto& p) {
    p.pack(a.id);
    p.pack(a.app);
    p.pack(a.instance);
    p.pack(a.service);
    p.pack(a.port);
    p.pack(a.pool);
    p.pack(a.description);
    p.pack(a.worktree);
    p.pack(a.pid);
    p.pack(a.allocated_by);
    p.pack(a.created_at);
    p.pack(a.expires_at);
  });
}

Allocation decode_allocation(std::string_view bytes, std::string_view what) {
  return decode_record(bytes, kAllocationFields, what, [](FieldReader& r) {
    Allocation a;
    a.id = r.uint<std::uint64_t>();
    a.app = r.str();
    a.instance = r.str();
    a.service = r.str();
    a.port = r.uint<Port>();
    a.pool = r.str();
    a.description = r.str();
    a.worktree = r.str();
    a.pid = r.uint<std::uint32_t>();
    a.allocated_by = r.str();
    a.created_at = r.i64();
    a.expires_at = r.i64();
    return a;
  });
}

std::string encode_sticky(const StickyPort& sticky) {
  return encode_record(kStickyFields, [&](auto& p) {
    p.pack(sticky.port);
    p.pack(sticky.released_at);
  });
}

StickyPort decode_sticky(std::string_view bytes, std::string_view what) {
  return decode_record(bytes, kStickyFields, what, [](FieldReader& r) {
    StickyPort s;
    s.port = r.uint<Port>();
    s.released_at = r.i64();
    return s;
  });
}

std::string encode_frozen(const FrozenPort& frozen) {
  return encode_record(kFrozenFields, [&](auto& p) {
    p.pack(frozen.released_at);
    p.pack(frozen.key.app);
    p.pack(frozen.key.instance);
    p.pack(frozen.key.service);
  });
}

FrozenPort decode_frozen(Port port, std::string_view bytes, std::string_view what) {
  return decode_record(bytes, kFrozenFields, what, [port](FieldReader& r) {
    FrozenPort f;
    f.port = port;
    f.released_at = r.i64();
    f.key.app = r.str();
    f.key.instance = r.str();
    f.key.service = r.str();
    return f;
  });
}

}  // namespace portd::store::schema
