// What `portctl doctor` found: one finding per check, printed as a line
// with an ok/warn/fail marker and, when something is wrong, the command
// that fixes it (portctl(1) "doctor").
#pragma once

#include <string>
#include <vector>

#include "portctl/output.hpp"

namespace portctl::doctor {

enum class Level { ok, warn, fail };

/// "ok", "warn" or "fail" (also the JSON "status" value).
const char* to_string(Level level) noexcept;

/// The outcome of one check.
struct Finding {
  Level level = Level::ok;
  std::string name;    ///< short check name: "daemon", "socket", "state-dir", ...
  std::string detail;  ///< one sentence: what was found
  std::string fix;     ///< the command or edit that repairs it; empty for ok
};

/// The findings of one doctor run, in the order the checks ran.
class Report {
 public:
  void ok(std::string name, std::string detail);
  void warn(std::string name, std::string detail, std::string fix);
  void fail(std::string name, std::string detail, std::string fix);
  void add(Finding finding) { findings_.push_back(std::move(finding)); }

  const std::vector<Finding>& findings() const noexcept { return findings_; }
  /// True when every finding is ok: doctor's exit status 0.
  bool healthy() const noexcept;

 private:
  std::vector<Finding> findings_;
};

/// Prints one line per finding ("ok   name: detail"), an indented "fix:"
/// line under each warning and failure, then a summary line.
void print_text(const Report& report, const Style& style);

/// {"healthy": bool, "checks": [{"name", "status", "detail", "fix"}]};
/// "fix" is null for ok findings.
Json to_json(const Report& report);

}  // namespace portctl::doctor
