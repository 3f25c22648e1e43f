// Makefile and scripts/*: ports set in variable assignments and command
// lines (`PORT=N`, `PORT ?= N`, `--port N`).
#pragma once

#include <string>
#include <string_view>

#include "project/finding.hpp"

namespace portd::project {

/// Scans a Makefile or shell script line by line: make assignments
/// `PORT = N` (also :=, ?=, ::=) and `<STEM>_PORT = N` and every port
/// command_ports() finds in the line's words. Lines starting with '#' are
/// skipped. Services: the variable's stem, else `fallback` (the script's
/// name or "web" for a Makefile).
ScanResult scan_commands(std::string_view text, const std::string& file, std::string_view fallback);

}  // namespace portd::project
