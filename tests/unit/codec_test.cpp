// Request/response codec (portd-protocol(7)): round trips, malformed input,
// MessagePack preallocation bombs and field validation.
#include "proto/codec.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "proto/frame.hpp"

namespace portd::proto {
namespace {

// --- helpers ---------------------------------------------------------------------

/// Packs one MessagePack value with `body` and returns it without a prefix.
template <class F>
std::string packed(F&& body) {
  std::string out;
  FrameWriter w(out);
  body(w.packer());
  w.finish();
  EXPECT_EQ(read_frame_header(out.data()), out.size() - kFrameHeaderSize);
  return out.substr(kFrameHeaderSize);
}

/// A request map {"v": 1, "id": id, "op": op, ...} with `extra` more pairs
/// packed by `body`.
template <class F>
std::string request_map(std::uint64_t id, std::string_view op, std::uint32_t extra, F&& body) {
  return packed([&](Packer& pk) {
    pk.pack_map(3 + extra);
    pack_key(pk, "v");
    pk.pack_uint32(1);
    pack_key(pk, "id");
    pk.pack_uint64(id);
    pack_key(pk, "op");
    pack_string(pk, op);
    body(pk);
  });
}

std::string request_map(std::uint64_t id, std::string_view op) {
  return request_map(id, op, 0, [](Packer&) {});
}

std::string payload_of(const Request& r) {
  std::string out;
  encode_request(out, r);
  EXPECT_EQ(read_frame_header(out.data()), out.size() - kFrameHeaderSize);
  return out.substr(kFrameHeaderSize);
}

/// The DecodeError that decoding `payload` throws (fails the test if none).
DecodeError decode_failure(std::string_view payload) {
  try {
    Request r = decode_request(payload);
    ADD_FAILURE() << "decoded without error, op " << to_string(r.op);
  } catch (const DecodeError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-DecodeError: " << e.what();
  }
  return DecodeError(ErrorCode::internal, "no error", 0, false);
}

void expect_fatal(std::string_view payload, std::string_view message_part = "malformed request") {
  DecodeError e = decode_failure(payload);
  EXPECT_TRUE(e.fatal()) << e.what();
  EXPECT_EQ(e.code(), ErrorCode::invalid_request);
  EXPECT_NE(std::string_view(e.what()).find(message_part), std::string_view::npos) << e.what();
}

void expect_invalid(std::string_view payload, std::uint64_t id, std::string_view message,
                    ErrorCode code = ErrorCode::invalid_request) {
  DecodeError e = decode_failure(payload);
  EXPECT_FALSE(e.fatal()) << e.what();
  EXPECT_EQ(e.code(), code) << e.what();
  EXPECT_EQ(e.request_id(), id);
  EXPECT_EQ(std::string(e.what()), message);
}

Allocation sample_allocation(std::uint64_t id = 7, Port port = 5432) {
  Allocation a;
  a.id = id;
  a.app = "myapp";
  a.instance = "feature-x";
  a.service = "postgres";
  a.port = port;
  a.pool = "db";
  a.description = "main database";
  a.worktree = "/home/dev/src/myapp-feature-x";
  a.pid = 4242;
  a.allocated_by = "dev@laptop";
  a.created_at = 1738999445;  // 2025-02-08T07:24:05Z
  a.expires_at = 1739003045;
  return a;
}

void expect_same(const Request& a, const Request& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.pool, b.pool);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.worktree, b.worktree);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.ttl_seconds, b.ttl_seconds);
  EXPECT_EQ(a.replace, b.replace);
  EXPECT_EQ(a.force, b.force);
  EXPECT_EQ(a.filter.id, b.filter.id);
  EXPECT_EQ(a.filter.app, b.filter.app);
  EXPECT_EQ(a.filter.instance, b.filter.instance);
  EXPECT_EQ(a.filter.service, b.filter.service);
  EXPECT_EQ(a.filter.port, b.filter.port);
  EXPECT_EQ(a.dry_run, b.dry_run);
  EXPECT_EQ(a.records, b.records);
}

Request round_trip(const Request& r) {
  Request back = decode_request(payload_of(r));
  expect_same(r, back);
  return back;
}

// --- ops ---------------------------------------------------------------------------

TEST(Op, NamesRoundTrip) {
  const std::vector<std::pair<Op, std::string_view>> all = {
      {Op::allocate, "allocate"},
      {Op::allocate_all, "allocate_all"},
      {Op::check, "check"},
      {Op::export_, "export"},
      {Op::gc, "gc"},
      {Op::health, "health"},
      {Op::hello, "hello"},
      {Op::import, "import"},
      {Op::list, "list"},
      {Op::release, "release"},
      {Op::stats, "stats"},
      {Op::watch, "watch"},
  };
  for (auto [op, name] : all) {
    EXPECT_EQ(to_string(op), name);
    EXPECT_EQ(parse_op(name), op);
  }
  EXPECT_FALSE(parse_op("export_"));
  EXPECT_FALSE(parse_op(""));
  EXPECT_FALSE(parse_op("Allocate"));
  EXPECT_FALSE(parse_op("zzz"));
}

