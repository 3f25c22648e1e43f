// portctl export: every allocation as a JSON document (portctl(1) "JSON OUTPUT").
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct ExportOptions {
  std::string output;
};

int run_export(Context& ctx, const ExportOptions& o) {
  auto e = ctx.client().export_allocations();
  Json doc = Json::object();
  doc["version"] = e.version;
  doc["exported_at"] = e.exported_at;
  doc["allocations"] = to_json(e.allocations);
  if (o.output.empty() || o.output == "-") {
    print_json(doc);
    return 0;
  }
  write_file_atomically(o.output, doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  fmt::print(stderr, "exported {} allocation{} to '{}'\n", e.allocations.size(),
             e.allocations.size() == 1 ? "" : "s", o.output);
  return 0;
}

}  // namespace

Runner setup_export(CLI::App& cmd) {
  auto o = std::make_shared<ExportOptions>();
  cmd.add_option("-o,--output", o->output, "Write to FILE (atomically) instead of stdout");
  return [o](Context& ctx) { return run_export(ctx, *o); };
}

}  // namespace portctl
