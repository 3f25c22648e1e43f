// libportd-client's ErrorCode values are ABI: a program built against an
// earlier header compares code() with the numbers it was compiled with. These
// pins fail the build when an enumerator is inserted or reordered; new codes
// get the next free value here and at the end of the enum.
#include <gtest/gtest.h>

#include <cstdint>

#include "model/error.hpp"
#include "portd/client.hpp"

namespace {

using portd::client::ErrorCode;

constexpr std::uint8_t value(ErrorCode code) {
  return static_cast<std::uint8_t>(code);
}

static_assert(value(ErrorCode::invalid_request) == 0);
static_assert(value(ErrorCode::unsupported_version) == 1);
static_assert(value(ErrorCode::unknown_op) == 2);
static_assert(value(ErrorCode::port_taken) == 3);
static_assert(value(ErrorCode::port_in_use) == 4);
static_assert(value(ErrorCode::port_reserved) == 5);
static_assert(value(ErrorCode::key_exists) == 6);
static_assert(value(ErrorCode::not_found) == 7);
static_assert(value(ErrorCode::pool_exhausted) == 8);
static_assert(value(ErrorCode::frame_too_large) == 9);
static_assert(value(ErrorCode::permission_denied) == 10);
static_assert(value(ErrorCode::store_full) == 11);
static_assert(value(ErrorCode::internal) == 12);
static_assert(value(ErrorCode::unavailable) == 13);
static_assert(value(ErrorCode::bad_response) == 14);
static_assert(value(ErrorCode::unknown) == 15);
static_assert(value(ErrorCode::busy) == 16);

// Every code the daemon sends reaches the caller as its own enumerator, with
// the wire spelling kept, whatever its position in either enum.
TEST(ErrorCode, EveryDaemonCodeMapsByName) {
  for (std::size_t i = 0; i < portd::kErrorCodeCount; ++i) {
    auto wire = portd::to_string(static_cast<portd::ErrorCode>(i));
    portd::client::Error e{std::string(wire), "message"};
    EXPECT_NE(e.code(), ErrorCode::unknown) << wire;
    EXPECT_EQ(portd::client::to_string(e.code()), wire);
    EXPECT_EQ(e.code_name(), wire);
  }
}

TEST(ErrorCode, ClientSideAndUnknownCodes) {
  EXPECT_EQ(portd::client::to_string(ErrorCode::unavailable), "unavailable");
  EXPECT_EQ(portd::client::to_string(ErrorCode::bad_response), "bad_response");
  EXPECT_EQ(portd::client::to_string(ErrorCode::unknown), "unknown");
  portd::client::Error e{"from_the_future", "new code"};
  EXPECT_EQ(e.code(), ErrorCode::unknown);
  EXPECT_EQ(e.code_name(), "from_the_future");
}

}  // namespace