TEST(Op, Mutations) {
  EXPECT_TRUE(is_mutation(Op::allocate));
  EXPECT_TRUE(is_mutation(Op::release));
  EXPECT_TRUE(is_mutation(Op::gc));
  EXPECT_TRUE(is_mutation(Op::import));
  EXPECT_TRUE(is_mutation(Op::allocate_all));
  for (Op op : {Op::check, Op::export_, Op::health, Op::hello, Op::list, Op::stats, Op::watch}) {
    EXPECT_FALSE(is_mutation(op)) << to_string(op);
  }
}

// --- request round trips ---------------------------------------------------------------

TEST(RequestRoundTrip, FieldlessOps) {
  for (Op op : {Op::hello, Op::health, Op::stats, Op::export_, Op::watch}) {
    Request r;
    r.op = op;
    r.id = 100 + static_cast<int>(op);
    Request back = round_trip(r);
    EXPECT_EQ(back.op, op);
  }
}

TEST(RequestRoundTrip, AllocateWithEveryField) {
  Request r;
  r.op = Op::allocate;
  r.id = 0xfffffffffffffffful;
  r.key = {"myapp", "feature-x", "postgres"};
  r.port = 5432;
  r.pool = "db";
  r.description = "main database";
  r.worktree = "/home/dev/src/myapp";
  r.pid = 4000000000u;
  r.ttl_seconds = 3600;
  r.replace = true;
  r.force = true;
  round_trip(r);
}

TEST(RequestRoundTrip, AllocateMinimal) {
  Request r;
  r.op = Op::allocate;
  r.id = 1;
  r.key = {"a", "b", "c"};
  Request back = round_trip(r);
  EXPECT_EQ(back.port, 0);
  EXPECT_FALSE(back.replace);
}

TEST(RequestRoundTrip, Check) {
  Request r;
  r.op = Op::check;
  r.id = 9;
  r.port = 65535;
  round_trip(r);
  r.port = 1;
  round_trip(r);
}

TEST(RequestRoundTrip, ListWithAndWithoutFilter) {
  Request r;
  r.op = Op::list;
  r.id = 2;
  round_trip(r);
  r.filter.app = "myapp";
  r.filter.instance = "main";
  r.filter.service = "api";
  r.filter.port = 3000;
  r.filter.id = 17;
  round_trip(r);
}

TEST(RequestRoundTrip, ReleaseByIdAndByFilter) {
  Request r;
  r.op = Op::release;
  r.id = 3;
  r.filter.id = 42;
  Request back = round_trip(r);
  EXPECT_EQ(back.filter.id, 42u);

  Request f;
  f.op = Op::release;
  f.id = 4;
  f.filter.app = "myapp";
  f.filter.port = 8080;
  round_trip(f);
}

TEST(RequestRoundTrip, ReleaseSendsAllocationIdKey) {
  Request r;
  r.op = Op::release;
  r.filter.id = 42;
  std::string p = payload_of(r);
  msgpack::object_handle oh = msgpack::unpack(p.data(), p.size());
  const msgpack::object* v = map_find(oh.get(), "allocation_id");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->as<std::uint64_t>(), 42u);
  EXPECT_EQ(map_find(oh.get(), "id")->as<std::uint64_t>(), 0u);
}

TEST(RequestRoundTrip, Gc) {
  Request r;
  r.op = Op::gc;
  r.id = 5;
  round_trip(r);
  r.dry_run = true;
  round_trip(r);
}

TEST(RequestRoundTrip, Import) {
  Request r;
  r.op = Op::import;
  r.id = 6;
  round_trip(r);  // empty list
  r.records.push_back(sample_allocation(1, 3000));
  Allocation b = sample_allocation(2, 3001);
  b.expires_at = 0;
  b.pool.clear();
  b.description.clear();
  b.worktree.clear();
  b.pid = 0;
  r.records.push_back(b);
  r.replace = true;
  Request back = round_trip(r);
  ASSERT_EQ(back.records.size(), 2u);
  EXPECT_EQ(back.records[1].expires_at, 0);
}

TEST(RequestDecode, MinimalMapDefaultsId) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "v");
    pk.pack_uint32(1);
    pack_key(pk, "op");
    pack_string(pk, "health");
  });
  Request r = decode_request(p);
  EXPECT_EQ(r.op, Op::health);
  EXPECT_EQ(r.id, 0u);
  EXPECT_EQ(r.version, 1u);
}

TEST(RequestInvalid, MissingVersion) {
  // portd-protocol(7): "v" is required; without it the request is answered
  // (with its id), not guessed to be version 1.
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "id");
    pk.pack_uint64(9);
    pack_key(pk, "op");
    pack_string(pk, "health");
  });
  expect_invalid(p, 9, "field 'v' is required");
}

