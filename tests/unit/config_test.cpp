#include "config/config.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "model/error.hpp"

namespace portd {
namespace {

// The message of the ConfigError that parsing `text` throws, or "" if none.
std::string error_of(std::string_view text) {
  try {
    parse_config(text, "portd.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Asserts that `text` fails at `line` with a message containing `needle`.
#define EXPECT_CONFIG_ERROR(text, line, needle)                                        \
  do {                                                                                 \
    const std::string msg_ = error_of(text);                                           \
    EXPECT_TRUE(msg_.starts_with("portd.toml:" + std::to_string(line) + ":")) << msg_; \
    EXPECT_NE(msg_.find(needle), std::string::npos) << msg_;                           \
  } while (0)

TEST(Config, Defaults) {
  Config cfg = default_config();
  ASSERT_EQ(cfg.pools.size(), 1u);
  EXPECT_EQ(cfg.pools[0].name, "default");
  EXPECT_EQ(cfg.pools[0].range, (PortRange{3000, 9999}));
  EXPECT_EQ(cfg.default_pool, "default");
  EXPECT_TRUE(cfg.reserved.empty());
  EXPECT_EQ(cfg.freeze_seconds, 24 * 3600);
  EXPECT_EQ(cfg.max_frame, 1u << 20);
  EXPECT_EQ(cfg.max_connections, 512u);
  EXPECT_EQ(cfg.max_pending_output, 4u << 20);
  EXPECT_EQ(cfg.idle_timeout_seconds, 60);
  EXPECT_EQ(cfg.map_size, 64u << 20);
  EXPECT_EQ(cfg.max_map_size, std::size_t{4} << 30);
  EXPECT_EQ(&cfg.pool_for_service("anything"), &cfg.pools[0]);
}

TEST(Config, EmptyTextGivesDefaults) {
  Config cfg = parse_config("", "portd.toml");
  Config def = default_config();
  EXPECT_EQ(cfg.pools, def.pools);
  EXPECT_EQ(cfg.default_pool, def.default_pool);
  EXPECT_EQ(cfg.freeze_seconds, def.freeze_seconds);
  EXPECT_EQ(cfg.max_frame, def.max_frame);
}

TEST(Config, FullExample) {
  Config cfg = parse_config(R"(
default_pool = "web"
freeze_hours = 2
reserved = [5432, "6000-6100", "7000"]

[[pool]]
name = "web"
range = "3000-3999"
services = ["web", "vite", "api"]

[[pool]]
name = "db"
start = 5400
end = 5499
services = ["postgres"]

[limits]
max_frame_bytes = 65536
max_connections = 64
max_pending_output_bytes = 1048576
idle_timeout_seconds = 30
map_size_mib = 16
max_map_size_mib = 1024
)",
                            "portd.toml");
  ASSERT_EQ(cfg.pools.size(), 2u);
  EXPECT_EQ(cfg.pools[0], (PoolConfig{"web", {3000, 3999}, {"web", "vite", "api"}}));
  EXPECT_EQ(cfg.pools[1], (PoolConfig{"db", {5400, 5499}, {"postgres"}}));
  EXPECT_EQ(cfg.default_pool, "web");
  EXPECT_EQ(cfg.freeze_seconds, 7200);
  ASSERT_EQ(cfg.reserved.size(), 3u);
  EXPECT_EQ(cfg.reserved[0], (PortRange{5432, 5432}));
  EXPECT_EQ(cfg.reserved[1], (PortRange{6000, 6100}));
  EXPECT_EQ(cfg.reserved[2], (PortRange{7000, 7000}));
  EXPECT_TRUE(cfg.is_reserved(5432));
  EXPECT_TRUE(cfg.is_reserved(6050));
  EXPECT_FALSE(cfg.is_reserved(5433));
  EXPECT_EQ(cfg.max_frame, 65536u);
  EXPECT_EQ(cfg.max_connections, 64u);
  EXPECT_EQ(cfg.max_pending_output, 1048576u);
  EXPECT_EQ(cfg.idle_timeout_seconds, 30);
  EXPECT_EQ(cfg.map_size, 16u << 20);
  EXPECT_EQ(cfg.max_map_size, 1024u << 20);

  EXPECT_EQ(cfg.pool_for_service("vite").name, "web");
  EXPECT_EQ(cfg.pool_for_service("postgres").name, "db");
  EXPECT_EQ(cfg.pool_for_service("redis").name, "web");  // default_pool
  ASSERT_NE(cfg.find_pool("db"), nullptr);
  EXPECT_EQ(cfg.find_pool("db")->range.first, 5400);
  EXPECT_EQ(cfg.find_pool("nope"), nullptr);
}

TEST(Config, PoolNamedDefaultNeedsNoDefaultPoolKey) {
  Config cfg = parse_config("[[pool]]\nname = \"default\"\nrange = \"4000-4999\"\n", "x");
  ASSERT_EQ(cfg.pools.size(), 1u);
  EXPECT_EQ(cfg.pools[0].range, (PortRange{4000, 4999}));
  EXPECT_EQ(cfg.pool_for_service("web").name, "default");
}

TEST(Config, ZeroFreezeAndSinglePortPool) {
  Config cfg = parse_config(
      "freeze_hours = 0\n[[pool]]\nname = \"default\"\nstart = 4000\nend = 4000\n", "x");
  EXPECT_EQ(cfg.freeze_seconds, 0);
  EXPECT_EQ(cfg.pools[0].range, (PortRange{4000, 4000}));
}

TEST(ConfigErrors, SyntaxErrorHasPosition) {
  const std::string msg = error_of("freeze_hours = 1\nreserved = [1,\n[limits\n");
  EXPECT_TRUE(msg.starts_with("portd.toml:3:")) << msg;
  EXPECT_GT(msg.size(), std::string("portd.toml:3:1: ").size()) << msg;
}

TEST(ConfigErrors, UnknownKeys) {
  EXPECT_CONFIG_ERROR("freeze_hours = 1\nfreez_hours = 2\n", 2, "unknown key 'freez_hours'");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = \"3000-3999\"\ncolor = 1\n", 4,
                      "unknown key 'color' in [[pool]]");
  EXPECT_CONFIG_ERROR("[limits]\nmax_frame_bytes = 1024\nmax_frames = 3\n", 3,
                      "unknown key 'max_frames' in [limits]");
  EXPECT_CONFIG_ERROR("\n[other]\nx = 1\n", 2, "unknown key 'other'");
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_CONFIG_ERROR("freeze_hours = \"24\"\n", 1, "freeze_hours must be an integer");
  EXPECT_CONFIG_ERROR("\ndefault_pool = 3\n", 2, "default_pool must be a string");
  EXPECT_CONFIG_ERROR("reserved = 5432\n", 1, "reserved must be an array");
  EXPECT_CONFIG_ERROR("reserved = [5432,\n  1.5]\n", 2, "reserved entries must be");
  EXPECT_CONFIG_ERROR("pool = 3\n", 1, "pool must be an array of tables");
  EXPECT_CONFIG_ERROR("pool = [1]\n", 1, "pool entries must be tables");
  EXPECT_CONFIG_ERROR("limits = 3\n", 1, "limits must be a table");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = 3000\n", 3,
                      "pool range must be a string");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nstart = \"3000\"\nend = 3999\n", 3,
                      "pool start must be an integer");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = \"3000-3999\"\nservices = \"web\"\n",
                      4, "services must be an array");
  EXPECT_CONFIG_ERROR("[limits]\n\nmax_connections = true\n", 3,
                      "max_connections must be an integer");
}

