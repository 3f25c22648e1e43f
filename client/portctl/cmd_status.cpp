// portctl status: this app/instance's allocations and whether something is
// listening on each (the check op's in_use).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct StatusOptions {
  std::string app;
  std::string instance;
};

int run_status(Context& ctx, const StatusOptions& o) {
  std::string app = ctx.app(o.app);
  std::string instance = ctx.instance(o.instance);
  auto list = ctx.instance_allocations(app, instance, false);
  auto& client = ctx.client();

  std::vector<portd::client::CheckResult> checks;
  checks.reserve(list.size());
  for (const auto& a : list) checks.push_back(client.check(a.port));

  if (ctx.flags.json) {
    Json arr = Json::array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      Json item = Json::object();
      item["allocation"] = to_json(list[i]);
      item["listening"] = checks[i].in_use;
      item["pid"] = checks[i].pid ? Json(checks[i].pid) : Json(nullptr);
      item["command"] = checks[i].command.empty() ? Json(nullptr) : Json(checks[i].command);
      arr.push_back(std::move(item));
    }
    print_json(arr);
    return 0;
  }
  if (list.empty()) {
    fmt::print("no allocations for {}/{}\n", app, instance);
    return 0;
  }
  Style style(ctx.color());
  Table t({"ID", "SERVICE", "PORT", "STATE"});
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& c = checks[i];
    std::string state = "not listening";
    if (c.in_use) {
      state = "listening";
      if (c.pid != 0) {
        state += c.command.empty() ? fmt::format(" (pid {})", c.pid)
                                   : fmt::format(" (pid {}, {})", c.pid, c.command);
      }
    }
    t.add_row({std::to_string(list[i].id), list[i].service, std::to_string(list[i].port), state});
  }
  fmt::print("{}/{}\n", app, instance);
  t.print(stdout, style);
  return 0;
}

}  // namespace

Runner setup_status(CLI::App& cmd) {
  auto o = std::make_shared<StatusOptions>();
  cmd.add_option("--app", o->app, "Application name (default: detected)");
  cmd.add_option("--instance", o->instance, "Instance name (default: detected)");
  return [o](Context& ctx) { return run_status(ctx, *o); };
}

}  // namespace portctl
