#include "paths/paths.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "model/error.hpp"

namespace portd {
namespace {

namespace fs = std::filesystem;

// Sets environment variables for one test and restores the previous values
// (or their absence) afterwards.
class EnvGuard {
 public:
  EnvGuard() = default;
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  void set(const std::string& name, const std::string& value) {
    save(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    save(name);
    ::unsetenv(name.c_str());
  }

 private:
  void save(const std::string& name) {
    if (saved_.contains(name)) return;
    const char* v = std::getenv(name.c_str());
    saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string fallback_socket() {
#ifdef __APPLE__
  return "";  // confstr temp dir; not checked literally
#else
  return "/tmp/portd-" + std::to_string(::geteuid()) + "/portd.sock";
#endif
}

TEST(SocketPath, PortdSocketWins) {
  EnvGuard env;
  env.set("PORTD_SOCKET", "/somewhere/else.sock");
  env.set("XDG_RUNTIME_DIR", "/run/user/1234");
  EXPECT_EQ(default_socket_path(), fs::path("/somewhere/else.sock"));
}

TEST(SocketPath, EmptyPortdSocketIsIgnored) {
  EnvGuard env;
  env.set("PORTD_SOCKET", "");
  env.set("XDG_RUNTIME_DIR", "/run/user/1234");
  EXPECT_EQ(default_socket_path(), fs::path("/run/user/1234/portd/portd.sock"));
}

TEST(SocketPath, XdgRuntimeDir) {
  EnvGuard env;
  env.unset("PORTD_SOCKET");
  env.set("XDG_RUNTIME_DIR", "/run/user/1234");
  EXPECT_EQ(default_socket_path(), fs::path("/run/user/1234/portd/portd.sock"));
}

TEST(SocketPath, FallbackWithoutRuntimeDir) {
  EnvGuard env;
  env.unset("PORTD_SOCKET");
  env.unset("XDG_RUNTIME_DIR");
#ifdef __APPLE__
  EXPECT_EQ(default_socket_path().filename(), "portd.sock");
#else
  EXPECT_EQ(default_socket_path(), fs::path(fallback_socket()));
#endif
}

TEST(SocketPath, RelativeRuntimeDirIsIgnored) {
  EnvGuard env;
  env.unset("PORTD_SOCKET");
  env.set("XDG_RUNTIME_DIR", "run/user/1234");
#ifndef __APPLE__
  EXPECT_EQ(default_socket_path(), fs::path(fallback_socket()));
#endif
  EXPECT_FALSE(default_socket_path().string().starts_with("run/"));
}

TEST(StateDir, XdgStateHomeAndFallbacks) {
  EnvGuard env;
  env.set("HOME", "/home/tester");
  env.set("XDG_STATE_HOME", "/var/state");
  EXPECT_EQ(default_state_dir(), fs::path("/var/state/portd"));
  env.set("XDG_STATE_HOME", "relative/state");
#ifdef __APPLE__
  EXPECT_EQ(default_state_dir(), fs::path("/home/tester/Library/Application Support/portd"));
#else
  EXPECT_EQ(default_state_dir(), fs::path("/home/tester/.local/state/portd"));
  env.unset("XDG_STATE_HOME");
  EXPECT_EQ(default_state_dir(), fs::path("/home/tester/.local/state/portd"));
#endif
  EXPECT_EQ(default_log_path("/var/state/portd"), fs::path("/var/state/portd/portd.log"));
}

TEST(ConfigPath, XdgConfigHomeAndFallbacks) {
  EnvGuard env;
  env.set("HOME", "/home/tester");
  env.set("XDG_CONFIG_HOME", "/etc/xdg-tester");
  EXPECT_EQ(default_config_path(), fs::path("/etc/xdg-tester/portd/portd.toml"));
  env.set("XDG_CONFIG_HOME", "./conf");
  EXPECT_EQ(default_config_path(), fs::path("/home/tester/.config/portd/portd.toml"));
  env.unset("XDG_CONFIG_HOME");
  EXPECT_EQ(default_config_path(), fs::path("/home/tester/.config/portd/portd.toml"));
}

TEST(HomeDir, FromEnvironmentElsePasswd) {
  EnvGuard env;
  env.set("HOME", "/home/tester");
  EXPECT_EQ(home_dir(), fs::path("/home/tester"));
  passwd* pw = ::getpwuid(::geteuid());
  if (pw == nullptr || pw->pw_dir == nullptr) GTEST_SKIP() << "no passwd entry";
  const std::string expected = pw->pw_dir;
  env.unset("HOME");
  EXPECT_EQ(home_dir(), fs::path(expected));
  env.set("HOME", "relative");
  EXPECT_EQ(home_dir(), fs::path(expected));
}

class PrivateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portd-paths-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
  }
  void TearDown() override { fs::remove_all(base_); }

  static mode_t mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  // The message of the permission_denied Error for `dir`, or "" if none.
  static std::string refusal(const fs::path& dir) {
    try {
      ensure_private_dir(dir);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::permission_denied) << e.what();
      return e.what();
    }
    return "";
  }

