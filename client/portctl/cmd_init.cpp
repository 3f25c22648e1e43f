// portctl init: register the host ports a project's files declare (what
// `portctl scan` finds) for this app/instance and write .ports.env.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "portctl/commands.hpp"
#include "portctl/env_file.hpp"
#include "portctl/manifest.hpp"
#include "portctl/output.hpp"
#include "portctl/project_scan.hpp"

namespace portctl {

namespace project = portd::project;

std::vector<std::string> register_names(const std::vector<project::Finding>& findings,
                                        std::vector<bool>& duplicate) {
  std::vector<std::string> names;
  std::map<std::string, std::uint16_t> port_of;  // service -> port registered under it
  std::set<std::uint16_t> ports;                 // ports registered so far, under whichever name
  duplicate.assign(findings.size(), false);
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const auto& f = findings[i];
    std::string name = f.service;
    if (auto it = port_of.find(name); it != port_of.end() && it->second != f.port) {
      name = project::service_name(fmt::format("{}-{}", f.service, f.port));
    }
    // One port declared in two files (compose and .env) is one service:
    // registering it twice would only collide with ourselves.
    if (!f.host_bound() || !ports.insert(f.port).second) {
      duplicate[i] = f.host_bound();
      names.push_back(name);
      continue;
    }
    port_of.emplace(name, f.port);
    names.push_back(name);
  }
  return names;
}

namespace {

std::string where(const project::Finding& f) {
  return f.line ? fmt::format("{}:{}", f.file, f.line) : f.file;
}

// Writes the manifest `init --manifest` found, unless the project has one:
// a manifest is the user's file once written, so it is never replaced.
// Returns whether the file was written.
bool write_manifest(const std::filesystem::path& path, Manifest& m) {
  std::sort(m.services.begin(), m.services.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::string text = format_manifest(m);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::string current{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (current != text) {
      fmt::print("kept {} (it exists; edit it to change the services)\n",
                 path.lexically_normal().string());
    }
    return false;
  }
  write_file_atomically(path, text);
  fmt::print("wrote {}\n", path.lexically_normal().string());
  return true;
}

}  // namespace

int run_init(Context& ctx, const InitOptions& o) {
  Identity id = ctx.identity(o.app, o.instance);
  project::ScanOptions options;
  options.paths = {o.path};
  options.compose_files = o.compose_files;
  auto result = project::scan_project(options, project::process_environment());
  for (const auto& e : result.errors) {
    fmt::print(stderr, "portctl: skipped {}{}: {}\n", e.file,
               e.line ? fmt::format(":{}", e.line) : "", e.message);
  }

  std::vector<bool> duplicate;
  auto names = register_names(result.findings, duplicate);
  EnvVars vars;
  Manifest manifest;
  int created = 0;
  bool failed = !result.errors.empty();
  for (std::size_t i = 0; i < result.findings.size(); ++i) {
    const auto& f = result.findings[i];
    if (!f.host_bound()) {
      fmt::print("skipped {} {}{}: {}\n", where(f), f.service,
                 f.port ? fmt::format(" {}", f.port) : "", f.skipped);
      continue;
    }
    if (duplicate[i]) continue;
    portd::client::AllocateRequest req;
    req.app = id.app;
    req.instance = id.instance;
    req.service = names[i];
    req.worktree = id.worktree;
    req.port = f.port;
    req.force = o.force;
    req.description = fmt::format("portctl init: {}", where(f));
    try {
      auto r = ctx.client().allocate(req);
      const auto& a = r.allocation;
      if (r.created) {
        ++created;
        fmt::print("allocated port {} (id={}) for {} ({})\n", a.port, a.id, key_of(a), where(f));
      } else {
        fmt::print("port {} (id={}) is already allocated to {}\n", a.port, a.id, key_of(a));
      }
      vars.emplace_back(env_var_name(a.service), std::to_string(a.port));
      manifest.services.push_back(
          {a.service, a.port, false, {}, fmt::format("found in {}", where(f))});
    } catch (const portd::client::Error& e) {
      // A port held by another key, or a key holding another port, is
      // reported and left alone: init never takes anything.
      failed = true;
      fmt::print(stderr, "portctl: not registered {} {} port {}: {}\n", where(f), names[i], f.port,
                 describe(e));
    }
  }
  std::sort(vars.begin(), vars.end());
  bool file_changed = false;
  std::filesystem::path env_path = std::filesystem::path(o.path) / ".ports.env";
  if (!vars.empty()) {
    auto merged = update_env_file(env_path, vars);
    file_changed = merged.changed();
    if (file_changed) fmt::print("wrote {}\n", env_path.lexically_normal().string());
  }
  bool manifest_written = o.manifest && !manifest.services.empty() &&
                          write_manifest(std::filesystem::path(o.path) / kManifestName, manifest);
  if (created == 0 && !file_changed && !manifest_written) {
    fmt::print("{}\n", vars.empty() ? "no host ports to register" : "nothing changed");
  }
  return failed ? 1 : 0;
}

Runner setup_init(CLI::App& cmd) {
  auto o = std::make_shared<InitOptions>();
  cmd.add_option("path", o->path, "Project directory (default: the current directory)");
  cmd.add_option("-f,--file", o->compose_files, "Compose file to scan, whatever its name")
      ->allow_extra_args(false);
  cmd.add_option("--app", o->app, "Application name (default: detected)");
  cmd.add_option("--instance", o->instance, "Instance name (default: detected)");
  cmd.add_flag("--force", o->force, "Register ports a process has bound (as allocate --force)");
  cmd.add_flag("--manifest", o->manifest,
               "Also write .portd.toml listing the registered services (portd-manifest(5)), "
               "unless it exists");
  return [o](Context& ctx) { return run_init(ctx, *o); };
}

}  // namespace portctl
