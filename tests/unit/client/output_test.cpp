// portctl's output helpers and app/instance resolution.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "portctl/context.hpp"
#include "portctl/output.hpp"

namespace fs = std::filesystem;
using namespace portctl;

namespace {

portd::client::Allocation sample() {
  portd::client::Allocation a;
  a.id = 42;
  a.app = "myapp";
  a.instance = "feature-auth";
  a.service = "postgres";
  a.port = 3042;
  a.pool = "default";
  a.worktree = "/src/myapp";
  a.pid = 99;
  a.allocated_by = "dev@host";
  a.created_at = 1739027045;  // 2025-02-08T15:04:05Z
  return a;
}

TEST(EnvVarName, UpperCasesAndReplaces) {
  EXPECT_EQ(env_var_name("postgres"), "POSTGRES_PORT");
  EXPECT_EQ(env_var_name("proxy-nginx"), "PROXY_NGINX_PORT");
  EXPECT_EQ(env_var_name("api.v2"), "API_V2_PORT");
  EXPECT_EQ(env_var_name("3d"), "_3D_PORT");
}

TEST(PortVariables, SortedByName) {
  auto web = sample();
  web.service = "web";
  web.port = 3044;
  auto pg = sample();
  auto vars = port_variables({web, pg});
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[0].first, "POSTGRES_PORT");
  EXPECT_EQ(vars[0].second, 3042);
  EXPECT_EQ(vars[1].first, "WEB_PORT");
}

TEST(Json, AllocationSchema) {
  Json j = to_json(sample());
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "app", "instance", "service", "port", "pool",
                                            "description", "worktree", "pid", "allocated_by",
                                            "created_at", "expires_at"}));
  EXPECT_EQ(j["port"], 3042);
  EXPECT_EQ(j["created_at"], "2025-02-08T15:04:05Z");
  EXPECT_TRUE(j["expires_at"].is_null());
  auto leased = sample();
  leased.expires_at = leased.created_at + 60;
  EXPECT_EQ(to_json(leased)["expires_at"], "2025-02-08T15:05:05Z");
}

TEST(Json, RoundTripsThroughImport) {
  auto a = sample();
  a.expires_at = a.created_at + 3600;
  auto back = allocation_from_json(to_json(a));
  EXPECT_EQ(back.id, a.id);
  EXPECT_EQ(back.app, a.app);
  EXPECT_EQ(back.port, a.port);
  EXPECT_EQ(back.worktree, a.worktree);
  EXPECT_EQ(back.pid, a.pid);
  EXPECT_EQ(back.created_at, a.created_at);
  EXPECT_EQ(back.expires_at, a.expires_at);
}

TEST(Json, ImportRejectsBadFields) {
  EXPECT_THROW(allocation_from_json(Json::parse(R"({"port": 70000})")), std::runtime_error);
  EXPECT_THROW(allocation_from_json(Json::parse(R"({"port": "80"})")), std::runtime_error);
  EXPECT_THROW(allocation_from_json(Json::parse(R"({"created_at": "yesterday"})")),
               std::runtime_error);
  EXPECT_THROW(allocation_from_json(Json::parse("[]")), std::runtime_error);
}

TEST(Table, AlignsColumnsWithTwoSpaces) {
  Table t({"ID", "APP", "PORT"});
  t.add_row({"1", "myapp", "3000"});
  t.add_row({"12", "a", "8080"});
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  t.print(f, Style(false));
  std::rewind(f);
  char buf[512];
  std::size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  EXPECT_EQ(std::string(buf, n),
            "ID  APP    PORT\n"
            "1   myapp  3000\n"
            "12  a      8080\n");
}

TEST(LocalTime, Format) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(local_time(1739027045), "2025-02-08 15:04:05");
}

TEST(Describe, AddsTheHolderWhenTheMessageLacksIt) {
  portd::client::Error e(portd::client::ErrorCode::port_taken, "port 3042 is taken");
  e.with_holder(sample());
  EXPECT_EQ(describe(e),
            "port 3042 is taken (held by myapp/feature-auth/postgres, id=42, port 3042)");
  portd::client::Error named(portd::client::ErrorCode::port_taken,
                             "port 3042 is allocated to myapp/feature-auth/postgres (id=42)");
  named.with_holder(sample());
  EXPECT_EQ(describe(named), named.what());
}

class AtomicWrite : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "portctl-out-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(AtomicWrite, WritesAndLeavesNoTemporaryFiles) {
  write_file_atomically(dir_ / ".env", "A_PORT=1\n");
  ::chmod((dir_ / ".env").c_str(), 0640);
  write_file_atomically(dir_ / ".env", "A_PORT=2\n");
  std::ifstream in(dir_ / ".env");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "A_PORT=2\n");
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / ".env").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // a replaced file keeps its mode
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(AtomicWrite, FailsInAMissingDirectory) {
  EXPECT_THROW(write_file_atomically(dir_ / "missing" / ".env", "x"), std::runtime_error);
}

// Context resolves app/instance from flags, then PORTCTL_*, then the worktree.
class ContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    std::string tmpl = (fs::temp_directory_path() / "portctl-ctx-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = fs::canonical(tmpl);
    ::unsetenv("PORTCTL_APP");
    ::unsetenv("PORTCTL_INSTANCE");
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
    ::unsetenv("PORTCTL_APP");
    ::unsetenv("PORTCTL_INSTANCE");
  }
  // A minimal main worktree: .git/HEAD is all detection reads.
  void fake_repo(const fs::path& top, const std::string& branch) {
    fs::create_directories(top / ".git");
    std::ofstream(top / ".git" / "HEAD") << "ref: refs/heads/" << branch << "\n";
  }
  fs::path old_cwd_;
  fs::path dir_;
};

TEST_F(ContextTest, OutsideARepositoryNeedsOverrides) {
  fs::current_path(dir_);
  Context ctx;
  EXPECT_THROW(ctx.app(""), UsageError);
  EXPECT_FALSE(ctx.maybe_instance(""));
  EXPECT_EQ(ctx.app("given"), "given");
  ::setenv("PORTCTL_APP", "fromenv", 1);
  ::setenv("PORTCTL_INSTANCE", "envinst", 1);
  Context ctx2;
  auto id = ctx2.identity("", "");
  EXPECT_EQ(id.app, "fromenv");
  EXPECT_EQ(id.instance, "envinst");
  EXPECT_EQ(id.worktree, "");
}

TEST_F(ContextTest, DetectsAndRecordsTheWorktree) {
  fake_repo(dir_ / "myapp", "feature/x");
  fs::create_directories(dir_ / "myapp" / "sub");
  fs::current_path(dir_ / "myapp" / "sub");
  Context ctx;
  auto id = ctx.identity("", "");
  EXPECT_EQ(id.app, "myapp");
  EXPECT_EQ(id.instance, "feature-x");
  EXPECT_EQ(id.worktree, (dir_ / "myapp").string());

  // An explicit instance is not tied to the worktree directory.
  auto staging = ctx.identity("", "staging");
  EXPECT_EQ(staging.app, "myapp");
  EXPECT_EQ(staging.instance, "staging");
  EXPECT_EQ(staging.worktree, "");

  ::setenv("PORTCTL_APP", "override", 1);
  Context ctx2;
  EXPECT_EQ(ctx2.app(""), "override");
  EXPECT_EQ(ctx2.app("flag"), "flag");
}

}  // namespace
