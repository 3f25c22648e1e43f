// package.json: ports named in the command lines of its "scripts".
#pragma once

#include <string>
#include <string_view>

#include "project/finding.hpp"

namespace portd::project {

/// Parses package.json through nlohmann-json and returns one finding per
/// port a script's command line names (`--port N`, `--port=N`, `-p N`,
/// `PORT=N`, see command_ports()), named after the script ("dev"), or
/// after the variable's stem for `<STEM>_PORT=N`. A second port of the
/// same script is named "<script>-<port>". Invalid JSON gives one
/// ScanError with the line of the parse error.
ScanResult scan_package_json(std::string_view text, const std::string& file);

}  // namespace portd::project
