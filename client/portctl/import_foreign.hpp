// portctl import --from FORMAT: allocations from Atlas, port-manager or
// port-server (portctl(1) "import"), with a report of what was imported
// and what was skipped and why.
#pragma once

#include <string>
#include <vector>

#include "portctl/context.hpp"

namespace portctl {

struct ForeignImport {
  std::string format;  ///< "atlas", "port-manager" or "port-server"
  std::vector<std::string> files;
  std::string app;       ///< atlas: the app of every row (default: from the path)
  std::string instance;  ///< port-manager: the instance of every row
  bool dry_run = false;
};

/// Converts, screens and (unless dry_run) imports. Exit status 0 when
/// every row was imported, 1 when some were skipped or the import failed.
/// Throws std::runtime_error for unreadable files, UsageError for a
/// missing --app.
int run_foreign_import(Context& ctx, const ForeignImport& o);

}  // namespace portctl
