// portctl version: this program's version and, if a daemon is running, its
// version. Never starts a daemon.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "config.h"
#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

int run_version(Context& ctx) {
  auto options = ctx.client_options();
  options.autostart = false;
  std::optional<portd::client::HelloResult> hello;
  std::string error;
  try {
    portd::client::Client probe(options);
    hello = probe.hello();
  } catch (const portd::client::Error& e) {
    error = e.what();
  }
  if (ctx.flags.json) {
    Json j = Json::object();
    j["portctl"] = PORTD_VERSION;
    if (hello) {
      Json d = Json::object();
      d["version"] = hello->version;
      d["protocol"] = hello->protocol;
      d["pid"] = hello->pid;
      j["portd"] = std::move(d);
    } else {
      j["portd"] = nullptr;
    }
    print_json(j);
    return 0;
  }
  fmt::print("portctl {}\n", PORTD_VERSION);
  if (hello) {
    fmt::print("portd {} (protocol {}, pid {})\n", hello->version, hello->protocol, hello->pid);
  } else {
    fmt::print("portd not running ({})\n", error);
  }
  return 0;
}

}  // namespace

Runner setup_version(CLI::App&) {
  return [](Context& ctx) { return run_version(ctx); };
}

}  // namespace portctl
