// Whole-file reads for the small text files portd and portctl look at
// (compose files, env files, export files, /proc entries).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace portd::sys {

/// The whole contents of the file at `path`, as bytes, read with read(2)
/// until end of file. std::nullopt when it cannot be opened or read; errno
/// then holds the open(2) or read(2) error, so callers can name it.
std::optional<std::string> read_file(const std::filesystem::path& path);

}  // namespace portd::sys
