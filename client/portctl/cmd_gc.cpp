// portctl gc: drop allocations of deleted worktrees, dead owner processes and
// expired leases.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

struct GcOptions {
  bool dry_run = false;
};

std::string reason_text(const std::string& reason) {
  if (reason == "worktree_missing") return "worktree is gone";
  if (reason == "process_dead") return "owner process exited";
  if (reason == "lease_expired") return "lease expired";
  return reason;
}

int run_gc(Context& ctx, const GcOptions& o) {
  auto r = ctx.client().gc(o.dry_run);
  if (ctx.flags.json) {
    Json j = Json::object();
    j["dry_run"] = r.dry_run;
    Json removed = Json::array();
    for (const auto& e : r.removed) {
      Json item = Json::object();
      item["allocation"] = to_json(e.allocation);
      item["reason"] = e.reason;
      removed.push_back(std::move(item));
    }
    j["removed"] = std::move(removed);
    print_json(j);
    return 0;
  }
  if (r.removed.empty()) {
    fmt::print("nothing to clean up\n");
    return 0;
  }
  for (const auto& e : r.removed) {
    fmt::print("{} allocation {} ({}, port {}): {}\n", o.dry_run ? "would release" : "released",
               e.allocation.id, key_of(e.allocation), e.allocation.port, reason_text(e.reason));
  }
  return 0;
}

}  // namespace

Runner setup_gc(CLI::App& cmd) {
  auto o = std::make_shared<GcOptions>();
  cmd.add_flag("-n,--dry-run", o->dry_run, "Only report what would be released");
  return [o](Context& ctx) { return run_gc(ctx, *o); };
}

}  // namespace portctl