  fs::path base_;
};

TEST_F(PrivateDirTest, CreatesMissingDirectoriesWith0700) {
  const fs::path dir = base_ / "a" / "b" / "portd";
  ensure_private_dir(dir);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(mode_of(base_ / "a"), 0700u);
  EXPECT_EQ(mode_of(base_ / "a" / "b"), 0700u);
  EXPECT_EQ(mode_of(dir), 0700u);
  ensure_private_dir(dir);  // idempotent
  ensure_private_dir(dir.string() + "/");
}

TEST_F(PrivateDirTest, AcceptsAnExisting0700Directory) {
  const fs::path dir = base_ / "ok";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  EXPECT_NO_THROW(ensure_private_dir(dir));
}

TEST_F(PrivateDirTest, Refuses0755DirectoryAndLeavesItAlone) {
  const fs::path dir = base_ / "open";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  EXPECT_EQ(refusal(dir),
            "unsafe directory '" + dir.string() + "': mode 0755 allows group/other access");
  EXPECT_EQ(mode_of(dir), 0755u);  // never chmod
}

TEST_F(PrivateDirTest, RefusesGroupOnlyAccessToo) {
  const fs::path dir = base_ / "group";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0710), 0);
  EXPECT_NE(refusal(dir).find("mode 0710 allows group/other access"), std::string::npos);
}

TEST_F(PrivateDirTest, RefusesASymlinkToAPrivateDirectory) {
  const fs::path real = base_ / "real";
  const fs::path link = base_ / "link";
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(real.c_str(), link.c_str()), 0);
  EXPECT_EQ(refusal(link), "unsafe directory '" + link.string() + "': is a symbolic link");
  // A trailing slash would make lstat follow the link: still refused.
  EXPECT_NE(refusal(link.string() + "/").find("is a symbolic link"), std::string::npos);
}

TEST_F(PrivateDirTest, RefusesARegularFile) {
  const fs::path file = base_ / "file";
  { std::ofstream out(file); }
  EXPECT_EQ(refusal(file), "unsafe directory '" + file.string() + "': is not a directory");
}

TEST_F(PrivateDirTest, RefusesADirectoryOwnedByAnotherUid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown a directory to another uid";
  const fs::path dir = base_ / "theirs";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  EXPECT_EQ(refusal(dir), "unsafe directory '" + dir.string() + "': owned by uid 65534");
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);  // never chown
}

TEST_F(PrivateDirTest, CreationFailureIsInternal) {
  const fs::path file = base_ / "file";
  { std::ofstream out(file); }
  try {
    ensure_private_dir(file / "sub");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
    EXPECT_NE(std::string(e.what()).find("failed to create directory"), std::string::npos);
  }
}

TEST(SocketPathLength, Limit) {
#ifdef __linux__
  EXPECT_EQ(max_socket_path_length(), 107u);
#endif
  const std::size_t max = max_socket_path_length();
  const fs::path ok = "/" + std::string(max - 1, 'a');
  ASSERT_EQ(ok.native().size(), max);
  EXPECT_NO_THROW(check_socket_path_length(ok));
  const fs::path too_long = "/" + std::string(max, 'a');
  try {
    check_socket_path_length(too_long);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_request);
    EXPECT_NE(std::string(e.what()).find("is too long (" + std::to_string(max + 1) +
                                         " bytes, at most " + std::to_string(max) + ")"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace portd
