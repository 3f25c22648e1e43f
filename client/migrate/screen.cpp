// Validation shared by every format, and timestamps.
#include <fmt/format.h>

#include <map>
#include <set>
#include <tuple>

#include "migrate/migrate.hpp"
#include "model/time.hpp"
#include "model/validate.hpp"

namespace portd::migrate {

std::int64_t parse_timestamp(std::string_view text) {
  std::string t(text);
  // SQLite's CURRENT_TIMESTAMP form: "2025-02-08 15:04:05", in UTC.
  if (t.size() == 19 && t[10] == ' ') t = t.substr(0, 10) + "T" + t.substr(11) + "Z";
  return parse_rfc3339(t).value_or(0);
}

void screen(Converted& c) {
  std::vector<Row> kept;
  std::map<std::int64_t, std::string> ports;  // port -> key of the row that has it
  std::set<std::tuple<std::string, std::string, std::string>> keys;
  for (Row& r : c.rows) {
    std::string reason;
    for (auto [field, value] : {std::pair<const char*, const std::string*>{"app", &r.app},
                                {"instance", &r.instance},
                                {"service", &r.service}}) {
      if (reason.empty() && !is_valid_name(*value)) {
        reason = fmt::format("invalid name: {} '{}' is not 1-64 characters of A-Z a-z 0-9 . _ -",
                             field, *value);
      }
    }
    const std::string key = fmt::format("{}/{}/{}", r.app, r.instance, r.service);
    if (reason.empty() && (r.port < 1 || r.port > 65535)) {
      reason = fmt::format("port out of range: {} is not in 1-65535", r.port);
    }
    if (reason.empty()) {
      if (auto it = ports.find(r.port); it != ports.end()) {
        reason = fmt::format("conflicting port: {} is already taken by {}", r.port, it->second);
      } else if (keys.contains({r.app, r.instance, r.service})) {
        reason = fmt::format("conflicting key: {} is listed twice", key);
      }
    }
    if (!reason.empty()) {
      c.skipped.push_back({std::move(r), std::move(reason)});
      continue;
    }
    ports.emplace(r.port, key);
    keys.insert({r.app, r.instance, r.service});
    kept.push_back(std::move(r));
  }
  c.rows = std::move(kept);
}

}  // namespace portd::migrate