TEST(RequestDecode, UnknownFieldsAreIgnored) {
  std::string p = request_map(77, "check", 4, [](Packer& pk) {
    pack_key(pk, "port");
    pk.pack_uint16(3000);
    pack_key(pk, "colour");
    pk.pack_array(2);
    pk.pack_int(1);
    pk.pack_nil();
    pk.pack_int(5);  // a non-string key
    pack_string(pk, "x");
    pack_key(pk, "app");  // known, but not a field of check
    pk.pack_int(12);
  });
  Request r = decode_request(p);
  EXPECT_EQ(r.op, Op::check);
  EXPECT_EQ(r.id, 77u);
  EXPECT_EQ(r.port, 3000);
  EXPECT_TRUE(r.key.app.empty());
}

TEST(RequestDecode, AllocatePortZeroMeansAuto) {
  std::string p = request_map(1, "allocate", 4, [](Packer& pk) {
    pack_key(pk, "app");
    pack_string(pk, "a");
    pack_key(pk, "instance");
    pack_string(pk, "b");
    pack_key(pk, "service");
    pack_string(pk, "c");
    pack_key(pk, "port");
    pk.pack_int(0);
  });
  EXPECT_EQ(decode_request(p).port, 0);
}

TEST(RequestDecode, SignedEncodingOfPositiveIntegersIsAccepted) {
  // Some encoders write small non-negative numbers as int8/int16.
  std::string p = request_map(1, "check", 1, [](Packer& pk) {
    pack_key(pk, "port");
    pk.pack_fix_int16(8080);
  });
  EXPECT_EQ(decode_request(p).port, 8080);
}

TEST(RequestDecode, DuplicateKeysLastOneWins) {
  std::string p = request_map(1, "check", 2, [](Packer& pk) {
    pack_key(pk, "port");
    pk.pack_uint16(1000);
    pack_key(pk, "port");
    pk.pack_uint16(2000);
  });
  EXPECT_EQ(decode_request(p).port, 2000);
}

// --- malformed bytes: fatal ------------------------------------------------------

TEST(RequestMalformed, EmptyPayload) {
  expect_fatal("", "truncated");
}

TEST(RequestMalformed, TruncatedAtEveryLength) {
  Request r;
  r.op = Op::allocate;
  r.id = 5;
  r.key = {"myapp", "main", "web"};
  r.description = "x";
  const std::string p = payload_of(r);
  for (std::size_t n = 0; n < p.size(); ++n) {
    DecodeError e = decode_failure(std::string_view(p).substr(0, n));
    EXPECT_TRUE(e.fatal()) << "length " << n;
    EXPECT_EQ(e.request_id(), 0u);
  }
}

TEST(RequestMalformed, NotAMap) {
  expect_fatal(packed([](Packer& pk) {
                 pk.pack_array(2);
                 pack_string(pk, "op");
                 pack_string(pk, "health");
               }),
               "expected a map, got an array");
  expect_fatal(packed([](Packer& pk) { pk.pack_int(42); }), "expected a map, got an integer");
  expect_fatal(packed([](Packer& pk) { pack_string(pk, "health"); }),
               "expected a map, got a string");
  expect_fatal(packed([](Packer& pk) { pk.pack_nil(); }), "expected a map, got nil");
}

TEST(RequestMalformed, TrailingBytes) {
  std::string p = request_map(3, "health") + '\xc0';
  expect_fatal(p, "1 trailing bytes");
  expect_fatal(request_map(3, "health") + request_map(4, "health"), "trailing");
}

TEST(RequestMalformed, InvalidByte) {
  expect_fatal(std::string("\xc1", 1), "invalid MessagePack");
}

TEST(RequestMalformed, ExtIsRejected) {
  // {"op": "health", "x": fixext1}
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "op");
    pack_string(pk, "health");
    pack_key(pk, "x");
    pk.pack_ext(1, 5);
    pk.pack_ext_body("a", 1);
  });
  expect_fatal(p, "ext");
}

TEST(RequestMalformed, DeepNestingFailsFast) {
  std::string p(100000, '\x91');  // 10^5 nested one-element arrays
  p += '\xc0';
  auto start = std::chrono::steady_clock::now();
  expect_fatal(p, "nested too deeply");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));

  std::string maps;
  for (int i = 0; i < 100000; ++i) maps += "\x81\xa1k";  // {"k": {"k": ...}}
  maps += '\xc0';
  expect_fatal(maps, "nested too deeply");
}

TEST(RequestMalformed, UnknownFieldNestedBeyondDepthIsFatal) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "op");
    pack_string(pk, "health");
    pack_key(pk, "x");
    for (int i = 0; i < 4; ++i) pk.pack_array(1);
    pk.pack_nil();
  });
  expect_fatal(p, "nested too deeply");
}

// The 5-byte preallocation bombs of msgpack/msgpack-c#1013 and #985: with
// default limits they make msgpack-cxx allocate 96 GiB before reading on.
TEST(RequestBombs, Array32Header) {
  expect_fatal(std::string("\xdd\xff\xff\xff\xff", 5), "array too long");
}

TEST(RequestBombs, Map32Header) {
  expect_fatal(std::string("\xdf\xff\xff\xff\xff", 5), "map has too many entries");
}

