// Converters of `portctl import --from` on the reference documents' own
// examples (Atlas ports.json, port-manager .ports.env, port-server's API).
#include <gtest/gtest.h>

#include "migrate/migrate.hpp"

namespace portd::migrate {
namespace {

using nlohmann::json;

const json kAtlas = json::parse(R"({
  "ranges": {
    "web": {"start": 8080, "end": 8099, "description": "HTTP web servers"},
    "database": {"start": 5432, "end": 5439, "description": "Database services"}
  },
  "allocations": [
    {"port": 8080, "worktree": "review-GH-42", "service": "web",
     "allocated_at": "2025-12-31T10:00:00Z", "allocated_by": "user@hostname",
     "description": "Frontend development server for PR #42", "process_id": null,
     "health_status": "unknown"},
    {"port": 5432, "worktree": "review-GH-42", "service": "database",
     "allocated_at": "2025-12-31T10:01:00Z", "allocated_by": "user@hostname",
     "description": "PostgreSQL instance for PR #42 testing", "process_id": 12345,
     "health_status": "healthy"}
  ]
})");

TEST(Atlas, AllocationsBecomeRowsOfTheGivenApp) {
  Converted c = from_atlas(kAtlas, "myproject", "ports.json");
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].app, "myproject");
  EXPECT_EQ(c.rows[0].instance, "review-GH-42");
  EXPECT_EQ(c.rows[0].service, "web");
  EXPECT_EQ(c.rows[0].port, 8080);
  EXPECT_EQ(c.rows[0].allocated_by, "user@hostname");
  EXPECT_EQ(c.rows[0].created_at, 1767175200);
  EXPECT_EQ(c.rows[0].pid, 0u);
  EXPECT_EQ(c.rows[1].pid, 12345u);
  EXPECT_EQ(c.rows[1].description, "PostgreSQL instance for PR #42 testing");
  EXPECT_EQ(c.rows[1].source, "ports.json allocation #2");
}

TEST(Atlas, AllocationsKeyedByPortAreAcceptedToo) {
  json doc = json::parse(R"({"allocations": {"3000": {"worktree": "main", "service": "api"}}})");
  Converted c = from_atlas(doc, "app", "f");
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].port, 3000);
  EXPECT_EQ(c.rows[0].instance, "main");
}

TEST(Atlas, RangesBecomePoolTables) {
  EXPECT_EQ(atlas_pools_toml(kAtlas),
            "[[pool]]\nname = \"database\"\nrange = \"5432-5439\"\nservices = [\"database\"]\n\n"
            "[[pool]]\nname = \"web\"\nrange = \"8080-8099\"\nservices = [\"web\"]\n\n");
}

TEST(Atlas, ADocumentWithoutAllocationsIsRejected) {
  EXPECT_THROW(from_atlas(json::parse(R"({"app": "x"})"), "a", "f"), std::runtime_error);
}

TEST(PortManager, PortsEnvLinesBecomeServices) {
  Converted c = from_ports_env(
      "WEB_PORT=8000\nAPI_PORT=8100\n# comment\n\nexport DB_PORT=\"5400\"\nREDIS_PORT=6300\n"
      "NOT_A_PORT_VAR=1\nBAD_PORT=abc\n",
      "my-project", "main", ".ports.env");
  ASSERT_EQ(c.rows.size(), 5u);
  EXPECT_EQ(c.rows[0].service, "web");
  EXPECT_EQ(c.rows[0].port, 8000);
  EXPECT_EQ(c.rows[2].service, "db");
  EXPECT_EQ(c.rows[2].port, 5400);
  EXPECT_EQ(c.rows[3].app, "my-project");
  EXPECT_EQ(c.rows[4].port, -1) << "a value that is no number is kept to be skipped";
  EXPECT_EQ(c.rows[4].source, ".ports.env line 8");
}

TEST(PortManager, RegistryProjectsServicesPorts) {
  json doc = json::parse(R"({"projects": {
      "shop": {"path": "/src/shop", "ports": {"web": 8000, "api": {"port": 8100}}}}})");
  Converted c = from_port_manager(doc, "main", "registry.json");
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].app, "shop");
  EXPECT_EQ(c.rows[0].service, "api");
  EXPECT_EQ(c.rows[0].port, 8100);
  EXPECT_EQ(c.rows[1].port, 8000);
  EXPECT_EQ(c.rows[1].instance, "main");
}

TEST(PortServer, ApiListBecomesRows) {
  json doc = json::parse(R"([{"id": 1, "app": "myapp", "instance": "dev",
      "service": "postgres", "port": 5432, "created_at": "2025-02-08T15:04:05Z"}])");
  Converted c = from_port_server_json(doc, "allocations.json");
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].app, "myapp");
  EXPECT_EQ(c.rows[0].port, 5432);
  EXPECT_EQ(c.rows[0].created_at, 1739027045);
  EXPECT_THROW(from_port_server_json(json::object(), "f"), std::runtime_error);
}

TEST(PortServer, SqliteTimestampsAreUtc) {
  EXPECT_EQ(parse_timestamp("2025-02-08 15:04:05"), 1739027045);
  EXPECT_EQ(parse_timestamp("yesterday"), 0);
}

TEST(PortServer, AMissingDatabaseIsAClearError) {
  try {
    from_port_server_db("/nonexistent/ports.db");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ports.db"), std::string::npos);
  }
}

TEST(Screen, BadNamesPortsAndConflictsAreSkippedWithReasons) {
  Converted c;
  auto row = [](std::string service, std::int64_t port) {
    Row r;
    r.app = "a";
    r.instance = "i";
    r.service = std::move(service);
    r.port = port;
    return r;
  };
  c.rows = {row("web", 8000), row("we b", 8001), row("api", 70000), row("db", 8000),
            row("web", 8002)};
  screen(c);
  ASSERT_EQ(c.rows.size(), 1u);
  ASSERT_EQ(c.skipped.size(), 4u);
  EXPECT_TRUE(c.skipped[0].reason.starts_with("invalid name: service 'we b'"));
  EXPECT_EQ(c.skipped[1].reason, "port out of range: 70000 is not in 1-65535");
  EXPECT_EQ(c.skipped[2].reason, "conflicting port: 8000 is already taken by a/i/web");
  EXPECT_EQ(c.skipped[3].reason, "conflicting key: a/i/web is listed twice");
}

}  // namespace
}  // namespace portd::migrate
