// portctl up: allocate every service the project manifest (.portd.toml,
// portd-manifest(5)) lists for this worktree, all or nothing, and write the
// env file.
#include <filesystem>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/env_file.hpp"
#include "portctl/manifest.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

namespace fs = std::filesystem;

struct UpOptions {
  std::string app;
  std::string instance;
  std::string manifest;
  std::string env_file;
  bool no_env_file = false;
};

int run_up(Context& ctx, const UpOptions& o) {
  auto wt = portd::client::detect_worktree(fs::current_path());
  fs::path manifest_path = o.manifest;
  if (manifest_path.empty()) {
    if (!wt) throw UsageError("not inside a git repository: pass --manifest FILE");
    auto found = find_manifest(*wt);
    if (!found) {
      throw ManifestError(
          fmt::format("no {} at '{}': list the services there (see "
                      "portd-manifest(5))",
                      kManifestName, (wt->main_top.empty() ? wt->top : wt->main_top).string()));
    }
    manifest_path = *found;
  }
  Manifest m = load_manifest(manifest_path);

  Identity id = ctx.identity(o.app, o.instance);
  portd::client::AllocateAllRequest req;
  req.app = id.app;
  req.instance = id.instance;
  req.worktree = id.worktree;
  for (const ManifestService& s : m.services) {
    req.services.push_back({s.name, s.port, !s.strict, s.pool, s.description});
  }
  auto results = ctx.client().allocate_all(req);

  std::vector<portd::client::Allocation> list;
  for (const auto& r : results) list.push_back(r.allocation);
  fs::path env_path;
  bool env_changed = false;
  if (!o.no_env_file) {
    env_path = o.env_file.empty() ? fs::path(m.env_file) : fs::path(o.env_file);
    // The manifest's env_file is the worktree's: relative to its top.
    if (o.env_file.empty() && env_path.is_relative() && wt) env_path = wt->top / env_path;
    // Merged, not replaced: the env file may be the user's .env, holding
    // lines portctl does not manage (secrets, other settings).
    EnvVars vars;
    for (const auto& [name, port] : port_variables(list))
      vars.emplace_back(name, std::to_string(port));
    env_changed = update_env_file(env_path, vars).changed();
  }

  if (ctx.flags.json) {
    Json j = Json::object();
    j["allocations"] = Json::array();
    for (const auto& r : results) {
      Json a = to_json(r.allocation);
      a["created"] = r.created;
      j["allocations"].push_back(std::move(a));
    }
    j["env_file"] = env_path.string();
    j["env_file_changed"] = env_changed;
    print_json(j);
    return 0;
  }
  for (const auto& r : results) {
    const auto& a = r.allocation;
    fmt::print("{} port {} (id={}) for {}\n", r.created ? "allocated" : "kept", a.port, a.id,
               key_of(a));
  }
  if (!env_path.empty())
    fmt::print("{} {}\n", env_changed ? "wrote" : "unchanged:", env_path.string());
  return 0;
}

}  // namespace

Runner setup_up(CLI::App& cmd) {
  auto o = std::make_shared<UpOptions>();
  cmd.add_option("--app", o->app, "Application name (default: detected)");
  cmd.add_option("--instance", o->instance, "Instance name (default: detected)");
  cmd.add_option("--manifest", o->manifest,
                 "Manifest to read (default: .portd.toml at the main worktree's top)");
  cmd.add_option("--env-file", o->env_file,
                 "File for the NAME_PORT=N lines (default: the manifest's env_file, "
                 ".ports.env at the worktree's top)");
  cmd.add_flag("--no-env-file", o->no_env_file, "Do not write the env file");
  return [o](Context& ctx) { return run_up(ctx, *o); };
}

}  // namespace portctl
