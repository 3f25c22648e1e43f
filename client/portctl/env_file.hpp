// Merging NAME=value lines into an existing .env-style file without
// touching anything portctl does not manage. See portctl(1), "env".
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portctl {

/// Variables to set, in the order new lines are appended: (name, value).
using EnvVars = std::vector<std::pair<std::string, std::string>>;

/// Result of merge_env_file().
struct EnvMerge {
  std::string text;                  ///< the merged file contents
  std::vector<std::string> updated;  ///< names whose existing line(s) got a new value
  std::vector<std::string> added;    ///< names appended at the end
  bool changed() const noexcept { return !updated.empty() || !added.empty(); }
};

/// Merges `vars` into the text of a .env-style file.
///
/// A line manages NAME when, after optional blanks and an optional
/// `export ` prefix, it reads `NAME=`. Only the value of such lines is
/// replaced; the prefix, a surrounding pair of quotes ('...' or "..."),
/// blanks and a `# comment` after an unquoted value, and the line ending
/// (LF or CRLF) are kept. Every occurrence of a duplicated NAME is
/// updated, since shells and dotenv loaders disagree on which one wins.
/// Every other byte (comments, blank lines, other variables, their order,
/// a missing final newline) stays as it was. Names with no line are
/// appended in `vars` order, each as `<prefix>NAME=value` ending like the
/// file's first line (LF when it has none); a final line without a newline
/// gets one first. Never throws except std::bad_alloc.
EnvMerge merge_env_file(std::string_view existing, const EnvVars& vars,
                        std::string_view prefix = {});

/// Reads `path` (no file counts as empty), merges `vars` into it as
/// merge_env_file() does and, only when something changed, writes the
/// result atomically with the file's mode (write_file_atomically()). A
/// symbolic link is followed, so the file it points to is updated and the
/// link stays. Throws std::runtime_error "failed to read '<path>': ..." or
/// "failed to write '<path>': ...".
EnvMerge update_env_file(const std::filesystem::path& path, const EnvVars& vars,
                         std::string_view prefix = {});

}  // namespace portctl
