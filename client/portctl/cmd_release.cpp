// portctl release: by --id, by --port, or by a filter that always includes
// the app (detected unless given), so a bare `portctl release` inside a
// repository releases that app's allocations and never everything.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct ReleaseOptions {
  std::uint64_t id = 0;
  std::string app;
  std::string instance;
  std::string service;
  std::uint16_t port = 0;
};

portd::client::Filter build_filter(Context& ctx, const ReleaseOptions& o) {
  portd::client::Filter f;
  if (o.port != 0) {
    // A port names at most one allocation, so it is a safe filter on its
    // own; the app detected in the current directory must not hide the
    // holder of another app (only an explicit --app narrows it).
    f.port = o.port;
    if (!o.app.empty()) f.app = o.app;
  } else {
    f.app = ctx.app(o.app);  // UsageError outside a repository: never release everything
  }
  if (!o.instance.empty()) {
    f.instance = o.instance;
  } else if (!o.service.empty()) {
    f.instance = o.app.empty() ? ctx.instance("") : ctx.maybe_instance("");
  }
  if (!o.service.empty()) f.service = o.service;
  return f;
}

int run_release(Context& ctx, const ReleaseOptions& o) {
  portd::client::ReleaseResult r;
  try {
    r = o.id != 0 ? ctx.client().release(o.id) : ctx.client().release(build_filter(ctx, o));
  } catch (const portd::client::Error& e) {
    // A filter that matches nothing is not an error of the daemon's making.
    if (e.code() != portd::client::ErrorCode::not_found || o.id != 0) throw;
  }
  if (ctx.flags.json) {
    Json j = Json::object();
    j["released"] = r.released;
    j["allocations"] = to_json(r.allocations);
    print_json(j);
    return r.released == 0 ? 1 : 0;
  }
  if (r.released == 0) {
    fmt::print(stderr, "no allocations matched\n");
    return 1;
  }
  if (r.allocations.empty()) {
    fmt::print("released {} allocation{}\n", r.released, r.released == 1 ? "" : "s");
  }
  for (const auto& a : r.allocations) fmt::print("released allocation {}\n", a.id);
  return 0;
}

}  // namespace

Runner setup_release(CLI::App& cmd) {
  auto o = std::make_shared<ReleaseOptions>();
  auto* id = cmd.add_option("--id", o->id, "Release the allocation with this id")
                 ->check(CLI::PositiveNumber);
  cmd.add_option("--app", o->app, "Only this app (default: detected)")->excludes(id);
  cmd.add_option("--instance", o->instance, "Only this instance (default with --service: detected)")
      ->excludes(id);
  cmd.add_option("--service", o->service, "Only this service")->excludes(id);
  cmd.add_option("--port", o->port, "Only the allocation of this port")
      ->check(CLI::Range(1, 65535))
      ->excludes(id);
  return [o](Context& ctx) { return run_release(ctx, *o); };
}

}  // namespace portctl