TEST(RequestBombs, Str32AndBin32Headers) {
  expect_fatal(std::string("\xdb\xff\xff\xff\xff", 5), "malformed request");
  expect_fatal(std::string("\xc6\xff\xff\xff\xff", 5), "malformed request");
}

TEST(RequestBombs, NestedArray16Headers) {
  std::string p;
  for (int i = 0; i < 20000; ++i) p += "\xdc\xff\xff";
  expect_fatal(p, "array too long");
}

TEST(RequestBombs, NestedArray16HeadersInAMaximalFrame) {
  // Here 65535 elements fit under the size cap; depth stops the nesting.
  std::string p;
  while (p.size() + 3 <= kDefaultMaxFrame) p += "\xdc\xff\xff";
  expect_fatal(p);
}

TEST(RequestBombs, BombInsideARequestMap) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "op");
    pack_string(pk, "import");
    pack_key(pk, "allocations");
  });
  expect_fatal(p + std::string("\xdd\xff\xff\xff\xff", 5), "array too long");
  expect_fatal(p + std::string("\xdf\x00\x01\x00\x00", 5), "map has too many entries");
}

// --- well-formed maps with bad fields: not fatal -------------------------------------

TEST(RequestInvalid, UnknownOp) {
  expect_invalid(request_map(12, "frobnicate"), 12, "unknown op 'frobnicate'",
                 ErrorCode::unknown_op);
}

TEST(RequestInvalid, UnknownOpNameIsTruncatedInTheMessage) {
  DecodeError e = decode_failure(request_map(1, std::string(1000, 'z')));
  EXPECT_EQ(e.code(), ErrorCode::unknown_op);
  EXPECT_LT(std::string_view(e.what()).size(), 100u);
}

TEST(RequestInvalid, MissingOp) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "v");
    pk.pack_uint32(1);
    pack_key(pk, "id");
    pk.pack_uint64(8);
  });
  expect_invalid(p, 8, "field 'op' is required");
}

TEST(RequestInvalid, NewerVersion) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(3);
    pack_key(pk, "v");
    pk.pack_int(2);
    pack_key(pk, "id");
    pk.pack_uint64(31);
    pack_key(pk, "op");
    pack_string(pk, "teleport");  // a v2 op: the version is what matters
  });
  expect_invalid(p, 31, "unsupported protocol version 2 (this portd speaks 1)",
                 ErrorCode::unsupported_version);
}

TEST(RequestInvalid, NonPositiveVersion) {
  for (int v : {0, -1}) {
    std::string p = packed([&](Packer& pk) {
      pk.pack_map(3);
      pack_key(pk, "v");
      pk.pack_int(v);
      pack_key(pk, "id");
      pk.pack_uint64(2);
      pack_key(pk, "op");
      pack_string(pk, "health");
    });
    expect_invalid(p, 2, "field 'v' must be a positive integer");
  }
}

TEST(RequestInvalid, WrongFieldTypesKeepTheRequestId) {
  expect_invalid(request_map(41, "check", 1,
                             [](Packer& pk) {
                               pack_key(pk, "port");
                               pack_string(pk, "3000");
                             }),
                 41, "field 'port' must be an integer");
  expect_invalid(request_map(42, "allocate", 1,
                             [](Packer& pk) {
                               pack_key(pk, "app");
                               pk.pack_int(1);
                             }),
                 42, "field 'app' must be a string");
  expect_invalid(request_map(43, "gc", 1,
                             [](Packer& pk) {
                               pack_key(pk, "dry_run");
                               pk.pack_int(1);
                             }),
                 43, "field 'dry_run' must be a boolean");
  expect_invalid(request_map(44, "release", 1,
                             [](Packer& pk) {
                               pack_key(pk, "allocation_id");
                               pk.pack_int(-3);
                             }),
                 44, "field 'allocation_id' must be a non-negative integer");
  expect_invalid(request_map(45, "import", 1,
                             [](Packer& pk) {
                               pack_key(pk, "allocations");
                               pk.pack_map(0);
                             }),
                 45, "field 'allocations' must be an array");
  expect_invalid(request_map(46, "check", 1,
                             [](Packer& pk) {
                               pack_key(pk, "port");
                               pk.pack_double(3000.5);  // integral doubles are packed as ints
                             }),
                 46, "field 'port' must be an integer");
}

TEST(RequestInvalid, BadIdTypeReportsIdZero) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "id");
    pack_string(pk, "seven");
    pack_key(pk, "op");
    pack_string(pk, "health");
  });
  expect_invalid(p, 0, "field 'id' must be a non-negative integer");
  std::string op = packed([](Packer& pk) {
    pk.pack_map(3);
    pack_key(pk, "v");
    pk.pack_uint32(1);
    pack_key(pk, "id");
    pk.pack_uint64(3);
    pack_key(pk, "op");
    pk.pack_true();
  });
  expect_invalid(op, 3, "field 'op' must be a string");
}

