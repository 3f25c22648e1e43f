#include "portctl/import_foreign.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "migrate/migrate.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

namespace fs = std::filesystem;
using portd::migrate::Converted;
using portd::migrate::Row;

Json read_json(const std::string& file) {
  Json doc = Json::parse(read_file_or_throw(file), nullptr, false);
  if (doc.is_discarded()) {
    throw std::runtime_error(fmt::format("failed to import '{}': not valid JSON", file));
  }
  return doc;
}

// Atlas keeps its registry at <repository>/design/worktrees/ports.json, so
// the repository's directory names the app.
std::string atlas_app(Context& ctx, const ForeignImport& o, const std::string& file) {
  if (!o.app.empty()) return o.app;
  fs::path p = fs::absolute(file).lexically_normal();
  if (p.filename() == "ports.json" && p.parent_path().filename() == "worktrees" &&
      p.parent_path().parent_path().filename() == "design") {
    return p.parent_path().parent_path().parent_path().filename().string();
  }
  if (auto app = ctx.maybe_app("")) return *app;
  throw UsageError(
      fmt::format("cannot tell the app of '{}': pass --app (Atlas files name no app)", file));
}

Converted convert(Context& ctx, const ForeignImport& o, const std::string& file) {
  if (o.format == "atlas") {
    Json doc = read_json(file);
    Converted c = portd::migrate::from_atlas(doc, atlas_app(ctx, o, file), file);
    std::string pools = portd::migrate::atlas_pools_toml(doc);
    if (!pools.empty() && !ctx.flags.json) {
      fmt::print("# Atlas ranges of {} as portd.toml pools:\n{}", file, pools);
    }
    return c;
  }
  if (o.format == "port-manager") {
    if (fs::path(file).extension() == ".json") {
      return portd::migrate::from_port_manager(read_json(file), o.instance, file);
    }
    // A .ports.env belongs to the project directory it sits in.
    std::string app = fs::absolute(file).lexically_normal().parent_path().filename().string();
    return portd::migrate::from_ports_env(read_file_or_throw(file), o.app.empty() ? app : o.app,
                                          o.instance, file);
  }
  std::string head = read_file_or_throw(file).substr(0, 16);
  if (head == std::string("SQLite format 3\0", 16)) {
    return portd::migrate::from_port_server_db(file);
  }
  return portd::migrate::from_port_server_json(read_json(file), file);
}

portd::client::Allocation to_allocation(const Row& r) {
  portd::client::Allocation a;
  a.app = r.app;
  a.instance = r.instance;
  a.service = r.service;
  a.port = static_cast<std::uint16_t>(r.port);
  a.description = r.description;
  a.worktree = r.worktree;
  a.allocated_by = r.allocated_by;
  a.created_at = r.created_at;
  a.pid = r.pid;
  return a;
}

/// Moves rows whose port or key the registry already gives to something
/// else to `c.skipped`; rows the registry already has as they are, too.
void screen_against_registry(Converted& c, const std::vector<portd::client::Allocation>& current) {
  std::map<std::uint16_t, const portd::client::Allocation*> by_port;
  std::map<std::string, const portd::client::Allocation*> by_key;
  for (const auto& a : current) {
    by_port[a.port] = &a;
    by_key[key_of(a)] = &a;
  }
  std::vector<Row> kept;
  for (Row& r : c.rows) {
    const std::string key = fmt::format("{}/{}/{}", r.app, r.instance, r.service);
    auto p = by_port.find(static_cast<std::uint16_t>(r.port));
    auto k = by_key.find(key);
    std::string reason;
    if (p != by_port.end() && key_of(*p->second) == key) {
      reason = fmt::format("already allocated: {} has port {} (id={})", key, r.port, p->second->id);
    } else if (p != by_port.end()) {
      reason = fmt::format("conflicting port: {} is allocated to {} (id={})", r.port,
                           key_of(*p->second), p->second->id);
    } else if (k != by_key.end()) {
      reason = fmt::format("conflicting key: {} already has port {} (id={})", key, k->second->port,
                           k->second->id);
    }
    if (reason.empty()) {
      kept.push_back(std::move(r));
    } else {
      c.skipped.push_back({std::move(r), std::move(reason)});
    }
  }
  c.rows = std::move(kept);
}

Json row_json(const Row& r) {
  Json j = Json::object();
  j["source"] = r.source;
  j["app"] = r.app;
  j["instance"] = r.instance;
  j["service"] = r.service;
  j["port"] = r.port;
  return j;
}

}  // namespace

int run_foreign_import(Context& ctx, const ForeignImport& o) {
  std::vector<std::string> files = o.files;
  if (files.empty() && o.format == "port-server") {
    const char* home = std::getenv("HOME");
    files.push_back((fs::path(home ? home : ".") / ".port_server" / "ports.db").string());
  }
  if (files.empty()) throw UsageError(fmt::format("import --from {} needs a FILE", o.format));
  Converted all;
  for (const std::string& file : files) {
    Converted c = convert(ctx, o, file);
    all.rows.insert(all.rows.end(), c.rows.begin(), c.rows.end());
    all.skipped.insert(all.skipped.end(), c.skipped.begin(), c.skipped.end());
  }
  portd::migrate::screen(all);
  screen_against_registry(all, ctx.client().list());
  if (!o.dry_run && !all.rows.empty()) {
    std::vector<portd::client::Allocation> records;
    for (const Row& r : all.rows) records.push_back(to_allocation(r));
    ctx.client().import_allocations(records, false);
  }
  if (ctx.flags.json) {
    Json j = Json::object();
    j["dry_run"] = o.dry_run;
    j["imported"] = Json::array();
    for (const Row& r : all.rows) j["imported"].push_back(row_json(r));
    j["skipped"] = Json::array();
    for (const auto& s : all.skipped) {
      Json item = row_json(s.row);
      item["reason"] = s.reason;
      j["skipped"].push_back(std::move(item));
    }
    print_json(j);
  } else {
    const char* verb = o.dry_run ? "would import" : "imported";
    for (const Row& r : all.rows) {
      fmt::print("{} {}/{}/{} port {} ({})\n", verb, r.app, r.instance, r.service, r.port,
                 r.source);
    }
    for (const auto& s : all.skipped) {
      fmt::print("skipped {}: {}\n", s.row.source, s.reason);
    }
    fmt::print("{} {} allocation{}, skipped {}\n", verb, all.rows.size(),
               all.rows.size() == 1 ? "" : "s", all.skipped.size());
  }
  return all.skipped.empty() ? 0 : 1;
}

}  // namespace portctl
