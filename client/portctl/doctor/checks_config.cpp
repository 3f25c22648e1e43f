// doctor: portd.toml parses, and its pools against the ports auto-assign
// skips anyway: the kernel's ephemeral range, the browsers' bad ports
// (src/alloc/port_rules.hpp) and the reserved ranges.
#include <fmt/format.h>

#include "alloc/port_rules.hpp"
#include "portctl/doctor/checks.hpp"

namespace portctl::doctor {
namespace {

namespace fs = std::filesystem;
using portd::Port;
using portd::PortRange;

std::string range_text(const PortRange& r) {
  return r.first == r.last ? std::to_string(r.first) : fmt::format("{}-{}", r.first, r.last);
}

// "6000, 6665, 6666 and 2 more": the first few ports of a list.
std::string port_list(const std::vector<Port>& ports) {
  constexpr std::size_t kShown = 5;
  std::string text;
  for (std::size_t i = 0; i < ports.size() && i < kShown; ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(ports[i]);
  }
  if (ports.size() > kShown) text += fmt::format(" and {} more", ports.size() - kShown);
  return text;
}

}  // namespace

std::optional<portd::Config> check_config_file(Report& report, const Setup& setup) {
  std::error_code ec;
  if (!fs::exists(setup.config, ec)) {
    report.ok("config", fmt::format("no '{}': built-in pool default 3000-9999 is used",
                                    setup.config.string()));
    return portd::default_config();
  }
  try {
    portd::Config config = portd::load_config(setup.config);
    report.ok("config",
              fmt::format("'{}' parses: {} pool{}, {} reserved range{}", setup.config.string(),
                          config.pools.size(), config.pools.size() == 1 ? "" : "s",
                          config.reserved.size(), config.reserved.size() == 1 ? "" : "s"));
    return config;
  } catch (const portd::ConfigError& e) {
    report.fail("config", fmt::format("{} (portd refuses to start with it)", e.what()),
                fmt::format("edit '{}' (see portd.toml(5))", setup.config.string()));
  } catch (const std::exception& e) {
    report.fail("config", e.what(),
                fmt::format("edit '{}' (see portd.toml(5))", setup.config.string()));
  }
  return std::nullopt;
}

void check_pools(Report& report, const portd::Config& config, std::optional<PortRange> ephemeral,
                 bool from_file, const fs::path& file) {
  const std::string where = from_file ? fmt::format("'{}'", file.string()) : "the built-in pool";
  for (const portd::PoolConfig& pool : config.pools) {
    const std::string name = "pool " + pool.name;
    const PortRange& r = pool.range;
    std::vector<Port> unsafe;
    std::uint32_t usable = 0;
    for (std::uint32_t p = r.first; p <= r.last; ++p) {
      const Port port = static_cast<Port>(p);
      const bool bad = portd::is_browser_bad_port(port);
      if (bad && !config.is_reserved(port)) unsafe.push_back(port);
      if (!bad && !config.is_reserved(port) && !(ephemeral && ephemeral->contains(port))) {
        ++usable;
      }
    }
    if (usable == 0) {
      report.fail(name,
                  fmt::format("{} in {} has no port left for auto-assign (all reserved, "
                              "ephemeral or browser-unsafe)",
                              range_text(r), where),
                  fmt::format("give pool {} another range in {}", pool.name, where));
      continue;
    }
    if (ephemeral && r.first <= ephemeral->last && ephemeral->first <= r.last) {
      // The kernel hands these ports to outgoing connections at random, so
      // they are skipped; the pool is smaller than it looks.
      report.warn(
          name,
          fmt::format("{} overlaps the kernel's ephemeral port range {} "
                      "; only {} of its {} ports can be assigned",
                      range_text(r), range_text(*ephemeral), usable, r.size()),
          fmt::format("move pool {} out of {} in {}", pool.name, range_text(*ephemeral), where));
      continue;
    }
    if (from_file && !unsafe.empty()) {
      report.warn(name,
                  fmt::format("{} contains browser-unsafe port{} {}: auto-assign skips them, "
                              "and browsers refuse to open them when asked for explicitly",
                              range_text(r), unsafe.size() == 1 ? "" : "s", port_list(unsafe)),
                  fmt::format("narrow pool {} in {} to avoid them, or list them under reserved",
                              pool.name, where));
      continue;
    }
    report.ok(name, fmt::format("{}: {} of {} ports can be auto-assigned", range_text(r), usable,
                                r.size()));
  }
}

}  // namespace portctl::doctor
