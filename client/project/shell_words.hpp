// Ports named on a shell command line (package.json scripts, Makefile
// recipes, scripts/*): `--port N`, `--port=N`, `-p N`, `PORT=N`, `X_PORT=N`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portd::project {

/// Splits a command line into words as sh(1) would for simple commands:
/// blanks separate words, '...' and "..." quote, a backslash escapes the
/// next character, and ; & | ( ) end a word and are words of their own.
/// No expansion is done. An unterminated quote ends at the end of `line`.
std::vector<std::string> shell_words(std::string_view line);

/// A port found among words.
struct CommandPort {
  std::uint16_t port = 0;
  std::string stem;  ///< "web" for WEB_PORT=N, empty for PORT=N and flags
};

/// The ports `words` name: the value after `--port` or `-p`, `--port=N`,
/// and environment assignments `PORT=N` / `<STEM>_PORT=N`. Values that
/// are not a literal port 1-65535 (such as $PORT) are ignored.
std::vector<CommandPort> command_ports(const std::vector<std::string>& words);

/// If `text` is `PORT` or `<STEM>_PORT` (any case), sets `stem` (lower
/// case, empty for PORT) and returns true.
bool port_variable(std::string_view text, std::string& stem);

}  // namespace portd::project
