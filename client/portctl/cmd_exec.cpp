// portctl exec: run a command with PORT and <SERVICE>_PORT set from the
// current app/instance's allocations.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct ExecOptions {
  std::string app;
  std::string instance;
  std::string service;
  std::vector<std::string> command;
};

int run(Context& ctx, const ExecOptions& o) {
  auto list = ctx.instance_allocations(o.app, o.instance, true);
  const portd::client::Allocation* primary = nullptr;
  if (!o.service.empty()) {
    for (const auto& a : list) {
      if (a.service == o.service) primary = &a;
    }
    if (primary == nullptr) {
      throw portd::client::Error(portd::client::ErrorCode::not_found,
                                 fmt::format("no allocation for {}/{}/{}", list.front().app,
                                             list.front().instance, o.service));
    }
  } else if (list.size() == 1) {
    primary = &list.front();
  }
  for (const auto& [name, port] : port_variables(list)) {
    ::setenv(name.c_str(), std::to_string(port).c_str(), 1);
  }
  if (primary != nullptr) {
    ::setenv("PORT", std::to_string(primary->port).c_str(), 1);
  } else {
    // Several services and no --service: a PORT inherited from the caller
    // would name a port that is not ours.
    ::unsetenv("PORT");
  }

  std::vector<char*> argv;
  for (const auto& arg : o.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::execvp(argv[0], argv.data());
  int err = errno;
  fmt::print(stderr, "portctl: failed to run '{}': {}\n", o.command.front(), std::strerror(err));
  return err == ENOENT ? 127 : 126;
}

}  // namespace

Runner setup_exec(CLI::App& cmd) {
  auto o = std::make_shared<ExecOptions>();
  cmd.add_option("--app", o->app, "Application name (default: detected)");
  cmd.add_option("--instance", o->instance, "Instance name (default: detected)");
  cmd.add_option("--service", o->service, "Service whose port becomes PORT");
  cmd.add_option("command", o->command, "Command and its arguments; put -- before it")->required();
  // After `--` every argument is the command's, options included; global
  // options must come before `exec`, so nothing falls through to portctl.
  cmd.fallthrough(false);
  return [o](Context& ctx) { return run(ctx, *o); };
}

}  // namespace portctl
