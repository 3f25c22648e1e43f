// `portctl scan`: finds the project files under the given paths and runs
// the parser for each kind. Reads files only. See portctl(1), "scan".
#pragma once

#include <string>
#include <vector>

#include "project/compose.hpp"
#include "project/finding.hpp"

namespace portd::project {

/// What to scan.
struct ScanOptions {
  /// Directories (their compose files first, then package.json, .env,
  /// .env.*, Makefile in name order, then scripts/*; not recursive) or
  /// single files, classified by name. Empty = ".".
  std::vector<std::string> paths;
  /// Compose files given with -f, read whatever their name.
  std::vector<std::string> compose_files;
};

/// Scans every file `options` names. Compose variables come from
/// `environment` first, then from the .env beside the compose file (as
/// docker compose resolves them). A file that cannot be read or parsed is
/// an entry of `errors`; the other files are still scanned. A path that
/// does not exist is an error too.
ScanResult scan_project(const ScanOptions& options, const VariableLookup& environment);

/// Lookup in the process environment (getenv).
VariableLookup process_environment();

}  // namespace portd::project
