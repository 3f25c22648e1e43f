// package.json, .env, Makefile/scripts parsers and command-line words.
#include <gtest/gtest.h>

#include "project/dotenv.hpp"
#include "project/makefile.hpp"
#include "project/package_json.hpp"
#include "project/shell_words.hpp"

using namespace portd::project;

namespace {

TEST(ShellWords, QuotesEscapesAndOperators) {
  EXPECT_EQ(shell_words("a 'b c' \"d\\\"e\" f\\ g"),
            (std::vector<std::string>{"a", "b c", "d\"e", "f g"}));
  EXPECT_EQ(shell_words("x&&y;z"), (std::vector<std::string>{"x", "&", "&", "y", ";", "z"}));
}

TEST(CommandPorts, Flags) {
  auto ports = command_ports(shell_words(
      "PORT=3000 WEB_PORT=3001 vite --port 5173 --port=4173 -p 6006 -p 8080:80 --port $PORT"));
  ASSERT_EQ(ports.size(), 5u);
  EXPECT_EQ(ports[0].port, 3000);
  EXPECT_EQ(ports[0].stem, "");
  EXPECT_EQ(ports[1].port, 3001);
  EXPECT_EQ(ports[1].stem, "web");
  EXPECT_EQ(ports[2].port, 5173);
  EXPECT_EQ(ports[3].port, 4173);
  EXPECT_EQ(ports[4].port, 6006);
}

TEST(ScanPackageJson, Scripts) {
  auto r = scan_package_json(R"({
  "scripts": {
    "dev": "vite --port 5173 --strictPort",
    "Story Book": "storybook dev -p 6006",
    "api": "API_PORT=8081 node server.js",
    "two": "a --port 1111 && b --port 2222",
    "build": "vite build"
  }
})",
                             "package.json");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.findings.size(), 5u);
  EXPECT_EQ(r.findings[0].service, "dev");
  EXPECT_EQ(r.findings[0].port, 5173);
  EXPECT_EQ(r.findings[0].line, 3);
  EXPECT_EQ(r.findings[1].service, "story-book");
  EXPECT_EQ(r.findings[2].service, "api");
  EXPECT_EQ(r.findings[2].port, 8081);
  EXPECT_EQ(r.findings[3].service, "two");
  EXPECT_EQ(r.findings[4].service, "two-2222");
}

TEST(ScanPackageJson, InvalidJsonIsAnErrorWithItsLine) {
  auto r = scan_package_json("{\n  \"scripts\": {\n    \"dev\": \"x\",\n  }\n}\n", "package.json");
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_NE(r.errors[0].message.find("not valid JSON"), std::string::npos);
}

TEST(ParseDotenv, Assignments) {
  auto e =
      parse_dotenv("# c\nA=1\r\nexport B = \"two words\" \nC='x' # y\nD=3 # note\nnot a line\n");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].value, "1");
  EXPECT_EQ(e[1].name, "B");
  EXPECT_EQ(e[1].value, "two words");
  EXPECT_EQ(e[1].line, 3);
  EXPECT_EQ(e[2].value, "x");
  EXPECT_EQ(e[3].value, "3");
}

TEST(ScanDotenv, PortVariables) {
  auto r =
      scan_dotenv("SECRET=x\nWEB_PORT=3100\nPORT=8000\nDB_PORT=\"5433\"\nBAD_PORT=abc\n", ".env");
  ASSERT_EQ(r.findings.size(), 4u);
  EXPECT_EQ(r.findings[0].service, "web");
  EXPECT_EQ(r.findings[0].port, 3100);
  EXPECT_EQ(r.findings[0].line, 2);
  EXPECT_EQ(r.findings[1].service, "web");  // plain PORT
  EXPECT_EQ(r.findings[2].service, "db");
  EXPECT_EQ(r.findings[2].port, 5433);
  EXPECT_FALSE(r.findings[3].host_bound());
}

TEST(ScanCommands, MakefileAssignmentsAndRecipes) {
  auto r = scan_commands(
      "PORT ?= 8000\nADMIN_PORT:=8001\nrun:\n\tpython -m http.server --port 8002\n# PORT=9\n",
      "Makefile", "web");
  ASSERT_EQ(r.findings.size(), 3u);
  EXPECT_EQ(r.findings[0].service, "web");
  EXPECT_EQ(r.findings[0].port, 8000);
  EXPECT_EQ(r.findings[1].service, "admin");
  EXPECT_EQ(r.findings[1].port, 8001);
  EXPECT_EQ(r.findings[2].port, 8002);
  EXPECT_EQ(r.findings[2].line, 4);
}

TEST(ServiceName, MadeValid) {
  EXPECT_EQ(service_name("Web Server!"), "web-server");
  EXPECT_EQ(service_name("***"), "app");
  EXPECT_EQ(service_name(std::string(80, 'a')).size(), 64u);
}

}  // namespace
