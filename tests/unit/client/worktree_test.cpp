// Worktree detection against repositories made by the real git.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "portd/client.hpp"

namespace fs = std::filesystem;
using portd::client::detect_worktree;
using portd::client::sanitize_name;

namespace {

std::string quote(const fs::path& p) {
  return "'" + p.string() + "'";
}

// Runs a shell command (with a quiet, identity-providing git setup) and
// returns its stdout without the trailing newline; fails the test on error.
std::string sh(const std::string& cmd) {
  std::string full =
      "export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid "
      "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid; " +
      cmd + " 2>/dev/null";
  std::FILE* p = ::popen(full.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  int status = p ? ::pclose(p) : -1;
  EXPECT_EQ(status, 0) << cmd;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class WorktreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("git --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "git not installed";
    std::string tmpl = (fs::temp_directory_path() / "portd-wt-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = fs::canonical(tmpl);
    // git refuses to read a repository it does not trust; HOME keeps the
    // user's config out of it.
    ::setenv("HOME", root_.c_str(), 1);
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }

  // A repository `name` under root_ with one commit on branch `branch`.
  fs::path make_repo(const std::string& name, const std::string& branch = "main") {
    fs::path repo = root_ / name;
    fs::create_directories(repo);
    sh("cd " + quote(repo) + " && git init -q -b " + branch + " && echo x > f && git add f && " +
       "git commit -q -m init");
    return repo;
  }

  fs::path root_;
};

TEST_F(WorktreeTest, MainWorktreeOnBranch) {
  auto repo = make_repo("myapp");
  auto wt = detect_worktree(repo);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "myapp");
  EXPECT_EQ(wt->instance, "main");
  EXPECT_EQ(wt->top, repo);
  EXPECT_FALSE(wt->linked);
}

TEST_F(WorktreeTest, UnbornBranchUsesItsName) {
  fs::path repo = root_ / "fresh";
  fs::create_directories(repo);
  sh("cd " + quote(repo) + " && git init -q -b trunk");
  auto wt = detect_worktree(repo);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "fresh");
  EXPECT_EQ(wt->instance, "trunk");
}

TEST_F(WorktreeTest, BranchWithSlashIsSanitised) {
  auto repo = make_repo("myapp");
  sh("cd " + quote(repo) + " && git checkout -q -b feature/auth");
  auto wt = detect_worktree(repo);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->instance, "feature-auth");
}

TEST_F(WorktreeTest, LongBranchIsCutTo64) {
  auto repo = make_repo("myapp");
  std::string branch = "topic/" + std::string(80, 'b');
  sh("cd " + quote(repo) + " && git checkout -q -b " + branch);
  auto wt = detect_worktree(repo);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->instance, "topic-" + std::string(58, 'b'));
  EXPECT_EQ(wt->instance.size(), 64u);
}

TEST_F(WorktreeTest, DetachedHeadUsesShortCommit) {
  auto repo = make_repo("myapp");
  sh("cd " + quote(repo) + " && git checkout -q --detach");
  std::string commit = sh("cd " + quote(repo) + " && git rev-parse HEAD");
  auto wt = detect_worktree(repo);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "myapp");
  EXPECT_EQ(wt->instance, commit.substr(0, 7));
}

TEST_F(WorktreeTest, LinkedWorktreeUsesDirectoryAndMainRepoName) {
  auto repo = make_repo("myapp");
  fs::path linked = root_ / "feature-payments";
  sh("cd " + quote(repo) + " && git worktree add -q -b payments " + quote(linked));
  auto wt = detect_worktree(linked);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "myapp");
  EXPECT_EQ(wt->instance, "feature-payments");
  EXPECT_EQ(wt->top, linked);
  EXPECT_TRUE(wt->linked);
  // Shared files (.portd.toml) are looked up at the main worktree.
  EXPECT_TRUE(fs::equivalent(wt->main_top, repo)) << wt->main_top;

  // The main worktree is unaffected by its linked sibling.
  auto main = detect_worktree(repo);
  ASSERT_TRUE(main);
  EXPECT_EQ(main->instance, "main");
  EXPECT_FALSE(main->linked);
  EXPECT_EQ(main->main_top, main->top);
}

