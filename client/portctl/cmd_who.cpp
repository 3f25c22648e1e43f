// portctl who: every local socket bound to a port, the process, user,
// command and directory behind it, and the registry allocation of the port.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/holders_view.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct WhoOptions {
  std::uint16_t port = 0;
};

int run_who(Context& ctx, const WhoOptions& o) {
  auto r = ctx.client().check(o.port);
  std::vector<portd::sys::PortHolder> holders = portd::sys::find_port_holders(o.port);
  const bool held = r.holder.has_value() || !holders.empty() || r.in_use;
  if (ctx.flags.json) {
    Json j = Json::object();
    j["port"] = o.port;
    j["allocation"] = r.holder ? to_json(*r.holder) : Json(nullptr);
    j["reserved"] = r.reserved;
    j["in_use"] = r.in_use || !holders.empty();
    Json sockets = Json::array();
    for (const auto& h : holders) sockets.push_back(to_json(h));
    j["sockets"] = std::move(sockets);
    print_json(j);
    return held ? 0 : 1;
  }
  if (r.holder) {
    fmt::print("port {} is allocated to {} (id={}){}\n", o.port, key_of(*r.holder), r.holder->id,
               r.holder->worktree.empty() ? "" : fmt::format(", worktree {}", r.holder->worktree));
  } else {
    fmt::print("port {} is not allocated{}\n", o.port, r.reserved ? " (it is reserved)" : "");
  }
  if (holders.empty()) {
    fmt::print(
        "port {} is {}\n", o.port,
        r.in_use ? "bound, but no socket of it is visible here" : "not bound by any process");
  } else {
    fmt::print("port {} is bound by:\n", o.port);
    print_holders(stdout, holders, 2);
  }
  return held ? 0 : 1;
}

}  // namespace

Runner setup_who(CLI::App& cmd) {
  auto o = std::make_shared<WhoOptions>();
  cmd.add_option("--port", o->port, "Port to look up (1-65535)")
      ->check(CLI::Range(1, 65535))
      ->required();
  return [o](Context& ctx) { return run_who(ctx, *o); };
}

}  // namespace portctl
