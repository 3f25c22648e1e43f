// .env files (`NAME=value` lines, as docker compose and dotenv read them):
// variables for compose interpolation and the ports they declare.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "project/finding.hpp"

namespace portd::project {

/// One assignment of a .env file.
struct DotenvEntry {
  std::string name;
  std::string value;  ///< quotes removed; an unquoted value ends before " #"
  int line = 0;       ///< 1-based
};

/// The assignments of a .env file's text: `NAME=value` or
/// `export NAME=value`; comments, blank lines and other lines are ignored.
std::vector<DotenvEntry> parse_dotenv(std::string_view text);

/// The ports a .env file declares: `PORT=N` (service `fallback`) and
/// `<STEM>_PORT=N` (service <stem>). `file` names the findings.
ScanResult scan_dotenv(std::string_view text, const std::string& file,
                       std::string_view fallback = "web");

}  // namespace portd::project
