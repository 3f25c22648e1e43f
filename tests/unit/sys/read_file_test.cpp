// Whole-file reads (src/sys/read_file.hpp): portctl rewrites env and
// compose files from what this returns, so every byte must come back, and
// a missing file must say why instead of reading as empty.
#include "sys/read_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "support/temp_dir.hpp"

namespace portd::sys {
namespace {

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

TEST(ReadFile, ReturnsEveryByteOfAFileLargerThanOneRead) {
  testing::TempDir dir;
  std::string bytes;
  for (int i = 0; i < 40000; ++i) bytes.push_back(static_cast<char>(i % 251));
  bytes += std::string("\0tail without newline", 21);
  write_bytes(dir.path() / "f", bytes);
  EXPECT_EQ(read_file(dir.path() / "f"), bytes);
}

TEST(ReadFile, AnEmptyFileIsAnEmptyString) {
  testing::TempDir dir;
  write_bytes(dir.path() / "empty", "");
  EXPECT_EQ(read_file(dir.path() / "empty"), std::string());
}

TEST(ReadFile, AMissingFileIsNulloptWithErrnoSet) {
  testing::TempDir dir;
  errno = 0;
  EXPECT_EQ(read_file(dir.path() / "absent"), std::nullopt);
  EXPECT_EQ(errno, ENOENT);
}

TEST(ReadFile, ADirectoryIsNulloptWithErrnoSet) {
  testing::TempDir dir;
  errno = 0;
  EXPECT_EQ(read_file(dir.path()), std::nullopt);
  EXPECT_EQ(errno, EISDIR);
}

TEST(ReadFile, ReadsProcFilesThatReportSizeZero) {
  auto text = read_file("/proc/self/status");
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find("Pid:"), std::string::npos);
}

}  // namespace
}  // namespace portd::sys
