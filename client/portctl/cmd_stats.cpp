// portctl stats: use of each pool, with a warning for nearly full pools.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

// From this share of a pool in use on, stats warns (seed 002's high-use warning).
constexpr double kWarnPercent = 85.0;

int run_stats(Context& ctx) {
  auto s = ctx.client().stats();
  if (ctx.flags.json) {
    Json j = Json::object();
    j["allocations"] = s.allocations;
    Json pools = Json::array();
    for (const auto& p : s.pools) {
      Json item = Json::object();
      item["name"] = p.name;
      item["start"] = p.start;
      item["end"] = p.end;
      item["size"] = p.size;
      item["allocated"] = p.allocated;
      item["free"] = p.free;
      item["percent"] = p.percent;
      item["warning"] = p.warning || p.percent >= kWarnPercent;
      pools.push_back(std::move(item));
    }
    j["pools"] = std::move(pools);
    print_json(j);
    return 0;
  }
  Style style(ctx.color());
  Table t({"POOL", "RANGE", "SIZE", "ALLOCATED", "FREE", "USED"});
  for (const auto& p : s.pools) {
    t.add_row({p.name, fmt::format("{}-{}", p.start, p.end), std::to_string(p.size),
               std::to_string(p.allocated), std::to_string(p.free),
               fmt::format("{:.0f}%", p.percent)});
  }
  t.print(stdout, style);
  for (const auto& p : s.pools) {
    if (p.warning || p.percent >= kWarnPercent) {
      fmt::print("{}: pool {} is {:.0f}% full\n", style.yellow("warning"), p.name, p.percent);
    }
  }
  return 0;
}

}  // namespace

Runner setup_stats(CLI::App&) {
  return [](Context& ctx) { return run_stats(ctx); };
}

}  // namespace portctl