TEST(ConfigErrors, OutOfRangeNumbers) {
  EXPECT_CONFIG_ERROR("freeze_hours = -1\n", 1, "freeze_hours must be between 0 and");
  EXPECT_CONFIG_ERROR("reserved = [\n0]\n", 2, "reserved port must be between 1 and 65535");
  EXPECT_CONFIG_ERROR("reserved = [\n 70000]\n", 2, "reserved port must be between 1 and 65535");
  EXPECT_CONFIG_ERROR("reserved = [\"6100-6000\"]\n", 1, "start 6100 is after end 6000");
  EXPECT_CONFIG_ERROR("reserved = [\"6000-70000\"]\n", 1, "ports are 1-65535");
  EXPECT_CONFIG_ERROR("reserved = [\"0-10\"]\n", 1, "ports are 1-65535");
  EXPECT_CONFIG_ERROR("reserved = [\"abc\"]\n", 1, "invalid reserved range 'abc'");
  EXPECT_CONFIG_ERROR("reserved = [\"10-\"]\n", 1, "invalid reserved range '10-'");
  EXPECT_CONFIG_ERROR("[limits]\nmax_frame_bytes = 10\n", 2,
                      "max_frame_bytes must be between 64 and 16777216");
  EXPECT_CONFIG_ERROR("[limits]\nmax_frame_bytes = 16777217\n", 2, "max_frame_bytes");
  EXPECT_CONFIG_ERROR("[limits]\nmax_connections = 0\n", 2,
                      "max_connections must be between 1 and 65536");
  EXPECT_CONFIG_ERROR("[limits]\nmax_connections = 65537\n", 2, "max_connections");
  EXPECT_CONFIG_ERROR("[limits]\nidle_timeout_seconds = 0\n", 2, "idle_timeout_seconds");
  EXPECT_CONFIG_ERROR("[limits]\nmap_size_mib = 0\n", 2, "map_size_mib");
  EXPECT_CONFIG_ERROR("[limits]\nmap_size_mib = 128\nmax_map_size_mib = 64\n", 3,
                      "map_size_mib (128) is larger than max_map_size_mib (64)");
  EXPECT_CONFIG_ERROR("[limits]\nmap_size_mib = 8192\n", 2,
                      "map_size_mib (8192) is larger than max_map_size_mib (4096)");
}

