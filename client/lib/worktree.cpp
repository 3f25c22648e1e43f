// Worktree detection by reading git's metadata files directly: portctl must
// start fast, and spawning git would cost more than everything else it does.
// Layout per gitrepository-layout(5) and git-worktree(1).
#include <fstream>
#include <string>

#include "portd/client.hpp"

namespace portd::client {
namespace {

constexpr std::size_t kMaxName = 64;
constexpr std::size_t kShortCommit = 7;

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

std::optional<std::string> read_first_line(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  if (in.bad()) return std::nullopt;
  return trim(std::move(line));
}

// "a/b/" and "a/b" name the same directory; only the latter has a filename.
std::filesystem::path without_trailing_slash(std::filesystem::path p) {
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return !s.empty();
}

// The instance name of a worktree whose git directory is `gitdir`: the
// branch HEAD points at, or the short commit id of a detached HEAD.
std::optional<std::string> instance_from_head(const std::filesystem::path& gitdir) {
  auto head = read_first_line(gitdir / "HEAD");
  if (!head) return std::nullopt;
  constexpr std::string_view kRef = "ref:";
  if (head->compare(0, kRef.size(), kRef) == 0) {
    std::string ref = trim(head->substr(kRef.size()));
    constexpr std::string_view kHeads = "refs/heads/";
    if (ref.compare(0, kHeads.size(), kHeads) == 0) ref.erase(0, kHeads.size());
    std::string name = sanitize_name(ref);
    if (name.empty()) return std::nullopt;
    return name;
  }
  if (head->size() >= kShortCommit && is_hex(*head)) return head->substr(0, kShortCommit);
  return std::nullopt;
}

// The repository name for a common git directory: "/src/myapp/.git" ->
// "myapp"; a bare "/src/myapp.git" -> "myapp".
std::string repo_name(const std::filesystem::path& common_dir) {
  auto dir = without_trailing_slash(common_dir);
  std::string name = dir.filename().string();
  if (name == ".git") return sanitize_name(dir.parent_path().filename().string());
  constexpr std::string_view kSuffix = ".git";
  if (name.size() > kSuffix.size() &&
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    name.erase(name.size() - kSuffix.size());
  }
  return sanitize_name(name);
}

std::optional<Worktree> main_worktree(const std::filesystem::path& top,
                                      const std::filesystem::path& gitdir) {
  auto instance = instance_from_head(gitdir);
  std::string app = sanitize_name(top.filename().string());
  if (!instance || app.empty()) return std::nullopt;
  return Worktree{app, *instance, top, false, top};
}

// A `.git` file: "gitdir: <path>", relative to the directory holding it.
std::optional<Worktree> from_git_file(const std::filesystem::path& top,
                                      const std::filesystem::path& git_file) {
  auto line = read_first_line(git_file);
  constexpr std::string_view kPrefix = "gitdir:";
  if (!line || line->compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  std::filesystem::path gitdir(trim(line->substr(kPrefix.size())));
  if (gitdir.empty()) return std::nullopt;
  if (gitdir.is_relative()) gitdir = top / gitdir;
  gitdir = without_trailing_slash(gitdir);

  auto common = read_first_line(gitdir / "commondir");
  if (!common) {
    // No commondir: the git directory is a repository of its own (a
    // submodule's, under the superproject's .git/modules/).
    return main_worktree(top, gitdir);
  }
  std::filesystem::path common_dir(*common);
  if (common_dir.is_relative()) common_dir = gitdir / common_dir;
  std::error_code ec;
  auto resolved = std::filesystem::weakly_canonical(common_dir, ec);
  const std::filesystem::path common_path =
      without_trailing_slash(ec ? common_dir.lexically_normal() : resolved);
  std::string app = repo_name(common_path);
  std::string instance = sanitize_name(top.filename().string());
  if (app.empty() || instance.empty()) return std::nullopt;
  // A non-bare repository's common directory is <main worktree>/.git.
  std::filesystem::path main_top;
  if (common_path.filename() == ".git") main_top = common_path.parent_path();
  return Worktree{app, instance, top, true, main_top};
}

}  // namespace

std::string sanitize_name(std::string_view raw) {
  std::string out(raw.substr(0, kMaxName));
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '-';
  }
  return out;
}

std::optional<Worktree> detect_worktree(const std::filesystem::path& start) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(start, ec);
  if (ec) return std::nullopt;
  dir = without_trailing_slash(dir);
  for (;;) {
    const auto dot_git = dir / ".git";
    auto st = std::filesystem::status(dot_git, ec);
    if (!ec) {
      if (std::filesystem::is_directory(st)) return main_worktree(dir, dot_git);
      if (std::filesystem::is_regular_file(st)) return from_git_file(dir, dot_git);
    }
    if (!dir.has_relative_path()) return std::nullopt;  // reached the root
    dir = dir.parent_path();
  }
}

}  // namespace portd::client
