// FrameDecoder and the frame header helpers (portd-protocol(7) "FRAMING").
#include "proto/frame.hpp"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/error.hpp"

namespace portd::proto {
namespace {

std::string frame(std::string_view payload) {
  std::string out;
  append_frame_header(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

std::string header(std::uint32_t length) {
  std::string out;
  append_frame_header(out, length);
  return out;
}

/// Drains every complete frame (copying each, since views are short-lived).
std::vector<std::string> drain(FrameDecoder& d) {
  std::vector<std::string> out;
  while (auto p = d.next()) out.emplace_back(*p);
  return out;
}

/// The error code next() throws, or nullopt when it does not throw.
std::optional<ErrorCode> next_error(FrameDecoder& d, std::string* message = nullptr) {
  try {
    d.next();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return std::nullopt;
}

const std::vector<std::string> kPayloads = {"a", std::string(300, 'x'), "hello, frame",
                                            std::string("\0\x01\xff", 3)};

std::string stream_of(const std::vector<std::string>& payloads) {
  std::string s;
  for (const auto& p : payloads) s += frame(p);
  return s;
}

TEST(FrameHeader, IsBigEndian) {
  std::string h = header(0x01020304);
  ASSERT_EQ(h.size(), kFrameHeaderSize);
  EXPECT_EQ(h, std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(read_frame_header(h.data()), 0x01020304u);
  EXPECT_EQ(read_frame_header("\xff\xff\xff\xff"), 0xffffffffu);
  EXPECT_EQ(read_frame_header(std::string(4, '\0').data()), 0u);
}

TEST(FrameHeader, PatchOverwritesInPlace) {
  std::string out = "ab";
  out.append(4, '\0');
  out += "payload";
  patch_frame_header(out, 2, 7);
  EXPECT_EQ(out.substr(0, 2), "ab");
  EXPECT_EQ(read_frame_header(out.data() + 2), 7u);
  EXPECT_EQ(out.substr(6), "payload");
}

TEST(FrameDecoder, EmptyDecoderHasNothing) {
  FrameDecoder d;
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_FALSE(d.mid_frame());
  EXPECT_EQ(d.max_frame(), kDefaultMaxFrame);
}

TEST(FrameDecoder, SplitAtEveryByteBoundary) {
  const std::string stream = stream_of(kPayloads);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder d;
    d.feed(std::string_view(stream).substr(0, cut));
    auto got = drain(d);
    d.feed(std::string_view(stream).substr(cut));
    auto rest = drain(d);
    got.insert(got.end(), rest.begin(), rest.end());
    ASSERT_EQ(got, kPayloads) << "cut at " << cut;
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(FrameDecoder, SplitTwiceAtEveryPairOfBoundaries) {
  const std::string stream = stream_of({"first", "second!"});
  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); ++b) {
      FrameDecoder d;
      std::vector<std::string> got;
      for (auto part :
           {std::string_view(stream).substr(0, a), std::string_view(stream).substr(a, b - a),
            std::string_view(stream).substr(b)}) {
        d.feed(part);
        for (auto& p : drain(d)) got.push_back(p);
      }
      ASSERT_EQ(got, (std::vector<std::string>{"first", "second!"})) << a << "," << b;
    }
  }
}

TEST(FrameDecoder, OneByteAtATime) {
  const std::string stream = stream_of(kPayloads);
  FrameDecoder d;
  std::vector<std::string> got;
  for (char c : stream) {
    d.feed(std::string_view(&c, 1));
    for (auto& p : drain(d)) got.push_back(p);
  }
  EXPECT_EQ(got, kPayloads);
  EXPECT_FALSE(d.mid_frame());
}

TEST(FrameDecoder, ManyFramesInOneBuffer) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 5000; ++i) payloads.push_back("request-" + std::to_string(i));
  FrameDecoder d;
  d.feed(stream_of(payloads));
  EXPECT_EQ(drain(d), payloads);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, MidFrameReportsPartialInput) {
  FrameDecoder d;
  d.feed(header(10).substr(0, 2));
  EXPECT_TRUE(d.mid_frame());
  EXPECT_FALSE(d.next());
  d.feed(header(10).substr(2));
  d.feed("12345");
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.buffered(), 9u);
  d.feed("67890");
  auto p = d.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "1234567890");
  EXPECT_FALSE(d.mid_frame());
}

