// portctl list: allocations as an aligned table or a JSON array.
//
// With any filter the app is detected (unless --app is given), and with
// --service the instance too, so that inside a worktree
// `portctl list --service postgres --json | jq '.[0].port'` is that
// worktree's port (portctl(1) "WORKTREES"). No filter, or --all, lists all.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct ListOptions {
  std::string app;
  std::string instance;
  std::string service;
  std::uint16_t port = 0;
  bool all = false;
};

int run_list(Context& ctx, const ListOptions& o) {
  portd::client::Filter f;
  bool any = !o.app.empty() || !o.instance.empty() || !o.service.empty() || o.port != 0;
  if (any && !o.all) {
    // Outside a repository a filter simply applies across all apps.
    f.app = ctx.maybe_app(o.app);
    if (!o.instance.empty()) {
      f.instance = o.instance;
    } else if (!o.service.empty()) {
      f.instance = ctx.maybe_instance("");
    }
    if (!o.service.empty()) f.service = o.service;
    if (o.port != 0) f.port = o.port;
  }
  auto list = ctx.client().list(f);
  if (ctx.flags.json) {
    print_json(to_json(list));
    return 0;
  }
  if (list.empty()) {
    fmt::print("no allocations\n");
    return 0;
  }
  Table t({"ID", "APP", "INSTANCE", "SERVICE", "PORT", "CREATED"});
  for (const auto& a : list) {
    t.add_row({std::to_string(a.id), a.app, a.instance, a.service, std::to_string(a.port),
               local_time(a.created_at)});
  }
  t.print(stdout, Style(ctx.color()));
  return 0;
}

}  // namespace

Runner setup_list(CLI::App& cmd) {
  auto o = std::make_shared<ListOptions>();
  auto* app = cmd.add_option("--app", o->app, "Only this app (default with any filter: detected)");
  auto* instance = cmd.add_option("--instance", o->instance,
                                  "Only this instance (default with --service: detected)");
  auto* service = cmd.add_option("--service", o->service, "Only this service");
  auto* port = cmd.add_option("--port", o->port, "Only this port")->check(CLI::Range(1, 65535));
  cmd.add_flag("-a,--all", o->all, "Every allocation of every app (the default without filters)")
      ->excludes(app)
      ->excludes(instance)
      ->excludes(service)
      ->excludes(port);
  return [o](Context& ctx) { return run_list(ctx, *o); };
}

}  // namespace portctl
