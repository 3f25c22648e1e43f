#include "portctl/env_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "portctl/output.hpp"

namespace portctl {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/// One physical line split into its parts; `body` excludes the ending.
struct Line {
  std::string_view body;
  std::string_view ending;  // "", "\n" or "\r\n"
};

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back({text, {}});
      break;
    }
    bool crlf = nl > 0 && text[nl - 1] == '\r';
    std::size_t body_end = crlf ? nl - 1 : nl;
    lines.push_back({text.substr(0, body_end), text.substr(body_end, nl + 1 - body_end)});
    text.remove_prefix(nl + 1);
  }
  return lines;
}

/// Where the value of `NAME=` starts in `body`, with the name; npos when
/// the line is not an assignment (comment, blank, anything else).
std::size_t value_start(std::string_view body, std::string_view& name) {
  std::size_t i = 0;
  while (i < body.size() && is_blank(body[i])) ++i;
  constexpr std::string_view kExport = "export";
  if (body.substr(i, kExport.size()) == kExport && i + kExport.size() < body.size() &&
      is_blank(body[i + kExport.size()])) {
    i += kExport.size();
    while (i < body.size() && is_blank(body[i])) ++i;
  }
  auto eq = body.find('=', i);
  if (eq == std::string_view::npos || eq == i) return std::string_view::npos;
  name = body.substr(i, eq - i);
  bool word = std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
  return word ? eq + 1 : std::string_view::npos;
}

/// `body` with the value that starts at `start` replaced by `value`.
std::string replace_value(std::string_view body, std::size_t start, std::string_view value) {
  std::string out(body.substr(0, start));
  std::string_view rest = body.substr(start);
  if (!rest.empty() && (rest[0] == '"' || rest[0] == '\'')) {
    auto close = rest.find(rest[0], 1);
    if (close != std::string_view::npos) {
      out += rest[0];
      out += value;
      out += rest.substr(close);  // closing quote and whatever follows it
      return out;
    }
  }
  // An unquoted value ends at the first blank; a trailing comment stays.
  std::size_t end = 0;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  out += value;
  out += rest.substr(end);
  return out;
}

}  // namespace

EnvMerge merge_env_file(std::string_view existing, const EnvVars& vars, std::string_view prefix) {
  EnvMerge result;
  auto lines = split_lines(existing);
  std::vector<bool> seen(vars.size(), false);
  for (const auto& line : lines) {
    std::string_view name;
    std::size_t start = value_start(line.body, name);
    auto it = start == std::string_view::npos
                  ? vars.end()
                  : std::find_if(vars.begin(), vars.end(),
                                 [&](const auto& v) { return v.first == name; });
    if (it == vars.end()) {
      result.text += line.body;
      result.text += line.ending;
      continue;
    }
    seen[static_cast<std::size_t>(it - vars.begin())] = true;
    std::string body = replace_value(line.body, start, it->second);
    if (body != line.body &&
        std::find(result.updated.begin(), result.updated.end(), name) == result.updated.end()) {
      result.updated.emplace_back(name);
    }
    result.text += body;
    result.text += line.ending;
  }
  std::string_view ending = "\n";
  if (!lines.empty() && lines.front().ending == "\r\n") ending = "\r\n";
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (seen[i]) continue;
    if (!result.text.empty() && result.text.back() != '\n') result.text += ending;
    result.text += prefix;
    result.text += vars[i].first;
    result.text += '=';
    result.text += vars[i].second;
    result.text += ending;
    result.added.push_back(vars[i].first);
  }
  return result;
}

EnvMerge update_env_file(const std::filesystem::path& path, const EnvVars& vars,
                         std::string_view prefix) {
  std::error_code ec;
  std::filesystem::path target = path;
  if (std::filesystem::is_symlink(path, ec)) {
    target = std::filesystem::weakly_canonical(path, ec);
    if (ec) target = path;
  }
  std::string existing;
  if (std::filesystem::exists(target, ec)) {
    existing = read_file_or_throw(target);
  }
  EnvMerge merged = merge_env_file(existing, vars, prefix);
  if (merged.changed()) write_file_atomically(target, merged.text);
  return merged;
}

}  // namespace portctl
