// Shared by `portctl scan` and `portctl init`: the scan options both take
// and the init run that `scan --register` also performs.
#pragma once

#include <string>
#include <vector>

#include "portctl/context.hpp"
#include "project/scan.hpp"

namespace CLI {
class App;
}

namespace portctl {

/// Options of `portctl init` (and `scan --register`).
struct InitOptions {
  std::string app;
  std::string instance;
  std::string path = ".";                  ///< project directory; .ports.env is written there
  std::vector<std::string> compose_files;  ///< -f FILE
  bool force = false;     ///< register ports a process has bound (allocate --force)
  bool manifest = false;  ///< also write <path>/.portd.toml listing the registered services
};

/// Registers every host-bound finding of a scan of `o.path` with its port
/// for the detected app/instance and merges NAME_PORT lines into
/// <path>/.ports.env; with `o.manifest`, writes <path>/.portd.toml
/// (portd-manifest(5)) listing them, unless one exists. Prints one line per finding. Returns 0, or
/// 1 when a port could not be registered (held by another key, in use) or a file did not parse.
/// @see portctl(1) "init".
int run_init(Context& ctx, const InitOptions& o);

/// Unique service names for registering `findings`: a port found again
/// (under any name) is registered once, later findings being flagged in
/// `duplicate`, and a service already used with another port becomes
/// "<service>-<port>". Returns one name per finding.
std::vector<std::string> register_names(const std::vector<portd::project::Finding>& findings,
                                        std::vector<bool>& duplicate);

}  // namespace portctl
