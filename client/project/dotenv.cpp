#include "project/dotenv.hpp"

#include "project/shell_words.hpp"

namespace portd::project {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<DotenvEntry> parse_dotenv(std::string_view text) {
  std::vector<DotenvEntry> entries;
  int number = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    if (line.starts_with("export ") || line.starts_with("export\t")) line = trim(line.substr(7));
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, eq));
    if (!is_name(name)) continue;
    std::string_view value = trim(line.substr(eq + 1));
    if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      auto close = value.find(value[0], 1);
      value = close == std::string_view::npos ? value.substr(1) : value.substr(1, close - 1);
    } else if (auto hash = value.find(" #"); hash != std::string_view::npos) {
      value = trim(value.substr(0, hash));
    }
    entries.push_back({std::string(name), std::string(value), number});
  }
  return entries;
}

ScanResult scan_dotenv(std::string_view text, const std::string& file, std::string_view fallback) {
  ScanResult result;
  for (const auto& e : parse_dotenv(text)) {
    std::string stem;
    if (!port_variable(e.name, stem)) continue;
    Finding f;
    f.file = file;
    f.line = e.line;
    f.service = service_name(stem, fallback);
    f.port = parse_port(e.value);
    if (f.port == 0) f.skipped = "not a port number: '" + e.value + "'";
    result.findings.push_back(std::move(f));
  }
  return result;
}

}  // namespace portd::project