/// An allocate request with the given key, plus `extra` packed by `body`.
template <class F>
std::string allocate_map(std::string_view app, std::string_view instance, std::string_view service,
                         std::uint32_t extra, F&& body) {
  return request_map(50, "allocate", 3 + extra, [&](Packer& pk) {
    pack_key(pk, "app");
    pack_string(pk, app);
    pack_key(pk, "instance");
    pack_string(pk, instance);
    pack_key(pk, "service");
    pack_string(pk, service);
    body(pk);
  });
}

std::string allocate_map(std::string_view app, std::string_view instance,
                         std::string_view service) {
  return allocate_map(app, instance, service, 0, [](Packer&) {});
}

TEST(RequestValidation, Names) {
  expect_invalid(allocate_map("my/app", "main", "web"), 50,
                 "invalid app 'my/app': use 1-64 characters of A-Z a-z 0-9 . _ -");
  expect_invalid(
      allocate_map("myapp", std::string(65, 'i'), "web"), 50,
      "invalid instance '" + std::string(65, 'i') + "': use 1-64 characters of A-Z a-z 0-9 . _ -");
  expect_invalid(allocate_map("myapp", "main", ""), 50, "service is required");
  EXPECT_NO_THROW(decode_request(allocate_map(std::string(64, 'a'), "m.a_i-n", "WEB9")));
  std::string missing = request_map(51, "allocate", 2, [](Packer& pk) {
    pack_key(pk, "app");
    pack_string(pk, "a");
    pack_key(pk, "service");
    pack_string(pk, "c");
  });
  expect_invalid(missing, 51, "instance is required");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "pool");
                                pack_string(pk, "no pool");
                              }),
                 50, "invalid pool 'no pool': use 1-64 characters of A-Z a-z 0-9 . _ -");
}

TEST(RequestValidation, AllocatePort) {
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "port");
                                pk.pack_int(65536);
                              }),
                 50, "invalid port 65536: ports are 1-65535");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "port");
                                pk.pack_int(-1);
                              }),
                 50, "invalid port -1: ports are 1-65535");
}

TEST(RequestValidation, AllocateNumbersAndText) {
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "pid");
                                pk.pack_uint64(1ull << 32);
                              }),
                 50, "field 'pid' must be an unsigned 32-bit integer");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "ttl");
                                pk.pack_int(-5);
                              }),
                 50,
                 "field 'ttl' is out of range: -5 seconds (0 to 3162240000 seconds, 100 years)");
  // 2^64-1 is reported as sent, not as the int64 it saturates to.
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "ttl");
                                pk.pack_uint64(~0ull);
                              }),
                 50,
                 "field 'ttl' is out of range: 18446744073709551615 seconds (0 to 3162240000 "
                 "seconds, 100 years)");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "port");
                                pk.pack_uint64(~0ull);
                              }),
                 50, "invalid port 18446744073709551615: ports are 1-65535");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "description");
                                pack_string(pk, std::string(4097, 'd'));
                              }),
                 50, "description is too long: 4097 bytes (at most 4096)");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "worktree");
                                pack_string(pk, std::string("/a\0b", 4));
                              }),
                 50, "worktree contains a NUL byte");
  expect_invalid(allocate_map("a", "b", "c", 1,
                              [](Packer& pk) {
                                pack_key(pk, "force");
                                pack_string(pk, "yes");
                              }),
                 50, "field 'force' must be a boolean");
}

TEST(RequestValidation, CheckPort) {
  auto check = [](auto value) {
    return request_map(60, "check", 1, [&](Packer& pk) {
      pack_key(pk, "port");
      pk.pack(value);
    });
  };
  expect_invalid(check(0), 60, "invalid port 0: ports are 1-65535");
  expect_invalid(check(65536), 60, "invalid port 65536: ports are 1-65535");
  expect_invalid(check(-1), 60, "invalid port -1: ports are 1-65535");
  expect_invalid(request_map(61, "check"), 61, "field 'port' is required");
  EXPECT_EQ(decode_request(check(65535)).port, 65535);
}

TEST(RequestValidation, ReleaseNeedsAFilter) {
  expect_invalid(request_map(70, "release"), 70,
                 "release needs allocation_id or at least one of app, instance, service, port");
  std::string only_app = request_map(71, "release", 1, [](Packer& pk) {
    pack_key(pk, "app");
    pack_string(pk, "myapp");
  });
  Request r = decode_request(only_app);
  EXPECT_EQ(r.filter.app, "myapp");
  EXPECT_FALSE(r.filter.instance);
}

TEST(RequestValidation, FilterFields) {
  expect_invalid(request_map(72, "list", 1,
                             [](Packer& pk) {
                               pack_key(pk, "service");
                               pack_string(pk, "a b");
                             }),
                 72, "invalid service 'a b': use 1-64 characters of A-Z a-z 0-9 . _ -");
  expect_invalid(request_map(73, "release", 1,
                             [](Packer& pk) {
                               pack_key(pk, "port");
                               pk.pack_int(0);
                             }),
                 73, "invalid port 0: ports are 1-65535");
  // A list without filter fields lists everything.
  EXPECT_TRUE(decode_request(request_map(74, "list")).filter.empty());
}

