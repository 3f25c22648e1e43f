#include "project/shell_words.hpp"

#include <cctype>

#include "project/finding.hpp"

namespace portd::project {

std::vector<std::string> shell_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  auto finish = [&] {
    if (in_word) words.push_back(std::move(word));
    word.clear();
    in_word = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      finish();
    } else if (c == ';' || c == '&' || c == '|' || c == '(' || c == ')') {
      finish();
      words.emplace_back(1, c);
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == '\'' || c == '"') {
      in_word = true;
      for (++i; i < line.size() && line[i] != c; ++i) {
        if (c == '"' && line[i] == '\\' && i + 1 < line.size()) ++i;
        word += line[i];
      }
    } else {
      word += c;
      in_word = true;
    }
  }
  finish();
  return words;
}

bool port_variable(std::string_view text, std::string& stem) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "PORT") {
    stem.clear();
    return true;
  }
  constexpr std::string_view kSuffix = "_PORT";
  if (upper.size() <= kSuffix.size() || !upper.ends_with(kSuffix)) return false;
  for (char c : upper) {
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  stem.clear();
  for (char c : text.substr(0, text.size() - kSuffix.size())) {
    stem += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return true;
}

std::vector<CommandPort> command_ports(const std::vector<std::string>& words) {
  std::vector<CommandPort> found;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if ((w == "--port" || w == "-p") && i + 1 < words.size()) {
      // `-p 8080:80` (docker run) maps ports; only a bare number is ours.
      if (auto port = parse_port(words[i + 1])) found.push_back({port, {}});
      ++i;
    } else if (w.starts_with("--port=")) {
      if (auto port = parse_port(std::string_view(w).substr(7))) found.push_back({port, {}});
    } else if (auto eq = w.find('='); eq != std::string::npos && eq > 0) {
      std::string stem;
      if (port_variable(std::string_view(w).substr(0, eq), stem)) {
        if (auto port = parse_port(std::string_view(w).substr(eq + 1))) {
          found.push_back({port, stem});
        }
      }
    }
  }
  return found;
}

}  // namespace portd::project
