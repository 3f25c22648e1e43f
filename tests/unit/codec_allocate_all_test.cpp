// The allocate_all request (portd-protocol(7) "allocate_all"): round trip
// and the errors a bad request gets.
#include <string>

#include <gtest/gtest.h>

#include "proto/codec.hpp"
#include "proto/frame.hpp"

namespace portd::proto {
namespace {

std::string payload_of(const Request& r) {
  std::string out;
  encode_request(out, r);
  return out.substr(kFrameHeaderSize);
}

Request sample() {
  Request r;
  r.op = Op::allocate_all;
  r.id = 9;
  r.key.app = "myapp";
  r.key.instance = "feature-x";
  r.worktree = "/src/myapp-feature-x";
  r.services.push_back({"postgres", 5432, true, "db", "main database"});
  r.services.push_back({"web", 0, false, "", ""});
  return r;
}

TEST(AllocateAll, RoundTrip) {
  Request back = decode_request(payload_of(sample()));
  EXPECT_EQ(back.op, Op::allocate_all);
  EXPECT_EQ(back.id, 9u);
  EXPECT_EQ(back.key.app, "myapp");
  EXPECT_EQ(back.key.instance, "feature-x");
  EXPECT_EQ(back.worktree, "/src/myapp-feature-x");
  ASSERT_EQ(back.services.size(), 2u);
  EXPECT_EQ(back.services[0].service, "postgres");
  EXPECT_EQ(back.services[0].port, 5432);
  EXPECT_TRUE(back.services[0].prefer);
  EXPECT_EQ(back.services[0].pool, "db");
  EXPECT_EQ(back.services[0].description, "main database");
  EXPECT_EQ(back.services[1].service, "web");
  EXPECT_EQ(back.services[1].port, 0);
  EXPECT_FALSE(back.services[1].prefer);
}

std::string decode_error(const Request& r) {
  try {
    decode_request(payload_of(r));
  } catch (const DecodeError& e) {
    EXPECT_FALSE(e.fatal());
    EXPECT_EQ(e.code(), ErrorCode::invalid_request);
    EXPECT_EQ(e.request_id(), r.id);
    return e.what();
  }
  ADD_FAILURE() << "decoded without error";
  return "";
}

TEST(AllocateAll, RejectsBadRequests) {
  Request r = sample();
  r.services.clear();
  EXPECT_EQ(decode_error(r), "field 'requests' must be a non-empty array");
  r = sample();
  r.services[1].service = "bad name";
  EXPECT_NE(decode_error(r).find("requests[1]: "), std::string::npos);
  r = sample();
  r.key.app.clear();
  EXPECT_NE(decode_error(r).find("app"), std::string::npos);
  r = sample();
  r.services.assign(257, {"web", 0, false, "", ""});
  EXPECT_EQ(decode_error(r), "field 'requests' has more than 256 entries");
}

}  // namespace
}  // namespace portd::proto
