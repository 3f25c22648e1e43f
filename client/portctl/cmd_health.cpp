// portctl health: is the daemon answering? Exit 0 healthy, 1 otherwise.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

int run_health(Context& ctx) {
  auto h = ctx.client().health();
  bool ok = h.status == "ok";
  if (ctx.flags.json) {
    Json j = Json::object();
    j["status"] = h.status;
    j["version"] = h.version;
    j["pid"] = h.pid;
    j["uptime_seconds"] = h.uptime_seconds;
    j["allocations"] = h.allocations;
    j["connections"] = h.connections;
    j["socket"] = ctx.client().socket_path().string();
    print_json(j);
    return ok ? 0 : 1;
  }
  fmt::print("portd {} is {} (pid {}, up {}s, {} allocation{}, {} connection{}) on '{}'\n",
             h.version, ok ? "healthy" : h.status, h.pid, h.uptime_seconds, h.allocations,
             h.allocations == 1 ? "" : "s", h.connections, h.connections == 1 ? "" : "s",
             ctx.client().socket_path().string());
  return ok ? 0 : 1;
}

}  // namespace

Runner setup_health(CLI::App&) {
  return [](Context& ctx) { return run_health(ctx); };
}

}  // namespace portctl
