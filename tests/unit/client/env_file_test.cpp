// merge_env_file()/update_env_file(): only managed NAME=value lines change.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "portctl/env_file.hpp"

namespace fs = std::filesystem;
using namespace portctl;

namespace {

const EnvVars kVars = {{"POSTGRES_PORT", "3042"}, {"WEB_PORT", "3043"}};

TEST(MergeEnvFile, EmptyFileGetsAllLines) {
  auto m = merge_env_file("", kVars);
  EXPECT_EQ(m.text, "POSTGRES_PORT=3042\nWEB_PORT=3043\n");
  EXPECT_EQ(m.added, (std::vector<std::string>{"POSTGRES_PORT", "WEB_PORT"}));
  EXPECT_TRUE(m.updated.empty());
}

TEST(MergeEnvFile, KeepsOtherLinesCommentsBlanksAndOrder) {
  std::string in = "# secrets\nSECRET=x\n\nWEB_PORT=1\n  # indented comment\nFOO=bar baz\n";
  auto m = merge_env_file(in, kVars);
  EXPECT_EQ(m.text,
            "# secrets\nSECRET=x\n\nWEB_PORT=3043\n  # indented comment\nFOO=bar baz\n"
            "POSTGRES_PORT=3042\n");
  EXPECT_EQ(m.updated, std::vector<std::string>{"WEB_PORT"});
  EXPECT_EQ(m.added, std::vector<std::string>{"POSTGRES_PORT"});
}

TEST(MergeEnvFile, UnchangedFileReportsNoChange) {
  std::string in = "A=1\nPOSTGRES_PORT=3042\nWEB_PORT=3043\n";
  auto m = merge_env_file(in, kVars);
  EXPECT_EQ(m.text, in);
  EXPECT_FALSE(m.changed());
}

TEST(MergeEnvFile, CrlfFileKeepsCrlf) {
  auto m = merge_env_file("SECRET=x\r\nWEB_PORT=1\r\n", kVars);
  EXPECT_EQ(m.text, "SECRET=x\r\nWEB_PORT=3043\r\nPOSTGRES_PORT=3042\r\n");
}

TEST(MergeEnvFile, NoTrailingNewline) {
  auto m = merge_env_file("SECRET=x", kVars);
  EXPECT_EQ(m.text, "SECRET=x\nPOSTGRES_PORT=3042\nWEB_PORT=3043\n");
  // A managed last line without newline is updated and stays without one.
  auto u = merge_env_file("SECRET=x\nPOSTGRES_PORT=1", {{"POSTGRES_PORT", "3042"}});
  EXPECT_EQ(u.text, "SECRET=x\nPOSTGRES_PORT=3042");
}

TEST(MergeEnvFile, DuplicateKeysAreAllUpdated) {
  auto m = merge_env_file("WEB_PORT=1\nX=2\nWEB_PORT=2\n", {{"WEB_PORT", "3043"}});
  EXPECT_EQ(m.text, "WEB_PORT=3043\nX=2\nWEB_PORT=3043\n");
  EXPECT_EQ(m.updated, std::vector<std::string>{"WEB_PORT"});
}

TEST(MergeEnvFile, CommentedOutAssignmentIsNotManaged) {
  auto m = merge_env_file("# WEB_PORT=1\n", {{"WEB_PORT", "3043"}});
  EXPECT_EQ(m.text, "# WEB_PORT=1\nWEB_PORT=3043\n");
}

TEST(MergeEnvFile, ExportPrefixAndIndentationKept) {
  auto m = merge_env_file("export WEB_PORT=1\n  POSTGRES_PORT=2\n", kVars);
  EXPECT_EQ(m.text, "export WEB_PORT=3043\n  POSTGRES_PORT=3042\n");
}

TEST(MergeEnvFile, NewLinesGetThePrefix) {
  auto m = merge_env_file("A=1\n", {{"WEB_PORT", "3043"}}, "export ");
  EXPECT_EQ(m.text, "A=1\nexport WEB_PORT=3043\n");
}

TEST(MergeEnvFile, QuotesAndTrailingCommentsKept) {
  auto m = merge_env_file("WEB_PORT=\"1\" # web\nPOSTGRES_PORT='2'\n", kVars);
  EXPECT_EQ(m.text, "WEB_PORT=\"3043\" # web\nPOSTGRES_PORT='3042'\n");
  auto c = merge_env_file("WEB_PORT=1   # the web server\n", {{"WEB_PORT", "3043"}});
  EXPECT_EQ(c.text, "WEB_PORT=3043   # the web server\n");
}

TEST(MergeEnvFile, SimilarNamesAreNotManaged) {
  auto m = merge_env_file("MY_WEB_PORT=1\nWEB_PORTS=2\nweb_port=3\n", {{"WEB_PORT", "3043"}});
  EXPECT_EQ(m.text, "MY_WEB_PORT=1\nWEB_PORTS=2\nweb_port=3\nWEB_PORT=3043\n");
}

TEST(MergeEnvFile, EmptyValueIsFilled) {
  auto m = merge_env_file("WEB_PORT=\n", {{"WEB_PORT", "3043"}});
  EXPECT_EQ(m.text, "WEB_PORT=3043\n");
}

class UpdateEnvFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("env_file_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  fs::path dir_;
};

TEST_F(UpdateEnvFile, KeepsModeAndOtherLines) {
  auto p = dir_ / ".env";
  write(p, "SECRET=x\n");
  ::chmod(p.c_str(), 0600);
  auto m = update_env_file(p, kVars);
  EXPECT_TRUE(m.changed());
  EXPECT_EQ(read(p), "SECRET=x\nPOSTGRES_PORT=3042\nWEB_PORT=3043\n");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // Nothing left behind but the file itself.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(UpdateEnvFile, CreatesMissingFile) {
  auto p = dir_ / ".ports.env";
  update_env_file(p, kVars);
  EXPECT_EQ(read(p), "POSTGRES_PORT=3042\nWEB_PORT=3043\n");
}

TEST_F(UpdateEnvFile, UnchangedFileIsNotRewritten) {
  auto p = dir_ / ".env";
  write(p, "WEB_PORT=3043\n");
  auto inode = fs::status(p).permissions();
  struct stat before {};
  ::stat(p.c_str(), &before);
  auto m = update_env_file(p, {{"WEB_PORT", "3043"}});
  EXPECT_FALSE(m.changed());
  struct stat after {};
  ::stat(p.c_str(), &after);
  EXPECT_EQ(before.st_ino, after.st_ino);  // a rewrite would rename a new inode in
  EXPECT_EQ(fs::status(p).permissions(), inode);
}

TEST_F(UpdateEnvFile, FollowsSymlink) {
  auto target = dir_ / "shared.env";
  write(target, "A=1\n");
  fs::create_symlink("shared.env", dir_ / ".env");
  update_env_file(dir_ / ".env", {{"WEB_PORT", "3043"}});
  EXPECT_TRUE(fs::is_symlink(dir_ / ".env"));
  EXPECT_EQ(read(target), "A=1\nWEB_PORT=3043\n");
}

}  // namespace
