#include "project/package_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "project/shell_words.hpp"

namespace portd::project {
namespace {

int line_at(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

/// The line of a script's key: JSON keeps no positions, so look for the
/// quoted key after "scripts" in the raw text (0 when not found).
int script_line(std::string_view text, const std::string& script) {
  auto scripts = text.find("\"scripts\"");
  if (scripts == std::string_view::npos) return 0;
  std::string key = nlohmann::json(script).dump();
  auto at = text.find(key, scripts);
  return at == std::string_view::npos ? 0 : line_at(text, at);
}

}  // namespace

ScanResult scan_package_json(std::string_view text, const std::string& file) {
  ScanResult result;
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    result.errors.push_back({file, line_at(text, e.byte == 0 ? 0 : e.byte - 1),
                             fmt::format("not valid JSON: {}", e.what())});
    return result;
  }
  if (!doc.is_object()) return result;
  auto scripts = doc.find("scripts");
  if (scripts == doc.end() || !scripts->is_object()) return result;
  for (const auto& [name, command] : scripts->items()) {
    if (!command.is_string()) continue;
    bool named = false;
    for (const auto& found : command_ports(shell_words(command.get<std::string>()))) {
      Finding f;
      f.file = file;
      f.line = script_line(text, name);
      f.port = found.port;
      if (!found.stem.empty()) {
        f.service = service_name(found.stem);
      } else {
        f.service =
            named ? service_name(fmt::format("{}-{}", name, found.port)) : service_name(name);
        named = true;
      }
      result.findings.push_back(std::move(f));
    }
  }
  return result;
}

}  // namespace portd::project
