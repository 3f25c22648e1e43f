// portctl env: NAME_PORT=N lines for the current app/instance, on stdout or
// merged atomically into a .env-style file (other lines kept byte for byte).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/env_file.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct EnvOptions {
  std::string app;
  std::string instance;
  std::string write;
  bool replace = false;
  bool export_prefix = false;
  bool urls = false;
};

/// NAME_PORT (and with `urls` NAME_URL) per allocation, sorted by name.
EnvVars variables(const std::vector<portd::client::Allocation>& list, bool urls) {
  EnvVars vars;
  for (const auto& [name, port] : port_variables(list)) {
    vars.emplace_back(name, std::to_string(port));
    if (urls) {
      // env_var_name() always ends in "_PORT".
      std::string stem = name.substr(0, name.size() - 5);
      vars.emplace_back(stem + "_URL", fmt::format("http://localhost:{}", port));
    }
  }
  return vars;
}

int run_env(Context& ctx, const EnvOptions& o) {
  auto list = ctx.instance_allocations(o.app, o.instance, true);
  EnvVars vars = variables(list, o.urls);
  std::string_view prefix = o.export_prefix ? "export " : "";
  if (ctx.flags.json && o.write.empty()) {
    Json j = Json::object();
    for (const auto& [name, value] : vars) {
      if (name.ends_with("_PORT")) {
        j[name] = std::stoi(value);
      } else {
        j[name] = value;
      }
    }
    print_json(j);
    return 0;
  }
  if (!o.write.empty() && !o.replace) {
    update_env_file(o.write, vars, prefix);
    return 0;
  }
  std::string text;
  for (const auto& [name, value] : vars) text += fmt::format("{}{}={}\n", prefix, name, value);
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
  auto* write =
      cmd.add_option("-w,--write", o->write,
                     "Update the NAME_PORT lines of FILE atomically, keeping every other line");
  cmd.add_flag("--replace", o->replace, "With --write, replace the whole file with the lines")
      ->needs(write);
  cmd.add_flag("--export", o->export_prefix, "Prefix lines with 'export ' (for eval and direnv)");
  cmd.add_flag("--urls", o->urls, "Also give NAME_URL=http://localhost:N per service");
  return [o](Context& ctx) { return run_env(ctx, *o); };
}

}  // namespace portctl
