// portctl exec: run a command with PORT and <SERVICE>_PORT set from the
// current app/instance's allocations, adding the port flag for dev servers
// that ignore PORT (port_flags.hpp), and with --listen passing the bound
// sockets themselves (listen_fds.hpp).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/listen_fds.hpp"
#include "portctl/output.hpp"
#include "portctl/port_flags.hpp"

namespace portctl {
namespace {

using portd::client::Allocation;

struct ExecOptions {
  std::string app;
  std::string instance;
  std::vector<std::string> services;
  std::vector<std::string> command;
  bool no_port_flag = false;
  bool listen = false;
};

// The allocations --service names, in the order given; all of `list` when
// none is named. Throws Error(not_found) for a service without one.
std::vector<const Allocation*> selected(const std::vector<Allocation>& list,
                                        const std::vector<std::string>& services) {
  std::vector<const Allocation*> out;
  if (services.empty()) {
    for (const auto& a : list) out.push_back(&a);
    return out;
  }
  for (const auto& service : services) {
    const Allocation* found = nullptr;
    for (const auto& a : list) {
      if (a.service == service) found = &a;
    }
    if (found == nullptr) {
      throw portd::client::Error(portd::client::ErrorCode::not_found,
                                 fmt::format("no allocation for {}/{}/{}", list.front().app,
                                             list.front().instance, service));
    }
    out.push_back(found);
  }
  return out;
}

// Appends the port flag of a known dev server to `command` (port_flags.hpp).
void add_port_flag(std::vector<std::string>& command, const Allocation* primary) {
  PortFlagEdit edit = port_flag_edit(command, primary != nullptr ? primary->port : 0);
  if (edit.rule == nullptr) return;
  if (primary == nullptr) {
    fmt::print(stderr, "portctl: not adding --port for '{}': several allocations, pass --service\n",
               rule_command(*edit.rule));
    return;
  }
  command.insert(command.begin() + static_cast<std::ptrdiff_t>(edit.position), edit.args.begin(),
                 edit.args.end());
}

int run_exec(Context& ctx, const ExecOptions& o) {
  auto list = ctx.instance_allocations(o.app, o.instance, true);
  std::vector<const Allocation*> chosen = selected(list, o.services);
  // PORT is the first --service's port, or the only allocation's.
  const Allocation* primary = nullptr;
  if (!o.services.empty() || list.size() == 1) primary = chosen.front();

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

  std::vector<std::string> command = o.command;
  if (!o.no_port_flag) add_port_flag(command, primary);

  if (o.listen) {
    std::vector<int> fds;
    std::vector<std::string> names;
    for (const Allocation* a : chosen) {
      fds.push_back(listen_tcp(a->port));
      names.push_back(a->service);
    }
    pass_listen_fds(fds, names);
  } else {
    // Variables meant for portctl itself must not reach the command.
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    ::unsetenv("LISTEN_PID");
  }

  std::vector<char*> argv;
  for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
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
  cmd.add_option("--service", o->services,
                 "Service whose port becomes PORT (the first one given); with --listen, "
                 "repeat it to listen on several")
      ->allow_extra_args(false);
  cmd.add_flag("--listen", o->listen,
               "Bind the ports and pass the listening sockets as fds 3... (LISTEN_FDS, "
               "LISTEN_FDNAMES, LISTEN_PID; see sd_listen_fds(3))");
  cmd.add_flag("--no-port-flag", o->no_port_flag,
               "Do not append --port N for the known dev servers listed below");
  cmd.add_option("command", o->command, "Command and its arguments; put -- before it")->required();
  // After `--` every argument is the command's, options included; global
  // options must come before `exec`, so nothing falls through to portctl.
  cmd.fallthrough(false);
  cmd.footer("Known dev servers (also run through " + std::string(kPortFlagLaunchers) +
             ") get these flags\nunless the command names a port (--port, --port=, -p):\n" +
             port_flag_table_text());
  return [o](Context& ctx) { return run_exec(ctx, *o); };
}

}  // namespace portctl
