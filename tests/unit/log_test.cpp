// The daemon's log lines under journald start with sd-daemon(3)'s numeric
// priority, which is all journald reads to set a line's priority.
#include <gtest/gtest.h>

#include <string>

#include <spdlog/details/log_msg.h>

#include "log.hpp"

namespace portd::daemon {
namespace {

std::string format_line(bool journal, spdlog::level::level_enum level) {
  auto formatter = make_formatter(journal);
  spdlog::details::log_msg msg("store", level, "opened 'x'");
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  return fmt::to_string(out);
}

TEST(JournalLog, LinesStartWithTheNumericPriority) {
  EXPECT_EQ(format_line(true, spdlog::level::debug).substr(0, 3), "<7>");
  EXPECT_EQ(format_line(true, spdlog::level::info).substr(0, 3), "<6>");
  EXPECT_EQ(format_line(true, spdlog::level::warn).substr(0, 3), "<4>");
  EXPECT_EQ(format_line(true, spdlog::level::err).substr(0, 3), "<3>");
  EXPECT_EQ(format_line(true, spdlog::level::critical).substr(0, 3), "<2>");
}

TEST(JournalLog, LineIsPrefixDomainAndMessage) {
  EXPECT_EQ(format_line(true, spdlog::level::warn), "<4>store: opened 'x'\n");
}

TEST(PlainLog, LinesNameTheLevelInWordsWithoutAPrefix) {
  std::string line = format_line(false, spdlog::level::warn);
  EXPECT_NE(line.front(), '<');
  EXPECT_NE(line.find(" warning store: opened 'x'"), std::string::npos) << line;
}

}  // namespace
}  // namespace portd::daemon
