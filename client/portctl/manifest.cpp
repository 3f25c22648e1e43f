// .portd.toml parsing (portd-manifest(5)) with toml++.
#include "portctl/manifest.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "model/validate.hpp"

namespace portctl {
namespace {

class Parser {
 public:
  explicit Parser(const std::string& origin) : origin_(origin) {}

  [[noreturn]] void fail(const toml::source_region& at, std::string_view problem) const {
    throw ManifestError(
        fmt::format("{}:{}:{}: {}", origin_, at.begin.line, at.begin.column, problem));
  }

  Manifest parse(const toml::table& root) {
    Manifest m;
    const toml::node* services = nullptr;
    for (auto&& [key, node] : root) {
      if (key.str() == "env_file") {
        m.env_file = string(node, "env_file");
        if (m.env_file.empty()) fail(node.source(), "env_file must not be empty");
      } else if (key.str() == "services") {
        services = &node;
      } else {
        fail(key.source(), fmt::format("unknown key '{}'", key.str()));
      }
    }
    const toml::table* table = services ? services->as_table() : nullptr;
    if (services && !table) fail(services->source(), "services must be a table");
    if (!table || table->empty()) {
      fail(root.source(), "no services: add a [services.NAME] table for each service");
    }
    for (auto&& [name, node] : *table) m.services.push_back(service(name, node));
    return m;
  }

 private:
  ManifestService service(const toml::key& name, const toml::node& node) const {
    ManifestService s;
    s.name = std::string(name.str());
    if (!portd::is_valid_name(s.name)) {
      fail(name.source(),
           fmt::format("invalid service name '{}': use 1-{} characters of A-Z a-z 0-9 . _ -",
                       s.name.substr(0, 80), portd::kMaxNameLength));
    }
    const toml::table* t = node.as_table();
    if (!t) fail(node.source(), fmt::format("services.{} must be a table", s.name));
    const toml::node* strict_node = nullptr;
    for (auto&& [key, value] : *t) {
      const std::string_view k = key.str();
      if (k == "port") {
        const auto* v = value.as_integer();
        if (!v || v->get() < 1 || v->get() > 65535) {
          fail(value.source(), "port must be an integer from 1 to 65535");
        }
        s.port = static_cast<std::uint16_t>(v->get());
      } else if (k == "strict") {
        const auto* v = value.as_boolean();
        if (!v) fail(value.source(), "strict must be true or false");
        s.strict = v->get();
        strict_node = &value;
      } else if (k == "pool") {
        s.pool = string(value, "pool");
        if (!portd::is_valid_name(s.pool)) {
          fail(value.source(), fmt::format("invalid pool name '{}'", s.pool.substr(0, 80)));
        }
      } else if (k == "description") {
        s.description = string(value, "description");
      } else {
        fail(key.source(), fmt::format("unknown key '{}' in services.{}", k, s.name));
      }
    }
    if (s.strict && s.port == 0) fail(strict_node->source(), "strict needs a port");
    return s;
  }

  std::string string(const toml::node& node, std::string_view what) const {
    const auto* v = node.as_string();
    if (!v) fail(node.source(), fmt::format("{} must be a string", what));
    return std::string(v->get());
  }

  const std::string& origin_;
};

}  // namespace

Manifest parse_manifest(std::string_view text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ManifestError(fmt::format("{}:{}:{}: {}", origin, at.line, at.column, e.description()));
  }
  return Parser(origin).parse(root);
}

std::string format_manifest(const Manifest& m) {
  toml::table services;
  for (const ManifestService& s : m.services) {
    toml::table t;
    if (s.port != 0) t.insert("port", static_cast<std::int64_t>(s.port));
    if (s.strict) t.insert("strict", true);
    if (!s.pool.empty()) t.insert("pool", s.pool);
    if (!s.description.empty()) t.insert("description", s.description);
    services.insert(s.name, std::move(t));
  }
  toml::table root;
  if (m.env_file != Manifest{}.env_file) root.insert("env_file", m.env_file);
  root.insert("services", std::move(services));
  std::ostringstream out;
  out << "# The services this project needs ports for; `portctl up` allocates\n"
         "# them for each worktree. Format: portd-manifest(5).\n\n"
      << root << '\n';
  return out.str();
}

Manifest load_manifest(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.is_open() || in.bad()) {
    throw ManifestError(fmt::format("failed to read manifest '{}'", path.string()));
  }
  return parse_manifest(text, path.string());
}

std::optional<std::filesystem::path> find_manifest(const portd::client::Worktree& worktree) {
  std::error_code ec;
  for (const auto& top : {worktree.main_top, worktree.top}) {
    if (top.empty()) continue;
    auto path = top / kManifestName;
    if (std::filesystem::is_regular_file(path, ec)) return path;
  }
  return std::nullopt;
}

}  // namespace portctl