TEST(RequestValidation, ImportRecordsNameTheBadOne) {
  std::string p = request_map(80, "import", 1, [](Packer& pk) {
    pack_key(pk, "allocations");
    pk.pack_array(2);
    pack_allocation(pk, sample_allocation(1, 3000));
    pack_allocation(pk, sample_allocation(2, 0));
  });
  expect_invalid(p, 80, "allocations[1]: invalid port 0: ports are 1-65535");
  std::string not_map = request_map(81, "import", 1, [](Packer& pk) {
    pack_key(pk, "allocations");
    pk.pack_array(1);
    pk.pack_int(1);
  });
  expect_invalid(not_map, 81, "allocations[0]: allocation must be a map, not an integer");
  expect_invalid(request_map(82, "import"), 82, "field 'allocations' is required");
}

// --- allocations ----------------------------------------------------------------------

msgpack::object_handle unpack_all(const std::string& bytes) {
  return msgpack::unpack(bytes.data(), bytes.size());
}

TEST(AllocationCodec, RoundTripsEveryField) {
  Allocation a = sample_allocation();
  std::string bytes = packed([&](Packer& pk) { pack_allocation(pk, a); });
  auto oh = unpack_all(bytes);
  EXPECT_EQ(unpack_allocation(oh.get()), a);
  EXPECT_EQ(map_find(oh.get(), "created_at")->as<std::string>(), "2025-02-08T07:24:05Z");
  EXPECT_EQ(map_find(oh.get(), "expires_at")->as<std::string>(), "2025-02-08T08:24:05Z");
}

TEST(AllocationCodec, OmitsExpiresAtWithoutLease) {
  Allocation a = sample_allocation();
  a.expires_at = 0;
  std::string bytes = packed([&](Packer& pk) { pack_allocation(pk, a); });
  auto oh = unpack_all(bytes);
  EXPECT_EQ(map_find(oh.get(), "expires_at"), nullptr);
  EXPECT_EQ(oh.get().via.map.size, 11u);
  EXPECT_EQ(unpack_allocation(oh.get()), a);
}

TEST(AllocationCodec, AcceptsIntegerTimesAndOffsets) {
  std::string bytes = packed([](Packer& pk) {
    pk.pack_map(6);
    pack_key(pk, "app");
    pack_string(pk, "a");
    pack_key(pk, "instance");
    pack_string(pk, "b");
    pack_key(pk, "service");
    pack_string(pk, "c");
    pack_key(pk, "port");
    pk.pack_uint16(4000);
    pack_key(pk, "created_at");
    pk.pack_int64(1000);
    pack_key(pk, "expires_at");
    pack_string(pk, "1970-01-01T01:00:00+01:00");
  });
  auto oh = unpack_all(bytes);
  Allocation a = unpack_allocation(oh.get());
  EXPECT_EQ(a.created_at, 1000);
  EXPECT_EQ(a.expires_at, 0);
  EXPECT_EQ(a.id, 0u);
}

TEST(AllocationCodec, RejectsBadTimes) {
  auto with_created = [](auto value) {
    return packed([&](Packer& pk) {
      pk.pack_map(5);
      pack_key(pk, "app");
      pack_string(pk, "a");
      pack_key(pk, "instance");
      pack_string(pk, "b");
      pack_key(pk, "service");
      pack_string(pk, "c");
      pack_key(pk, "port");
      pk.pack_uint16(4000);
      pack_key(pk, "created_at");
      pk.pack(value);
    });
  };
  auto message = [](const std::string& bytes) -> std::string {
    auto oh = msgpack::unpack(bytes.data(), bytes.size());
    try {
      unpack_allocation(oh.get());
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_request);
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message(with_created(std::string("yesterday"))),
            "field 'created_at' must be an RFC 3339 time");
  EXPECT_EQ(message(with_created(-1)), "field 'created_at' is out of range (1970 to 9999)");
  EXPECT_EQ(message(with_created(true)),
            "field 'created_at' must be an RFC 3339 time or integer seconds");
}

// --- responses ------------------------------------------------------------------------

TEST(ResponseCodec, OkWithAllocation) {
  Allocation a = sample_allocation();
  std::string out;
  encode_ok(out, 99, 2, [&](Packer& pk) {
    pack_key(pk, "allocation");
    pack_allocation(pk, a);
    pack_key(pk, "created");
    pk.pack_true();
  });
  ASSERT_EQ(read_frame_header(out.data()), out.size() - kFrameHeaderSize);
  Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  EXPECT_EQ(r.id, 99u);
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.error);
  ASSERT_NE(r.find("allocation"), nullptr);
  EXPECT_EQ(unpack_allocation(*r.find("allocation")), a);
  ASSERT_NE(r.find("created"), nullptr);
  EXPECT_TRUE(r.find("created")->as<bool>());
  EXPECT_EQ(r.find("missing"), nullptr);
}

