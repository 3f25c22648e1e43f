#include "project/makefile.hpp"

#include "project/shell_words.hpp"

namespace portd::project {

ScanResult scan_commands(std::string_view text, const std::string& file,
                         std::string_view fallback) {
  ScanResult result;
  int number = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    auto words = shell_words(line);
    if (words.empty() || words[0].starts_with('#')) continue;
    // make's `NAME op value` may have blanks around op: join it into one
    // NAME=value word, dropping the ':'/'?'/'+' of :=, ?=, +=, ::=.
    auto is_op = [](std::string_view w) {
      return w == "=" || w == ":=" || w == "?=" || w == "::=" || w == "+=";
    };
    if (words.size() >= 3 && is_op(words[1])) {
      words = {words[0] + "=" + words[2]};
    } else if (words.size() >= 2 && !words[1].empty() && words[1].find('=') != std::string::npos &&
               words[1].find_first_not_of(":?+") == words[1].find('=') &&
               words[0].find('=') == std::string::npos) {
      words = {words[0] + words[1]};
    }
    if (auto eq = words[0].find('='); eq != std::string::npos) {
      auto op = words[0].find_last_not_of(":?+", eq - (eq > 0 ? 1 : 0));
      if (eq > 0 && op != std::string::npos && op + 1 < eq) words[0].erase(op + 1, eq - op - 1);
    }
    for (const auto& found : command_ports(words)) {
      Finding f;
      f.file = file;
      f.line = number;
      f.port = found.port;
      f.service = service_name(found.stem, fallback);
      result.findings.push_back(std::move(f));
    }
  }
  return result;
}

}  // namespace portd::project