TEST(FrameDecoder, PrepareCommitReadsInPlace) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 2000; ++i) payloads.push_back(std::string(1 + i % 700, char('a' + i % 26)));
  const std::string stream = stream_of(payloads);

  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> read_size(1, 4096);
  FrameDecoder d(1024);
  std::vector<std::string> got;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    // Like a libuv alloc_cb/read_cb pair: ask for 4 KiB, get fewer bytes.
    std::span<char> space = d.prepare(4096);
    ASSERT_GE(space.size(), 4096u);
    std::size_t n = std::min(read_size(rng), stream.size() - pos);
    std::memcpy(space.data(), stream.data() + pos, n);
    d.commit(n);
    pos += n;
    for (auto& p : drain(d)) got.push_back(p);
    // One partial frame plus one read at most.
    EXPECT_LE(d.buffered(), kFrameHeaderSize + 1024 + 4096);
  }
  EXPECT_EQ(got, payloads);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, PrepareKeepsUnconsumedBytes) {
  FrameDecoder d;
  std::string s = frame("abc") + frame("defgh").substr(0, 6);
  d.feed(s);
  ASSERT_EQ(*d.next(), "abc");
  // Compaction on prepare must carry the partial frame along.
  std::span<char> space = d.prepare(1 << 16);
  ASSERT_GE(space.size(), 1u << 16);
  std::memcpy(space.data(), "fgh", 3);
  d.commit(3);
  auto p = d.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "defgh");
}

TEST(FrameDecoder, CommitZeroIsHarmless) {
  FrameDecoder d;
  d.prepare(16);
  d.commit(0);
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, FrameOfExactlyMaxIsAccepted) {
  FrameDecoder d(1024);
  const std::string payload(1024, 'm');
  d.feed(frame(payload));
  auto p = d.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, payload);
}

TEST(FrameDecoder, OneByteOverMaxIsRejectedBeforeThePayload) {
  FrameDecoder d(1024);
  d.feed(header(1025));
  std::string message;
  EXPECT_EQ(next_error(d, &message), ErrorCode::frame_too_large);
  EXPECT_EQ(message, "frame of 1025 bytes exceeds the limit of 1024 bytes");
  // Nothing of the payload was needed to decide.
  EXPECT_EQ(d.buffered(), kFrameHeaderSize);
}

TEST(FrameDecoder, OversizedFrameAfterGoodOnesIsRejected) {
  FrameDecoder d(16);
  d.feed(frame("ok") + header(17) + "x");
  auto p = d.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "ok");
  EXPECT_EQ(next_error(d), ErrorCode::frame_too_large);
}

TEST(FrameDecoder, FourGiBLengthIsRejected) {
  FrameDecoder d;
  d.feed(std::string("\xff\xff\xff\xff", 4));
  std::string message;
  EXPECT_EQ(next_error(d, &message), ErrorCode::frame_too_large);
  EXPECT_EQ(message, "frame of 4294967295 bytes exceeds the limit of 1048576 bytes");
  EXPECT_EQ(d.buffered(), 4u);
}

TEST(FrameDecoder, ZeroLengthIsInvalid) {
  FrameDecoder d;
  d.feed(header(0));
  std::string message;
  EXPECT_EQ(next_error(d, &message), ErrorCode::invalid_request);
  EXPECT_EQ(message, "empty frame");
}

TEST(FrameDecoder, LargeFrameThenSmallOnesReusesTheBuffer) {
  FrameDecoder d;
  const std::string big(kDefaultMaxFrame, 'b');
  d.feed(frame(big));
  auto p = d.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size(), big.size());
  for (int i = 0; i < 100; ++i) {
    d.feed(frame("small"));
    ASSERT_EQ(*d.next(), "small");
  }
  EXPECT_EQ(d.buffered(), 0u);
}

}  // namespace
}  // namespace portd::proto