TEST(ResponseCodec, OutlivesTheInputAndSurvivesMoves) {
  std::string out;
  encode_ok(out, 5, 1, [](Packer& pk) {
    pack_key(pk, "name");
    pack_string(pk, "a string long enough to be copied, not inlined");
  });
  auto decode = [&] {
    std::string copy = out.substr(kFrameHeaderSize);
    return decode_response(copy);  // `copy` dies here
  };
  Response r = decode();
  Response moved = std::move(r);
  std::vector<Response> many;
  many.push_back(std::move(moved));
  many.resize(10);  // reallocates
  ASSERT_NE(many[0].find("name"), nullptr);
  EXPECT_EQ(many[0].find("name")->as<std::string>(),
            "a string long enough to be copied, not inlined");
}

TEST(ResponseCodec, ErrorWithHolder) {
  Allocation holder = sample_allocation(3, 3000);
  std::string out;
  encode_error(out, 17, Error(ErrorCode::port_taken, "port 3000 is allocated", holder));
  Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  EXPECT_EQ(r.id, 17u);
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::port_taken);
  EXPECT_STREQ(r.error->what(), "port 3000 is allocated");
  ASSERT_TRUE(r.error->holder());
  EXPECT_EQ(*r.error->holder(), holder);
  EXPECT_FALSE(r.error->owner());
}

TEST(ResponseCodec, ErrorWithOwner) {
  std::string out;
  Error e(ErrorCode::port_in_use, "port 8080 is in use by postgres (pid 1234)");
  e.with_owner({1234, "postgres"});
  encode_error(out, 18, e);
  Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::port_in_use);
  ASSERT_TRUE(r.error->owner());
  EXPECT_EQ(r.error->owner()->pid, 1234u);
  EXPECT_EQ(r.error->owner()->command, "postgres");
  EXPECT_FALSE(r.error->holder());
  // The wire shape: {"id", "ok": false, "error": {"code", "message", "pid", "command"}}.
  const msgpack::object* err = r.find("error");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(map_find(*err, "code")->as<std::string>(), "port_in_use");
  EXPECT_EQ(map_find(*err, "pid")->as<std::uint32_t>(), 1234u);
}

TEST(ResponseCodec, ErrorWithHolderAndOwner) {
  std::string out;
  Error e(ErrorCode::port_taken, "taken", sample_allocation());
  e.with_owner({0, ""});
  encode_error(out, 1, e);
  Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.error->holder());
  ASSERT_TRUE(r.error->owner());
  EXPECT_EQ(r.error->owner()->pid, 0u);
}

TEST(ResponseCodec, DecodeErrorResponsesForEveryCode) {
  for (std::size_t c = 0; c < kErrorCodeCount; ++c) {
    auto code = static_cast<ErrorCode>(c);
    std::string out;
    encode_error(out, 1, Error(code, "m"));
    Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code(), code);
  }
}

TEST(ResponseCodec, UnknownErrorCodeKeepsItsName) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(3);
    pack_key(pk, "id");
    pk.pack_uint64(4);
    pack_key(pk, "ok");
    pk.pack_false();
    pack_key(pk, "error");
    pk.pack_map(2);
    pack_key(pk, "code");
    pack_string(pk, "quota_exceeded");
    pack_key(pk, "message");
    pack_string(pk, "too many allocations");
  });
  Response r = decode_response(p);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::unknown);
  EXPECT_EQ(r.error->code_name(), "quota_exceeded");
  EXPECT_STREQ(r.error->what(), "too many allocations");

  // Passed on (a proxy, a test double), the code keeps its spelling.
  std::string out;
  encode_error(out, 4, *r.error);
  Response again = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  ASSERT_TRUE(again.error);
  EXPECT_EQ(again.error->code_name(), "quota_exceeded");
}

TEST(ResponseCodec, BusyCarriesTheConnectionLimit) {
  std::string out;
  encode_error(out, 0, Error(ErrorCode::busy, "too many connections").with_limit(512));
  Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  EXPECT_EQ(r.id, 0u);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::busy);
  ASSERT_TRUE(r.error->limit());
  EXPECT_EQ(*r.error->limit(), 512u);
}

TEST(ErrorList, NamesRoundTripAndOnlyBusyIsRetryable) {
  for (std::size_t c = 0; c < kErrorCodeCount; ++c) {
    auto code = static_cast<ErrorCode>(c);
    EXPECT_EQ(parse_error_code(to_string(code)), code);
    EXPECT_EQ(exit_status(code), 1) << to_string(code);
    EXPECT_EQ(is_retryable(code), code == ErrorCode::busy) << to_string(code);
  }
  EXPECT_EQ(parse_error_code("unknown"), std::nullopt);
  EXPECT_EQ(Error("port_taken", "m").code(), ErrorCode::port_taken);
}

TEST(ResponseCodec, FailureWithoutErrorMap) {
  std::string p = packed([](Packer& pk) {
    pk.pack_map(2);
    pack_key(pk, "id");
    pk.pack_uint64(4);
    pack_key(pk, "ok");
    pk.pack_false();
  });
  Response r = decode_response(p);
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::internal);
}

