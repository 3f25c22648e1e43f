// scan_compose() and interpolate(): the Compose Specification's ports.
#include <gtest/gtest.h>

#include <map>

#include "project/compose.hpp"

using namespace portd::project;

namespace {

VariableLookup vars(std::map<std::string, std::string> m) {
  return [m](const std::string& name) -> std::optional<std::string> {
    auto it = m.find(name);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

ScanResult scan(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  return scan_compose(yaml, "compose.yaml", vars(std::move(env)));
}

TEST(Interpolate, DefaultsAndErrors) {
  std::string error;
  auto lookup = vars({{"SET", "1"}, {"EMPTY", ""}});
  EXPECT_EQ(interpolate("${SET:-3000}", lookup, error), "1");
  EXPECT_EQ(interpolate("${UNSET:-3000}:3000", lookup, error), "3000:3000");
  EXPECT_EQ(interpolate("${EMPTY:-3000}", lookup, error), "3000");
  EXPECT_EQ(interpolate("${EMPTY-3000}", lookup, error), "");
  EXPECT_EQ(interpolate("$SET:$$", lookup, error), "1:$");
  EXPECT_EQ(interpolate("${UNSET:-${SET}}", lookup, error), "1");
  EXPECT_FALSE(interpolate("${UNSET}:80", lookup, error));
  EXPECT_EQ(error, "variable UNSET is not set");
  EXPECT_FALSE(interpolate("${UNSET:?give a port}", lookup, error));
  EXPECT_EQ(error, "variable UNSET is not set: give a port");
  EXPECT_FALSE(interpolate("${SET", lookup, error));
}

TEST(ScanCompose, ShortSyntax) {
  auto r = scan(R"(services:
  db:
    ports:
      - "5432:5432"
      - "127.0.0.1:6543:5432"
      - "5353:53/udp"
      - 7000:7000
)");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.findings.size(), 4u);
  EXPECT_EQ(r.findings[0].service, "db");
  EXPECT_EQ(r.findings[0].port, 5432);
  EXPECT_EQ(r.findings[0].line, 4);
  EXPECT_TRUE(r.findings[0].host_bound());
  EXPECT_EQ(r.findings[1].port, 6543);
  EXPECT_EQ(r.findings[1].host_ip, "127.0.0.1");
  EXPECT_EQ(r.findings[1].service, "db-6543");
  EXPECT_EQ(r.findings[2].protocol, "udp");
  EXPECT_EQ(r.findings[2].port, 5353);
  EXPECT_EQ(r.findings[3].port, 7000);
}

TEST(ScanCompose, RangesAndIpv6) {
  auto r = scan("services:\n  web:\n    ports: [\"[::1]:8000-8002:8000-8002\"]\n");
  ASSERT_EQ(r.findings.size(), 3u);
  EXPECT_EQ(r.findings[0].port, 8000);
  EXPECT_EQ(r.findings[0].service, "web");
  EXPECT_EQ(r.findings[2].port, 8002);
  EXPECT_EQ(r.findings[2].service, "web-8002");
  EXPECT_EQ(r.findings[2].host_ip, "::1");
}

TEST(ScanCompose, VariablesFromLookup) {
  std::string yaml = "services:\n  web:\n    ports:\n      - \"${WEB_PORT:-3000}:3000\"\n";
  EXPECT_EQ(scan(yaml).findings.at(0).port, 3000);
  EXPECT_EQ(scan(yaml, {{"WEB_PORT", "3100"}}).findings.at(0).port, 3100);
  auto unset = scan("services:\n  web:\n    ports:\n      - \"${WEB_PORT}:3000\"\n");
  ASSERT_EQ(unset.findings.size(), 1u);
  EXPECT_FALSE(unset.findings[0].host_bound());
  EXPECT_EQ(unset.findings[0].skipped, "variable WEB_PORT is not set");
}

TEST(ScanCompose, ContainerOnlyEntriesAreSkipped) {
  auto r = scan(R"(services:
  api:
    ports:
      - "8080"
      - "127.0.0.1::81"
      - target: 82
    expose:
      - "9000"
)");
  ASSERT_EQ(r.findings.size(), 4u);
  for (const auto& f : r.findings) EXPECT_FALSE(f.host_bound()) << f.port;
  EXPECT_EQ(r.findings[0].port, 8080);
  EXPECT_EQ(r.findings[0].skipped, "container-only (no host port)");
  EXPECT_EQ(r.findings[1].skipped, "random host port");
  EXPECT_EQ(r.findings[2].skipped, "random host port");
  EXPECT_EQ(r.findings[3].port, 9000);
  EXPECT_EQ(r.findings[3].skipped, "container-only (expose)");
}

TEST(ScanCompose, LongSyntax) {
  auto r = scan(R"(services:
  cache:
    ports:
      - target: 6379
        published: "${REDIS_PORT:-6390}"
        host_ip: 127.0.0.1
        protocol: udp
      - target: 80
        published: 8080
)");
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(r.findings[0].port, 6390);
  EXPECT_EQ(r.findings[0].host_ip, "127.0.0.1");
  EXPECT_EQ(r.findings[0].protocol, "udp");
  EXPECT_EQ(r.findings[0].line, 4);
  EXPECT_EQ(r.findings[1].port, 8080);
}

TEST(ScanCompose, InvalidYamlIsAnErrorWithItsLine) {
  auto r = scan("services:\n  web:\n    ports:\n      - \"80:80\"\n    image: [unclosed\n");
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_GE(r.errors[0].line, 5);
  EXPECT_NE(r.errors[0].message.find("not valid YAML"), std::string::npos);
  auto notmap = scan("services: [a, b]\n");
  ASSERT_EQ(notmap.errors.size(), 1u);
  EXPECT_EQ(notmap.errors[0].message, "'services' is not a mapping");
}

TEST(ScanCompose, ServiceNamesAreValid) {
  auto r = scan("services:\n  My_Web.App:\n    ports: [\"80:80\"]\n");
  EXPECT_EQ(r.findings.at(0).service, "my_web.app");
}

TEST(ComposeFileName, Patterns) {
  for (const char* yes : {"compose.yaml", "compose.yml", "docker-compose.yml",
                          "docker-compose.yaml", "docker-compose.dev.yml", "compose.prod.yaml"}) {
    EXPECT_TRUE(is_compose_file_name(yes)) << yes;
  }
  for (const char* no : {"compose.json", "docker-compose", "my-compose.yml", "compose..yml"}) {
    EXPECT_FALSE(is_compose_file_name(no)) << no;
  }
}

}  // namespace
