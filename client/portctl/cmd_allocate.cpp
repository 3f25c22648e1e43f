// portctl allocate: ask for a port for (app, instance, service).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct AllocateOptions {
  std::string app;
  std::string instance;
  std::string service;
  std::uint16_t port = 0;
  std::string pool;
  std::string description;
  std::uint32_t pid = 0;
  std::int64_t ttl = 0;
  bool replace = false;
  bool force = false;
  bool quiet = false;
};

int run_allocate(Context& ctx, const AllocateOptions& o) {
  Identity id = ctx.identity(o.app, o.instance);
  portd::client::AllocateRequest req;
  req.app = id.app;
  req.instance = id.instance;
  req.service = o.service;
  req.worktree = id.worktree;
  req.port = o.port;
  req.pool = o.pool;
  req.description = o.description;
  req.pid = o.pid;
  req.ttl_seconds = o.ttl;
  req.replace = o.replace;
  req.force = o.force;

  auto result = ctx.client().allocate(req);
  const auto& a = result.allocation;
  if (o.quiet) {
    fmt::print("{}\n", a.port);
  } else if (ctx.flags.json) {
    Json j = Json::object();
    j["allocation"] = to_json(a);
    j["created"] = result.created;
    print_json(j);
  } else if (result.created) {
    fmt::print("allocated port {} (id={}) for {}\n", a.port, a.id, key_of(a));
  } else {
    fmt::print("port {} (id={}) is already allocated to {}\n", a.port, a.id, key_of(a));
  }
  return 0;
}

}  // namespace

Runner setup_allocate(CLI::App& cmd) {
  auto o = std::make_shared<AllocateOptions>();
  cmd.add_option("--app", o->app, "Application name (default: detected from the git repository)");
  cmd.add_option("--instance", o->instance,
                 "Instance name (default: the worktree's directory name or branch)");
  cmd.add_option("--service", o->service, "Service name, e.g. postgres")->required();
  cmd.add_option("--port", o->port, "Specific port; 0 = auto-assign")->check(CLI::Range(0, 65535));
  cmd.add_option("--pool", o->pool, "Pool to pick from (default: the service's pool)");
  cmd.add_option("--description", o->description, "Free text stored with the allocation");
  cmd.add_option("--pid", o->pid, "Owner process; gc releases the port once it exits");
  cmd.add_option("--ttl", o->ttl, "Lease length in seconds; gc releases the port after it")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--replace", o->replace, "Move an existing allocation of this key to --port");
  cmd.add_flag("--force", o->force, "Register --port even if a process has it bound");
  cmd.add_flag("-q,--quiet", o->quiet, "Print only the port number");
  return [o](Context& ctx) { return run_allocate(ctx, *o); };
}

}  // namespace portctl
