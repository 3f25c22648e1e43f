// scan_project() over the fixture project in tests/fixtures/project/.
#include <gtest/gtest.h>

#include <algorithm>

#include "project/scan.hpp"

using namespace portd::project;

namespace {

const std::string kFixtures = PROJECT_FIXTURES;

VariableLookup no_environment() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

const Finding* find(const ScanResult& r, std::string_view file, std::uint16_t port) {
  for (const auto& f : r.findings) {
    if (f.file.ends_with(file) && f.port == port) return &f;
  }
  return nullptr;
}

TEST(ScanProject, EveryKindOfFile) {
  ScanOptions o;
  o.paths = {kFixtures + "/app"};
  auto r = scan_project(o, no_environment());
  EXPECT_TRUE(r.errors.empty());
  // compose.yaml, with REDIS_PORT from the .env beside it.
  ASSERT_TRUE(find(r, "compose.yaml", 5432));
  ASSERT_TRUE(find(r, "compose.yaml", 6390));
  EXPECT_EQ(find(r, "compose.yaml", 6390)->service, "cache");
  EXPECT_FALSE(find(r, "compose.yaml", 8080)->host_bound());
  ASSERT_TRUE(find(r, "package.json", 5173));
  EXPECT_EQ(find(r, "package.json", 5173)->service, "dev");
  ASSERT_TRUE(find(r, ".env.local", 3100));
  ASSERT_TRUE(find(r, ".env.local", 5433));
  ASSERT_TRUE(find(r, "Makefile", 8000));
  ASSERT_TRUE(find(r, "scripts/docs.sh", 8003));
  EXPECT_EQ(find(r, "scripts/docs.sh", 8003)->service, "docs");
  // Compose files come first, so init names a shared port after the service.
  ASSERT_FALSE(r.findings.empty());
  EXPECT_TRUE(r.findings.front().file.ends_with("compose.yaml"));
}

TEST(ScanProject, EnvironmentOverridesDotenv) {
  ScanOptions o;
  o.compose_files = {kFixtures + "/app/compose.yaml"};
  auto r = scan_project(o, [](const std::string& name) -> std::optional<std::string> {
    if (name == "REDIS_PORT") return "6400";
    return std::nullopt;
  });
  EXPECT_TRUE(find(r, "compose.yaml", 6400));
  EXPECT_FALSE(find(r, "compose.yaml", 6390));
  EXPECT_FALSE(find(r, "package.json", 5173));  // -f alone scans only that file
}

TEST(ScanProject, BrokenFilesAreReportedAndSkipped) {
  ScanOptions o;
  o.paths = {kFixtures + "/broken", kFixtures + "/app/Makefile", kFixtures + "/nope"};
  auto r = scan_project(o, no_environment());
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_TRUE(r.errors[0].file.ends_with("docker-compose.yml"));
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_TRUE(r.errors[1].file.ends_with("package.json"));
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.errors[2].message, "no such file or directory");
  EXPECT_TRUE(find(r, "Makefile", 8000));  // the rest is still scanned
}

}  // namespace
