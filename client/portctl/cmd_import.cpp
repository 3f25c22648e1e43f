// portctl import: load allocations from an `export` document (or a bare
// JSON array of allocations).
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct ImportOptions {
  std::string file;
  bool replace = false;
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

int run(Context& ctx, const ImportOptions& o) {
  Json doc = Json::parse(read_all(o.file), nullptr, false);
  if (doc.is_discarded()) {
    throw std::runtime_error(fmt::format("failed to import '{}': not valid JSON", o.file));
  }
  const Json* list = &doc;
  if (doc.is_object()) {
    auto it = doc.find("allocations");
    if (it == doc.end()) {
      throw std::runtime_error(
          fmt::format("failed to import '{}': no \"allocations\" array", o.file));
    }
    list = &*it;
  }
  if (!list->is_array()) {
    throw std::runtime_error(
        fmt::format("failed to import '{}': \"allocations\" is not an array", o.file));
  }
  std::vector<portd::client::Allocation> allocations;
  allocations.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    try {
      allocations.push_back(allocation_from_json((*list)[i]));
    } catch (const std::exception& e) {
      throw std::runtime_error(
          fmt::format("failed to import '{}': allocation #{}: {}", o.file, i + 1, e.what()));
    }
  }
  auto n = ctx.client().import_allocations(allocations, o.replace);
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
  cmd.add_option("file", o->file, "Export file to load ('-' for stdin)")->required();
  cmd.add_flag("--replace", o->replace, "Overwrite allocations that are in the way");
  return [o](Context& ctx) { return run(ctx, *o); };
}

}  // namespace portctl