TEST(ConfigErrors, PoolRanges) {
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = \"0-100\"\n", 3, "ports are 1-65535");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = \"3000-65536\"\n", 3,
                      "ports are 1-65535");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = \"3999-3000\"\n", 3,
                      "start 3999 is after end 3000");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nstart = 4000\nend = 3000\n", 3,
                      "start 4000 is after end 3000");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nstart = 0\nend = 3000\n", 3,
                      "pool start must be between 1 and 65535");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nstart = 3000\nend = 65536\n", 4,
                      "pool end must be between 1 and 65535");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nstart = 3000\n", 3,
                      "needs range = \"first-last\" or both start and end");
  EXPECT_CONFIG_ERROR("\n[[pool]]\nname = \"default\"\n", 2, "needs range");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"default\"\nrange = \"3000-3999\"\nstart = 3000\n", 3,
                      "either range or start/end");
}

TEST(ConfigErrors, OverlappingPools) {
  EXPECT_CONFIG_ERROR(R"([[pool]]
name = "default"
range = "3000-3999"

[[pool]]
name = "db"
range = "3999-4999"
)",
                      7, "pool 'db' (3999-4999) overlaps pool 'default' (3000-3999)");
  EXPECT_CONFIG_ERROR(R"([[pool]]
name = "default"
range = "3000-3999"

[[pool]]
name = "inner"
start = 3100
end = 3200
)",
                      7, "pool 'inner' (3100-3200) overlaps pool 'default'");
}

TEST(ConfigErrors, ServiceInTwoPools) {
  EXPECT_CONFIG_ERROR(R"([[pool]]
name = "default"
range = "3000-3999"
services = ["web", "api"]

[[pool]]
name = "db"
range = "5000-5999"
services = ["postgres",
            "api"]
)",
                      10, "service 'api' is already in pool 'default'");
}

