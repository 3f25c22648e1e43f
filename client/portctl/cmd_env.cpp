// portctl env: NAME_PORT=N lines for the current app/instance, on stdout or
// written atomically to a .env-style file.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct EnvOptions {
  std::string app;
  std::string instance;
  std::string write;
};

int run(Context& ctx, const EnvOptions& o) {
  auto list = ctx.instance_allocations(o.app, o.instance, true);
  auto vars = port_variables(list);
  if (ctx.flags.json && o.write.empty()) {
    Json j = Json::object();
    for (const auto& [name, port] : vars) j[name] = port;
    print_json(j);
    return 0;
  }
  std::string text;
  for (const auto& [name, port] : vars) text += fmt::format("{}={}\n", name, port);
  if (o.write.empty()) {
    fmt::print("{}", text);
  } else {
    write_file_atomically(o.write, text);
  }
  return 0;
}

}  // namespace

Runner setup_env(CLI::App& cmd) {
  auto o = std::make_shared<EnvOptions>();
  cmd.add_option("--app", o->app, "Application name (default: detected)");
  cmd.add_option("--instance", o->instance, "Instance name (default: detected)");
  cmd.add_option("-w,--write", o->write,
                 "Write the lines to FILE atomically instead of printing them");
  return [o](Context& ctx) { return run(ctx, *o); };
}

}  // namespace portctl
