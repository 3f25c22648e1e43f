// portctl scan: the host ports a project's files declare (compose files,
// package.json scripts, .env files, Makefile, scripts/*) and whether each
// is free. Reads files only; --register runs `portctl init`.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"
#include "portctl/project_scan.hpp"

namespace portctl {
namespace {

namespace project = portd::project;

struct ScanCommandOptions {
  std::vector<std::string> paths;
  std::vector<std::string> compose_files;
  bool register_ports = false;
  bool force = false;
  std::string app;
  std::string instance;
};

/// The human status of a finding's port, and its JSON form.
std::pair<std::string, Json> status_of(Context& ctx, const project::Finding& f) {
  Json j = Json::object();
  if (!f.host_bound()) {
    j["state"] = "skipped";
    j["reason"] = f.skipped;
    return {"skipped: " + f.skipped, j};
  }
  auto r = ctx.client().check(f.port);
  if (r.available) {
    j["state"] = "free";
    return {"free", j};
  }
  if (r.holder) {
    j["state"] = "allocated";
    j["holder"] = to_json(*r.holder);
    return {"allocated to " + key_of(*r.holder), j};
  }
  if (r.in_use) {
    j["state"] = "in_use";
    j["pid"] = r.pid ? Json(r.pid) : Json(nullptr);
    j["command"] = r.command.empty() ? Json(nullptr) : Json(r.command);
    if (r.pid == 0) return {"in use", j};
    return {r.command.empty() ? fmt::format("in use by pid {}", r.pid)
                              : fmt::format("in use by pid {} ({})", r.pid, r.command),
            j};
  }
  j["state"] = r.reserved ? "reserved" : "unavailable";
  return {r.reserved ? "reserved" : "not available", j};
}

int run_scan(Context& ctx, const ScanCommandOptions& o) {
  if (o.register_ports) {
    if (o.paths.size() > 1) throw UsageError("scan --register takes at most one PATH");
    InitOptions init;
    init.app = o.app;
    init.instance = o.instance;
    init.path = o.paths.empty() ? "." : o.paths.front();
    init.compose_files = o.compose_files;
    init.force = o.force;
    return run_init(ctx, init);
  }
  project::ScanOptions options;
  options.paths = o.paths;
  options.compose_files = o.compose_files;
  auto result = project::scan_project(options, project::process_environment());

  Json findings = Json::array();
  Table table({"FILE", "SERVICE", "PORT", "PROTO", "STATUS"});
  for (const auto& f : result.findings) {
    auto [text, status] = status_of(ctx, f);
    std::string where = f.line ? fmt::format("{}:{}", f.file, f.line) : f.file;
    table.add_row({where, f.service, f.port ? std::to_string(f.port) : "-", f.protocol, text});
    Json j = Json::object();
    j["file"] = f.file;
    j["line"] = f.line;
    j["service"] = f.service;
    j["port"] = f.port ? Json(f.port) : Json(nullptr);
    j["protocol"] = f.protocol;
    j["host_ip"] = f.host_ip.empty() ? Json(nullptr) : Json(f.host_ip);
    j["host_bound"] = f.host_bound();
    j["status"] = status;
    findings.push_back(std::move(j));
  }
  Json errors = Json::array();
  for (const auto& e : result.errors) {
    std::string where = e.line ? fmt::format("{}:{}", e.file, e.line) : e.file;
    fmt::print(stderr, "portctl: skipped {}: {}\n", where, e.message);
    errors.push_back({{"file", e.file}, {"line", e.line}, {"message", e.message}});
  }
  if (ctx.flags.json) {
    print_json(Json{{"findings", findings}, {"errors", errors}});
  } else if (table.empty()) {
    fmt::print("no ports found\n");
  } else {
    table.print(stdout, Style(ctx.color()));
  }
  return result.errors.empty() ? 0 : 1;
}

}  // namespace

Runner setup_scan(CLI::App& cmd) {
  auto o = std::make_shared<ScanCommandOptions>();
  cmd.add_option("path", o->paths, "Directories or files to scan (default: the current directory)");
  cmd.add_option("-f,--file", o->compose_files, "Compose file to scan, whatever its name")
      ->allow_extra_args(false);
  auto* reg = cmd.add_flag("--register", o->register_ports,
                           "Register the ports found, as `portctl init` does");
  cmd.add_flag("--force", o->force, "With --register: register ports a process has bound")
      ->needs(reg);
  cmd.add_option("--app", o->app, "With --register: application name (default: detected)")
      ->needs(reg);
  cmd.add_option("--instance", o->instance, "With --register: instance name (default: detected)")
      ->needs(reg);
  return [o](Context& ctx) { return run_scan(ctx, *o); };
}

}  // namespace portctl