TEST(ResponseCodec, MalformedResponsesThrowInvalidRequest) {
  auto code_of = [](std::string_view p) -> std::optional<ErrorCode> {
    try {
      decode_response(p);
    } catch (const Error& e) {
      return e.code();
    }
    return std::nullopt;
  };
  EXPECT_EQ(code_of(""), ErrorCode::invalid_request);
  EXPECT_EQ(code_of(std::string("\xdd\xff\xff\xff\xff", 5)), ErrorCode::invalid_request);
  EXPECT_EQ(code_of(std::string("\xdf\xff\xff\xff\xff", 5)), ErrorCode::invalid_request);
  EXPECT_EQ(code_of(packed([](Packer& pk) { pk.pack_int(1); })), ErrorCode::invalid_request);
  EXPECT_EQ(code_of(packed([](Packer& pk) {
              pk.pack_map(1);
              pack_key(pk, "id");
              pk.pack_uint64(1);
            })),
            ErrorCode::invalid_request);  // no "ok"
  std::string good;
  encode_ok(good, 1, 0, [](Packer&) {});
  EXPECT_EQ(code_of(good.substr(kFrameHeaderSize) + "\x01"), ErrorCode::invalid_request);
}

TEST(ResponseCodec, LargeListWithinLimits) {
  std::string out;
  const std::uint32_t n = 50000;
  Allocation a = sample_allocation();
  encode_ok(out, 1, 1, [&](Packer& pk) {
    pack_key(pk, "allocations");
    pk.pack_array(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      a.id = i + 1;
      pack_allocation(pk, a);
    }
  });
  ASSERT_LE(out.size(), kMaxResponseFrame);
  Response r = decode_response(std::string_view(out).substr(kFrameHeaderSize));
  const msgpack::object* list = r.find("allocations");
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->via.array.size, n);
  EXPECT_EQ(unpack_allocation(list->via.array.ptr[n - 1]).id, n);
}

TEST(FrameWriter, AppendsAfterExistingBytes) {
  std::string out = "prefix";
  encode_error(out, 1, Error(ErrorCode::not_found, "no allocation 9"));
  std::string_view framed = std::string_view(out).substr(6);
  EXPECT_EQ(read_frame_header(framed.data()), framed.size() - kFrameHeaderSize);
  Response r = decode_response(framed.substr(kFrameHeaderSize));
  EXPECT_EQ(r.error->code(), ErrorCode::not_found);
}

// --- UTF-8 (MessagePack str is UTF-8) ----------------------------------------------

TEST(RequestUtf8, InvalidTextIsRejectedNamingTheField) {
  for (std::string_view field : {"description", "worktree"}) {
    for (std::string bad : {std::string("caf\xc3", 4), std::string("\xff\xfe"),
                            std::string("\xc0\xaf"),             // overlong '/'
                            std::string("\xed\xa0\x80"),         // a surrogate
                            std::string("\xf4\x90\x80\x80")}) {  // above U+10FFFF
      DecodeError e = decode_failure(allocate_map("a", "b", "c", 1, [&](Packer& pk) {
        pack_key(pk, field);
        pack_string(pk, bad);
      }));
      EXPECT_FALSE(e.fatal());
      EXPECT_EQ(e.code(), ErrorCode::invalid_request);
      EXPECT_EQ(std::string(e.what()), fmt::format("field '{}' is not valid UTF-8", field));
    }
  }
}

TEST(RequestUtf8, ValidTextIsKept) {
  std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80";  // é € U+1F680
  Request r = decode_request(allocate_map("a", "b", "c", 1, [&](Packer& pk) {
    pack_key(pk, "description");
    pack_string(pk, text);
  }));
  EXPECT_EQ(r.description, text);
}

TEST(RequestUtf8, ImportRecordsAreChecked) {
  Allocation a;
  a.app = "a";
  a.instance = "b";
  a.service = "c";
  a.port = 3000;
  a.worktree = std::string("/w\x80", 3);
  Request r;
  r.op = Op::import;
  r.records.push_back(a);
  expect_invalid(payload_of(r), 0, "allocations[0]: field 'worktree' is not valid UTF-8");
}

TEST(RequestUtf8, MessagesNeverEchoRawBytes) {
  // An invalid name made only of UTF-8 is quoted escaped; a non-UTF-8 one
  // is refused as such, without its bytes.
  DecodeError e = decode_failure(allocate_map("a", "b", std::string("w\x1b[2J\xc3\xa9")));
  EXPECT_EQ(std::string(e.what()),
            "invalid service 'w\\x1b[2J\\xc3\\xa9': use 1-64 characters of A-Z a-z 0-9 . _ -");
  e = decode_failure(allocate_map("a", "b", std::string("w\xff")));
  EXPECT_EQ(std::string(e.what()), "field 'service' is not valid UTF-8");
  e = decode_failure(request_map(3, std::string("bad\nop")));
  EXPECT_EQ(std::string(e.what()), "unknown op 'bad\\x0aop'");
}

}  // namespace
}  // namespace portd::proto
