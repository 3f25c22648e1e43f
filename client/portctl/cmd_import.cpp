// portctl import: load allocations from an `export` document (or a bare
// JSON array of allocations), or with --from from another port registry
// (import_foreign.cpp).
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/import_foreign.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct ImportOptions {
  std::vector<std::string> files;
  bool replace = false;
  ForeignImport foreign;
};

std::string read_all(const std::string& file) {
  if (file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("failed to read '{}': cannot open it", file));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_import(Context& ctx, const ImportOptions& opts) {
  if (!opts.foreign.format.empty()) {
    ForeignImport f = opts.foreign;
    f.files = opts.files;
    return run_foreign_import(ctx, f);
  }
  if (opts.files.size() != 1 || opts.foreign.dry_run) {
    throw UsageError(opts.foreign.dry_run ? "--dry-run needs --from"
                                          : "import takes one export file (or --from FORMAT)");
  }
  const std::string& file = opts.files.front();
  Json doc = Json::parse(read_all(file), nullptr, false);
  if (doc.is_discarded()) {
    throw std::runtime_error(fmt::format("failed to import '{}': not valid JSON", file));
  }
  const Json* list = &doc;
  if (doc.is_object()) {
    auto it = doc.find("allocations");
    if (it == doc.end()) {
      throw std::runtime_error(
          fmt::format("failed to import '{}': no \"allocations\" array", file));
    }
    list = &*it;
  }
  if (!list->is_array()) {
    throw std::runtime_error(
        fmt::format("failed to import '{}': \"allocations\" is not an array", file));
  }
  std::vector<portd::client::Allocation> allocations;
  allocations.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    try {
      allocations.push_back(allocation_from_json((*list)[i]));
    } catch (const std::exception& e) {
      throw std::runtime_error(
          fmt::format("failed to import '{}': allocation #{}: {}", file, i + 1, e.what()));
    }
  }
  auto n = ctx.client().import_allocations(allocations, opts.replace);
  if (ctx.flags.json) {
    Json j = Json::object();
    j["imported"] = n;
    print_json(j);
  } else {
    fmt::print("imported {} allocation{}\n", n, n == 1 ? "" : "s");
  }
  return 0;
}

}  // namespace

Runner setup_import(CLI::App& cmd) {
  auto o = std::make_shared<ImportOptions>();
  cmd.add_option("file", o->files,
                 "Export file to load ('-' for stdin); with --from, the files to convert");
  auto* from = cmd.add_option("--from", o->foreign.format,
                              "Convert from another registry: atlas, port-manager, port-server")
                   ->check(CLI::IsMember({"atlas", "port-manager", "port-server"}));
  cmd.add_flag("--replace", o->replace, "Overwrite allocations that are in the way")
      ->excludes(from);
  cmd.add_flag("-n,--dry-run", o->foreign.dry_run,
               "With --from: report what would be imported, import nothing");
  cmd.add_option("--app", o->foreign.app,
                 "With --from atlas or a .ports.env: the app (default: from the path)");
  cmd.add_option("--instance", o->foreign.instance,
                 "With --from port-manager: the instance (default: main)")
      ->default_str("main");
  o->foreign.instance = "main";
  return [o](Context& ctx) { return run_import(ctx, *o); };
}

}  // namespace portctl
