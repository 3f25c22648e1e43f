#include "portctl/doctor/report.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace portctl::doctor {

const char* to_string(Level level) noexcept {
  switch (level) {
    case Level::ok:
      return "ok";
    case Level::warn:
      return "warn";
    case Level::fail:
      return "fail";
  }
  return "fail";
}

void Report::ok(std::string name, std::string detail) {
  findings_.push_back(Finding{Level::ok, std::move(name), std::move(detail), {}});
}

void Report::warn(std::string name, std::string detail, std::string fix) {
  findings_.push_back(Finding{Level::warn, std::move(name), std::move(detail), std::move(fix)});
}

void Report::fail(std::string name, std::string detail, std::string fix) {
  findings_.push_back(Finding{Level::fail, std::move(name), std::move(detail), std::move(fix)});
}

bool Report::healthy() const noexcept {
  return std::all_of(findings_.begin(), findings_.end(),
                     [](const Finding& f) { return f.level == Level::ok; });
}

void print_text(const Report& report, const Style& style) {
  int warnings = 0;
  int failures = 0;
  for (const Finding& f : report.findings()) {
    // Pad before colouring so that the escape codes do not upset the column.
    std::string marker = fmt::format("{:<4}", to_string(f.level));
    switch (f.level) {
      case Level::ok:
        marker = style.green(marker);
        break;
      case Level::warn:
        marker = style.yellow(marker);
        ++warnings;
        break;
      case Level::fail:
        marker = style.red(marker);
        ++failures;
        break;
    }
    fmt::print("{} {}: {}\n", marker, f.name, f.detail);
    if (f.level != Level::ok && !f.fix.empty()) fmt::print("     fix: {}\n", f.fix);
  }
  if (warnings == 0 && failures == 0) {
    fmt::print("no problems found\n");
  } else {
    fmt::print("{} failure{}, {} warning{}\n", failures, failures == 1 ? "" : "s", warnings,
               warnings == 1 ? "" : "s");
  }
}

Json to_json(const Report& report) {
  Json checks = Json::array();
  for (const Finding& f : report.findings()) {
    Json item = Json::object();
    item["name"] = f.name;
    item["status"] = to_string(f.level);
    item["detail"] = f.detail;
    item["fix"] = f.level == Level::ok || f.fix.empty() ? Json(nullptr) : Json(f.fix);
    checks.push_back(std::move(item));
  }
  Json j = Json::object();
  j["healthy"] = report.healthy();
  j["checks"] = std::move(checks);
  return j;
}

}  // namespace portctl::doctor
