// portd.toml format (the source for portd.toml(5)). Every key is optional;
// an absent file means the defaults below. Unknown keys are errors.
//
//   default_pool = "default"        # pool for services no pool lists;
//                                   # must name a pool (default "default")
//   freeze_hours = 24               # integer 0-87600: a released port is held
//                                   # back from other keys this long
//   reserved = [5432, "6000-6100"]  # ports (integers, "N" or "first-last"
//                                   # strings) auto-assign never picks
//
//   [[pool]]                        # repeatable; none = one pool "default"
//   name = "web"                    #   3000-9999. Required, [A-Za-z0-9._-]{1,64}
//   range = "3000-3999"             # or: start = 3000 and end = 3999
//   services = ["web", "vite"]      # optional; a service is in at most one pool
//
//   [limits]
//   max_frame_bytes = 1048576       # largest request frame, 64-16777216
//   max_connections = 512           # 1-65536
//   max_pending_output_bytes = 4194304  # per connection, 4096-1073741824
//   idle_timeout_seconds = 60       # partial-frame timeout, 1-86400
//   map_size_mib = 64               # initial LMDB map size, 1-1048576
//   max_map_size_mib = 4096         # largest LMDB map size, >= map_size_mib
//
// Ports are 1-65535, ranges are inclusive, pools must not overlap. Errors
// read "<file>:<line>:<column>: <problem>".
#include "config/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "model/error.hpp"
#include "model/validate.hpp"

namespace portd {
namespace {

constexpr std::int64_t kMaxFreezeHours = 87600;  // ten years; keeps seconds far from overflow

// Walks a parsed document and builds a Config, throwing ConfigError with the
// position of the offending node.
class Parser {
 public:
  explicit Parser(std::string_view origin) : origin_(origin) {}

  [[noreturn]] void fail(const toml::source_region& where, std::string_view problem) const {
    throw ConfigError(
        fmt::format("{}:{}:{}: {}", origin_, where.begin.line, where.begin.column, problem));
  }

  Config parse(const toml::table& root) {
    Config cfg = default_config();
    cfg.pools.clear();
    const toml::node* default_pool_node = nullptr;
    const toml::node* first_pool_node = nullptr;

    for (auto&& [key, node] : root) {
      const std::string_view k = key.str();
      if (k == "default_pool") {
        cfg.default_pool = name_of(node, "default_pool");
        default_pool_node = &node;
      } else if (k == "freeze_hours") {
        cfg.freeze_seconds = integer(node, "freeze_hours", 0, kMaxFreezeHours) * 3600;
      } else if (k == "reserved") {
        parse_reserved(node, cfg);
      } else if (k == "pool") {
        first_pool_node = parse_pools(node, cfg);
      } else if (k == "limits") {
        parse_limits(node, cfg);
      } else {
        fail(key.source(), fmt::format("unknown key '{}'", k));
      }
    }

    if (cfg.pools.empty()) cfg.pools = default_config().pools;
    if (cfg.find_pool(cfg.default_pool) == nullptr) {
      // Point at the line that has to change: the default_pool setting, or
      // (when it was left at "default") the first pool definition.
      const toml::node* at = default_pool_node ? default_pool_node : first_pool_node;
      auto problem =
          fmt::format("default pool '{}' is not defined by any [[pool]]", cfg.default_pool);
      if (at) fail(at->source(), problem);
      fail(root.source(), problem);
    }
    return cfg;
  }

 private:
  std::int64_t integer(const toml::node& node, std::string_view what, std::int64_t min,
                       std::int64_t max) const {
    const auto* v = node.as_integer();
    if (v == nullptr) fail(node.source(), fmt::format("{} must be an integer", what));
    const std::int64_t value = v->get();
    if (value < min || value > max) {
      fail(node.source(),
           fmt::format("{} must be between {} and {}, not {}", what, min, max, value));
    }
    return value;
  }

  std::string_view string(const toml::node& node, std::string_view what) const {
    const auto* v = node.as_string();
    if (v == nullptr) fail(node.source(), fmt::format("{} must be a string", what));
    return v->get();
  }

