// Data model: names, ports, filters, error codes and RFC 3339 times.
#include <gtest/gtest.h>

#include <string>

#include "model/allocation.hpp"
#include "model/error.hpp"
#include "model/time.hpp"
#include "model/validate.hpp"

namespace portd {
namespace {

ErrorCode code_of(void (*fn)()) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no portd::Error thrown";
  return ErrorCode::internal;
}

TEST(Names, AcceptsTheDocumentedAlphabet) {
  EXPECT_TRUE(is_valid_name("myapp"));
  EXPECT_TRUE(is_valid_name("feature-auth_2.x"));
  EXPECT_TRUE(is_valid_name(std::string(64, 'a')));
}

TEST(Names, RejectsEverythingElse) {
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name(std::string(65, 'a')));
  EXPECT_FALSE(is_valid_name("feature/auth"));
  EXPECT_FALSE(is_valid_name("with space"));
  EXPECT_FALSE(is_valid_name("caf\xc3\xa9"));
  EXPECT_FALSE(is_valid_name(std::string("nul\0byte", 8)));
}

TEST(Names, ValidateNamesTheFieldAndTheRule) {
  try {
    validate_name("service", "a/b");
    FAIL() << "accepted a/b";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_request);
    EXPECT_NE(std::string(e.what()).find("invalid service 'a/b'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(code_of([] { validate_name("app", ""); }), ErrorCode::invalid_request);
}

TEST(Ports, RangeIsOneTo65535) {
  EXPECT_EQ(validate_port("port", 1), 1);
  EXPECT_EQ(validate_port("port", 65535), 65535);
  EXPECT_EQ(code_of([] { validate_port("port", 0); }), ErrorCode::invalid_request);
  EXPECT_EQ(code_of([] { validate_port("port", 65536); }), ErrorCode::invalid_request);
  EXPECT_EQ(code_of([] { validate_port("port", -1); }), ErrorCode::invalid_request);
}

TEST(Text, LengthAndNulChecked) {
  validate_text("description", std::string(kMaxTextLength, 'x'));
  EXPECT_EQ(code_of([] { validate_text("description", std::string(kMaxTextLength + 1, 'x')); }),
            ErrorCode::invalid_request);
  EXPECT_EQ(code_of([] { validate_text("worktree", std::string("a\0b", 3)); }),
            ErrorCode::invalid_request);
}

TEST(Filters, EmptyAndMatching) {
  Filter f;
  EXPECT_TRUE(f.empty());
  Allocation a;
  a.id = 7;
  a.app = "myapp";
  a.instance = "main";
  a.service = "web";
  a.port = 3000;
  EXPECT_TRUE(f.matches(a));
  f.app = "myapp";
  f.service = "web";
  EXPECT_FALSE(f.empty());
  EXPECT_TRUE(f.matches(a));
  f.instance = "dev";
  EXPECT_FALSE(f.matches(a));
  Filter by_port;
  by_port.port = 3001;
  EXPECT_FALSE(by_port.matches(a));
  EXPECT_EQ(code_of([] {
              Filter bad;
              bad.instance = "no/slash";
              validate_filter(bad);
            }),
            ErrorCode::invalid_request);
}

TEST(Keys, PrintAsSlashPath) {
  EXPECT_EQ(to_string(AllocationKey{"myapp", "main", "postgres"}), "myapp/main/postgres");
}

TEST(ErrorCodes, RoundTripEveryCode) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::busy); ++i) {
    auto code = static_cast<ErrorCode>(i);
    auto parsed = parse_error_code(to_string(code));
    ASSERT_TRUE(parsed.has_value()) << to_string(code);
    EXPECT_EQ(*parsed, code);
  }
  EXPECT_EQ(to_string(ErrorCode::port_taken), "port_taken");
  EXPECT_FALSE(parse_error_code("no_such_code").has_value());
}

TEST(Time, FormatsRfc3339Utc) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1739027045), "2025-02-08T15:04:05Z");
}

TEST(Time, ParsesWhatItFormatsAndOffsets) {
  EXPECT_EQ(parse_rfc3339("2025-02-08T15:04:05Z"), 1739027045);
  EXPECT_EQ(parse_rfc3339("2025-02-08T17:04:05+02:00"), 1739027045);
  EXPECT_EQ(parse_rfc3339("2025-02-08T15:04:05.123Z"), 1739027045);
  EXPECT_FALSE(parse_rfc3339("2025-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(parse_rfc3339("yesterday").has_value());
  EXPECT_FALSE(parse_rfc3339("2025-02-08 15:04:05").has_value());
  std::int64_t now = unix_now();
  EXPECT_EQ(parse_rfc3339(format_rfc3339(now)), now);
}

}  // namespace
}  // namespace portd
