// portctl doctor: checks the setup around portd, one line per check with a
// fix for each problem (portctl(1) "doctor"). Exit 0 when every check is
// ok, 1 otherwise. Never starts a daemon: one that is not running is a
// finding.
#include <CLI/CLI.hpp>

#include "alloc/port_rules.hpp"
#include "paths/paths.hpp"
#include "portctl/commands.hpp"
#include "portctl/doctor/checks.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

int run_doctor(Context& ctx) {
  doctor::Setup setup;
  setup.client = ctx.client_options();
  setup.client.autostart = false;
  setup.socket =
      setup.client.socket_path.empty() ? portd::default_socket_path() : setup.client.socket_path;
  setup.state_dir = portd::default_state_dir();
  setup.config = portd::default_config_path();

  doctor::Report report;
  doctor::check_environment(report);
  doctor::check_daemon(report, setup);
  doctor::check_directories(report, setup);
  std::optional<portd::Config> config = doctor::check_config_file(report, setup);
  if (config) {
    std::error_code ec;
    doctor::check_pools(report, *config, portd::kernel_ephemeral_range(),
                        std::filesystem::exists(setup.config, ec), setup.config);
  }
  doctor::check_store(report, setup, config ? *config : portd::default_config());
  doctor::check_autostart(report);

  if (ctx.flags.json) {
    print_json(doctor::to_json(report));
  } else {
    doctor::print_text(report, Style(ctx.color()));
  }
  return report.healthy() ? 0 : 1;
}

}  // namespace

Runner setup_doctor(CLI::App&) {
  return [](Context& ctx) { return run_doctor(ctx); };
}

}  // namespace portctl