TEST(ConfigErrors, InvalidNames) {
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"we b\"\nrange = \"3000-3999\"\n", 2,
                      "invalid pool name 'we b'");
  EXPECT_CONFIG_ERROR("[[pool]]\nname = \"\"\nrange = \"3000-3999\"\n", 2, "invalid pool name");
  EXPECT_CONFIG_ERROR(
      "[[pool]]\nname = \"default\"\nrange = \"3000-3999\"\nservices = [\"ok\", \"b/ad\"]\n", 4,
      "invalid service name 'b/ad'");
  EXPECT_CONFIG_ERROR("default_pool = \"no pe\"\n", 1, "invalid default_pool 'no pe'");
  EXPECT_CONFIG_ERROR("[[pool]]\nrange = \"3000-3999\"\n", 1, "[[pool]] needs a name");
  EXPECT_CONFIG_ERROR(R"([[pool]]
name = "default"
range = "3000-3999"
[[pool]]
name = "default"
range = "4000-4999"
)",
                      5, "pool 'default' is defined twice");
}

TEST(ConfigErrors, UnknownDefaultPool) {
  EXPECT_CONFIG_ERROR("\ndefault_pool = \"web\"\n", 2,
                      "default pool 'web' is not defined by any [[pool]]");
  EXPECT_CONFIG_ERROR(R"(default_pool = "web"
[[pool]]
name = "api"
range = "3000-3999"
)",
                      1, "default pool 'web' is not defined");
  // Left at "default" with pools that do not include one: point at the pools.
  EXPECT_CONFIG_ERROR(R"(freeze_hours = 1

[[pool]]
name = "api"
range = "3000-3999"
)",
                      3, "default pool 'default' is not defined");
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portd-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, MissingFileMeansDefaults) {
  Config cfg = load_config(dir_ / "portd.toml");
  EXPECT_EQ(cfg.pools, default_config().pools);
}

TEST_F(ConfigFileTest, LoadsAFileAndNamesItInErrors) {
  const auto path = dir_ / "portd.toml";
  {
    std::ofstream out(path);
    out << "[[pool]]\nname = \"default\"\nrange = \"4000-4099\"\n";
  }
  EXPECT_EQ(load_config(path).pools[0].range, (PortRange{4000, 4099}));
  {
    std::ofstream out(path);
    out << "freeze_hours = 1\nbogus = 2\n";
  }
  try {
    load_config(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":2:1: unknown key 'bogus'");
  }
}

TEST_F(ConfigFileTest, UnreadableFileIsAnError) {
  // A directory opens but cannot be read (EISDIR), even for root.
  const auto path = dir_ / "portd.toml";
  std::filesystem::create_directory(path);
  try {
    load_config(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("failed to read config file '" + path.string() + "'"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(std::strerror(EISDIR)), std::string::npos) << msg;
  }
}

// What load_config(path) throws, or "" when it does not throw. Under root,
// which reads mode-000 files, it runs in a child that drops to uid/gid
// 65534 with no supplementary groups, as `setpriv --reuid 65534 --regid
// 65534 --clear-groups` would; the file and its directory are handed to
// that uid so that only the file's mode can refuse it.
std::string load_error_as_user(const std::filesystem::path& path) {
  auto load = [&]() -> std::string {
    try {
      load_config(path);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  if (::geteuid() != 0) return load();
  constexpr uid_t kNobody = 65534;
  if (::chown(path.parent_path().c_str(), kNobody, kNobody) != 0 ||
      ::chown(path.c_str(), kNobody, kNobody) != 0) {
    return std::string("chown to 65534 failed: ") + std::strerror(errno);
  }
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(2);
    }
    std::string msg = load();
    ssize_t n = ::write(fds[1], msg.data(), msg.size());
    ::_exit(n == static_cast<ssize_t>(msg.size()) ? 0 : 3);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    msg.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child as uid 65534 failed with status " + std::to_string(status);
  }
  return msg;
}

TEST_F(ConfigFileTest, PermissionDeniedIsAnError) {
  const auto path = dir_ / "portd.toml";
  { std::ofstream out(path); }
  ::chmod(path.c_str(), 0);
  const std::string msg = load_error_as_user(path);
  EXPECT_NE(msg.find("'" + path.string() + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::strerror(EACCES)), std::string::npos) << msg;
}

TEST(Config, PoolForServiceWithoutDefaultPoolThrows) {
  Config cfg;  // hand-built: no pools at all
  try {
    cfg.pool_for_service("web");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
  }
}

}  // namespace
}  // namespace portd