TEST_F(WorktreeTest, LinkedWorktreeOfBareRepository) {
  auto repo = make_repo("origin");
  sh("cd " + quote(root_) + " && git clone -q --bare origin myapp.git");
  fs::path linked = root_ / "dev";
  sh("cd " + quote(root_ / "myapp.git") + " && git worktree add -q " + quote(linked) + " main");
  auto wt = detect_worktree(linked);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "myapp");
  EXPECT_EQ(wt->instance, "dev");
  EXPECT_TRUE(wt->main_top.empty());  // a bare repository has no main worktree
}

TEST_F(WorktreeTest, NestedDirectoryFindsTheTop) {
  auto repo = make_repo("myapp");
  fs::path deep = repo / "src" / "server" / "handlers";
  fs::create_directories(deep);
  auto wt = detect_worktree(deep);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "myapp");
  EXPECT_EQ(wt->instance, "main");
  EXPECT_EQ(wt->top, repo);

  fs::path linked = root_ / "wt2";
  sh("cd " + quote(repo) + " && git worktree add -q -b other " + quote(linked));
  fs::create_directories(linked / "a" / "b");
  auto inner = detect_worktree(linked / "a" / "b");
  ASSERT_TRUE(inner);
  EXPECT_EQ(inner->app, "myapp");
  EXPECT_EQ(inner->instance, "wt2");
  EXPECT_EQ(inner->top, linked);
}

TEST_F(WorktreeTest, TrailingSlashAndRelativeStart) {
  auto repo = make_repo("myapp");
  auto wt = detect_worktree(repo.string() + "/");
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "myapp");
  EXPECT_EQ(wt->top, repo);
}

TEST_F(WorktreeTest, SubmoduleIsItsOwnRepository) {
  make_repo("libsub");
  auto super = make_repo("super");
  sh("cd " + quote(super) + " && git -c protocol.file.allow=always submodule add -q " +
     quote(root_ / "libsub") + " vendor/libsub && git commit -q -m sub");
  fs::path sub = super / "vendor" / "libsub";
  ASSERT_TRUE(fs::is_regular_file(sub / ".git"));
  std::string commit = sh("cd " + quote(sub) + " && git rev-parse HEAD");
  std::string head = sh("cat " + quote(super / ".git" / "modules" / "vendor" / "libsub" / "HEAD"));
  auto wt = detect_worktree(sub);
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->app, "libsub");
  EXPECT_EQ(wt->top, sub);
  EXPECT_FALSE(wt->linked);
  // Submodules are usually checked out detached; follow whatever HEAD says.
  if (head.rfind("ref: refs/heads/", 0) == 0) {
    EXPECT_EQ(wt->instance, sanitize_name(head.substr(16)));
  } else {
    EXPECT_EQ(wt->instance, commit.substr(0, 7));
  }
}

TEST_F(WorktreeTest, OutsideAnyRepository) {
  fs::path plain = root_ / "plain" / "dir";
  fs::create_directories(plain);
  EXPECT_FALSE(detect_worktree(plain));
}

TEST_F(WorktreeTest, UnreadableGitFileIsNoRepository) {
  fs::path dir = root_ / "broken";
  fs::create_directories(dir);
  std::ofstream(dir / ".git") << "this is not a gitdir line\n";
  EXPECT_FALSE(detect_worktree(dir));
}

TEST(SanitizeName, ReplacesInvalidCharacters) {
  EXPECT_EQ(sanitize_name("feature/auth"), "feature-auth");
  EXPECT_EQ(sanitize_name("a b:c"), "a-b-c");
  EXPECT_EQ(sanitize_name("ok.name_1-2"), "ok.name_1-2");
  EXPECT_EQ(sanitize_name(""), "");
  EXPECT_EQ(sanitize_name(std::string(100, 'x')).size(), 64u);
}

}  // namespace