  std::string name_of(const toml::node& node, std::string_view what) const {
    std::string_view name = string(node, what);
    if (!is_valid_name(name)) {
      fail(node.source(), fmt::format("invalid {} '{}': use 1-{} characters of A-Z a-z 0-9 . _ -",
                                      what, name.substr(0, 80), kMaxNameLength));
    }
    return std::string(name);
  }

  Port port(const toml::node& node, std::string_view what) const {
    return static_cast<Port>(integer(node, what, 1, 65535));
  }

  // "N" or "first-last"; ports 1-65535, first <= last.
  PortRange range_text(const toml::node& node, std::string_view what) const {
    const std::string_view text = string(node, what);
    auto number = [](std::string_view s) -> std::optional<std::uint32_t> {
      std::uint32_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
      return v;
    };
    const auto dash = text.find('-');
    auto first = number(text.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : number(text.substr(dash + 1));
    if (!first || !last) {
      fail(node.source(),
           fmt::format("invalid {} '{}': write a port or \"first-last\"", what, text));
    }
    if (*first < 1 || *first > 65535 || *last < 1 || *last > 65535) {
      fail(node.source(), fmt::format("invalid {} '{}': ports are 1-65535", what, text));
    }
    if (*first > *last) {
      fail(node.source(),
           fmt::format("invalid {} '{}': start {} is after end {}", what, text, *first, *last));
    }
    return PortRange{static_cast<Port>(*first), static_cast<Port>(*last)};
  }

  void parse_reserved(const toml::node& node, Config& cfg) const {
    const auto* arr = node.as_array();
    if (arr == nullptr) {
      fail(node.source(), "reserved must be an array of ports and \"first-last\" ranges");
    }
    for (const toml::node& item : *arr) {
      if (item.is_integer()) {
        Port p = port(item, "reserved port");
        cfg.reserved.push_back({p, p});
      } else if (item.is_string()) {
        cfg.reserved.push_back(range_text(item, "reserved range"));
      } else {
        fail(item.source(), "reserved entries must be integers or \"first-last\" strings");
      }
    }
  }

  // Returns the first pool's node (for error positions), or nullptr.
  const toml::node* parse_pools(const toml::node& node, Config& cfg) {
    const auto* arr = node.as_array();
    if (arr == nullptr) fail(node.source(), "pool must be an array of tables: write [[pool]]");
    std::map<std::string, std::string, std::less<>> service_pool;
    for (const toml::node& item : *arr) {
      const auto* tbl = item.as_table();
      if (tbl == nullptr) fail(item.source(), "pool entries must be tables: write [[pool]]");
      PoolConfig pool;
      const toml::node* name = nullptr;
      const toml::node* range = nullptr;
      const toml::node* start = nullptr;
      const toml::node* end = nullptr;
      const toml::node* services = nullptr;
      for (auto&& [key, value] : *tbl) {
        const std::string_view k = key.str();
        if (k == "name") {
          name = &value;
        } else if (k == "range") {
          range = &value;
        } else if (k == "start") {
          start = &value;
        } else if (k == "end") {
          end = &value;
        } else if (k == "services") {
          services = &value;
        } else {
          fail(key.source(), fmt::format("unknown key '{}' in [[pool]]", k));
        }
      }
      if (name == nullptr) fail(tbl->source(), "[[pool]] needs a name");
      pool.name = name_of(*name, "pool name");
      if (cfg.find_pool(pool.name) != nullptr) {
        fail(name->source(), fmt::format("pool '{}' is defined twice", pool.name));
      }

      const toml::node* range_at = range ? range : start ? start : end;
      if (range && (start || end)) {
        fail(range->source(),
             fmt::format("pool '{}': use either range or start/end, not both", pool.name));
      }
      if (range) {
        pool.range = range_text(*range, "pool range");
      } else if (start && end) {
        pool.range = {port(*start, "pool start"), port(*end, "pool end")};
        if (pool.range.first > pool.range.last) {
          fail(start->source(), fmt::format("pool '{}': start {} is after end {}", pool.name,
                                            pool.range.first, pool.range.last));
        }
      } else {
        fail(
            range_at ? range_at->source() : tbl->source(),
            fmt::format("pool '{}' needs range = \"first-last\" or both start and end", pool.name));
      }
      for (const PoolConfig& other : cfg.pools) {
        if (pool.range.first <= other.range.last && other.range.first <= pool.range.last) {
          fail(range_at->source(), fmt::format("pool '{}' ({}-{}) overlaps pool '{}' ({}-{})",
                                               pool.name, pool.range.first, pool.range.last,
                                               other.name, other.range.first, other.range.last));
        }
      }

      if (services) {
        const auto* list = services->as_array();
        if (list == nullptr) fail(services->source(), "services must be an array of strings");
        for (const toml::node& s : *list) {
          std::string service = name_of(s, "service name");
          auto [it, inserted] = service_pool.emplace(service, pool.name);
          if (!inserted) {
            fail(s.source(),
                 fmt::format("service '{}' is already in pool '{}'", service, it->second));
          }
          pool.services.push_back(std::move(service));
        }
      }
      cfg.pools.push_back(std::move(pool));
    }
    return arr->empty() ? nullptr : &(*arr)[0];
  }

  void parse_limits(const toml::node& node, Config& cfg) const {
    const auto* tbl = node.as_table();
    if (tbl == nullptr) fail(node.source(), "limits must be a table: write [limits]");
    const toml::node* map_size = nullptr;
    const toml::node* max_map_size = nullptr;
    for (auto&& [key, value] : *tbl) {
      const std::string_view k = key.str();
      if (k == "max_frame_bytes") {
        cfg.max_frame = static_cast<std::size_t>(integer(value, k, 64, 16 << 20));
      } else if (k == "max_connections") {
        cfg.max_connections = static_cast<std::size_t>(integer(value, k, 1, 65536));
      } else if (k == "max_pending_output_bytes") {
        cfg.max_pending_output = static_cast<std::size_t>(integer(value, k, 4096, 1 << 30));
      } else if (k == "idle_timeout_seconds") {
        cfg.idle_timeout_seconds = integer(value, k, 1, 86400);
      } else if (k == "map_size_mib") {
        cfg.map_size = static_cast<std::size_t>(integer(value, k, 1, 1 << 20)) << 20;
        map_size = &value;
      } else if (k == "max_map_size_mib") {
        cfg.max_map_size = static_cast<std::size_t>(integer(value, k, 1, 1 << 20)) << 20;
        max_map_size = &value;
      } else {
        fail(key.source(), fmt::format("unknown key '{}' in [limits]", k));
      }
    }
    if (cfg.map_size > cfg.max_map_size) {
      const toml::node* at = max_map_size ? max_map_size : map_size;
      fail(at->source(), fmt::format("map_size_mib ({}) is larger than max_map_size_mib ({})",
                                     cfg.map_size >> 20, cfg.max_map_size >> 20));
    }
  }

  std::string_view origin_;
};

}  // namespace

const PoolConfig& Config::pool_for_service(std::string_view service) const {
  for (const PoolConfig& pool : pools) {
    for (const std::string& s : pool.services) {
      if (s == service) return pool;
    }
  }
  if (const PoolConfig* pool = find_pool(default_pool)) return *pool;
  // parse_config guarantees the default pool exists; only a hand-built
  // Config can get here.
  throw Error(ErrorCode::internal,
              fmt::format("failed to find a pool for service '{}': default pool '{}' is not "
                          "configured",
                          service, default_pool));
}

const PoolConfig* Config::find_pool(std::string_view name) const noexcept {
  for (const PoolConfig& pool : pools) {
    if (pool.name == name) return &pool;
  }
  return nullptr;
}

bool Config::is_reserved(Port port) const noexcept {
  for (const PortRange& r : reserved) {
    if (r.contains(port)) return true;
  }
  return false;
}

Config default_config() {
  Config cfg;
  cfg.pools.push_back(PoolConfig{"default", PortRange{3000, 9999}, {}});
  return cfg;
}

Config parse_config(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: {}", origin, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  return Parser(origin).parse(root);
}

Config load_config(const std::filesystem::path& path) {
  // open/read rather than ifstream: the error must carry errno, and ENOENT
  // (no config file, a valid setup) must be told apart from EACCES.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return default_config();
    throw ConfigError(
        fmt::format("failed to read config file '{}': {}", path.string(), std::strerror(errno)));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw ConfigError(
          fmt::format("failed to read config file '{}': {}", path.string(), std::strerror(err)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_config(text, path.string());
}

}  // namespace portd
