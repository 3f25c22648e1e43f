// portctl check: is a port free? Exit 0 when available, 1 when taken.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/holders_view.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct CheckOptions {
  std::uint16_t port = 0;
};

int run_check(Context& ctx, const CheckOptions& o) {
  auto r = ctx.client().check(o.port);
  if (ctx.flags.json) {
    Json j = Json::object();
    j["port"] = r.port;
    j["available"] = r.available;
    j["holder"] = r.holder ? to_json(*r.holder) : Json(nullptr);
    j["reserved"] = r.reserved;
    j["in_use"] = r.in_use;
    j["pid"] = r.pid ? Json(r.pid) : Json(nullptr);
    j["command"] = r.command.empty() ? Json(nullptr) : Json(r.command);
    print_json(j);
    return r.available ? 0 : 1;
  }
  Style style(ctx.color());
  if (r.available) {
    fmt::print("port {} is {}\n", o.port, style.green("available"));
    return 0;
  }
  if (r.holder) {
    fmt::print("port {} is allocated to {} (id={})\n", o.port, key_of(*r.holder), r.holder->id);
    // Registered and bound: say who has it, as `portctl who` does.
    if (r.in_use) {
      std::vector<portd::sys::PortHolder> holders = portd::sys::find_port_holders(o.port);
      if (!holders.empty()) {
        fmt::print("port {} is bound by:\n", o.port);
        print_holders(stdout, holders, 2);
      }
    }
  } else if (r.in_use && r.pid != 0) {
    fmt::print("port {} is in use by pid {}{}\n", o.port, r.pid,
               r.command.empty() ? "" : fmt::format(" ({})", r.command));
  } else if (r.in_use) {
    fmt::print("port {} is in use by another process\n", o.port);
  } else if (r.reserved) {
    fmt::print("port {} is reserved\n", o.port);
  } else {
    fmt::print("port {} is not available\n", o.port);
  }
  return 1;
}

}  // namespace

Runner setup_check(CLI::App& cmd) {
  auto o = std::make_shared<CheckOptions>();
  auto* flag =
      cmd.add_option("--port", o->port, "Port to check (1-65535)")->check(CLI::Range(1, 65535));
  auto* positional = cmd.add_option("port", o->port, "Port to check (same as --port)")
                         ->check(CLI::Range(1, 65535));
  flag->excludes(positional);
  cmd.callback([flag, positional] {
    if (flag->count() + positional->count() == 0) {
      throw CLI::RequiredError("--port");
    }
  });
  return [o](Context& ctx) { return run_check(ctx, *o); };
}

}  // namespace portctl
