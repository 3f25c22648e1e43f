// The .portd.toml manifest parser (portd-manifest(5)) and where it is found.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "portctl/manifest.hpp"

namespace fs = std::filesystem;
using namespace portctl;

namespace {

std::string error_of(std::string_view text) {
  try {
    parse_manifest(text, "m.toml");
  } catch (const ManifestError& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed without error: " << text;
  return "";
}

TEST(Manifest, ParsesServicesSortedByName) {
  Manifest m = parse_manifest(R"(
env_file = "ports.env"

[services.web]
pool = "web"

[services.postgres]
port = 5432
description = "main database"

[services.redis]
port = 6379
strict = true
)",
                              "m.toml");
  EXPECT_EQ(m.env_file, "ports.env");
  ASSERT_EQ(m.services.size(), 3u);
  EXPECT_EQ(m.services[0].name, "postgres");
  EXPECT_EQ(m.services[0].port, 5432);
  EXPECT_FALSE(m.services[0].strict);
  EXPECT_EQ(m.services[0].description, "main database");
  EXPECT_EQ(m.services[1].name, "redis");
  EXPECT_TRUE(m.services[1].strict);
  EXPECT_EQ(m.services[2].name, "web");
  EXPECT_EQ(m.services[2].port, 0);
  EXPECT_EQ(m.services[2].pool, "web");
}

TEST(Manifest, DefaultsEnvFile) {
  Manifest m = parse_manifest("[services.web]\n", "m.toml");
  EXPECT_EQ(m.env_file, ".ports.env");
  ASSERT_EQ(m.services.size(), 1u);
}

TEST(Manifest, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of("[services.web]\nport = 70000\n"),
            "m.toml:2:8: port must be an integer from 1 to 65535");
  EXPECT_EQ(error_of("[services.web]\nport = \"80\"\n"),
            "m.toml:2:8: port must be an integer from 1 to 65535");
  EXPECT_EQ(error_of("[services.web]\nprot = 80\n"),
            "m.toml:2:1: unknown key 'prot' in services.web");
  EXPECT_EQ(error_of("[services.web]\nstrict = true\n"), "m.toml:2:10: strict needs a port");
  EXPECT_EQ(error_of("servces = 1\n"), "m.toml:1:1: unknown key 'servces'");
  EXPECT_TRUE(error_of("[services.\"my web\"]\n")
                  .starts_with("m.toml:1:11: invalid service name 'my web'"));
  EXPECT_EQ(error_of("[services]\nweb = 1\n"), "m.toml:2:7: services.web must be a table");
  EXPECT_EQ(error_of("[services.web]\npool = \"a b\"\n"), "m.toml:2:8: invalid pool name 'a b'");
  EXPECT_NE(error_of("").find("no services"), std::string::npos);
  // TOML syntax errors come from toml++ with the same position format.
  EXPECT_EQ(error_of("[services.web]\nport = \n").substr(0, 11), "m.toml:2:8:");
}

TEST(Manifest, FoundAtTheMainWorktreeFirst) {
  fs::path dir = fs::temp_directory_path() / ("portctl-manifest-" + std::to_string(::getpid()));
  fs::create_directories(dir / "main");
  fs::create_directories(dir / "linked");
  portd::client::Worktree wt{"app", "linked", dir / "linked", true, dir / "main"};
  EXPECT_FALSE(find_manifest(wt));
  std::ofstream(dir / "linked" / ".portd.toml") << "[services.web]\n";
  EXPECT_EQ(find_manifest(wt), dir / "linked" / ".portd.toml");
  std::ofstream(dir / "main" / ".portd.toml") << "[services.web]\n";
  EXPECT_EQ(find_manifest(wt), dir / "main" / ".portd.toml");
  fs::remove_all(dir);
}

}  // namespace
