// Compose files (compose.yaml, docker-compose.yml, ...): the host ports
// each service publishes, as the Compose Specification's `ports` (short
// and long syntax) and `expose` define them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "project/finding.hpp"

namespace portd::project {

/// Looks up a variable for interpolation; std::nullopt when unset.
using VariableLookup = std::function<std::optional<std::string>(const std::string&)>;

/// Expands $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
/// ${VAR:?message} and ${VAR?message} in `text` as compose does. Returns
/// std::nullopt and sets `error` ("variable WEB_PORT is not set") when a
/// variable without default is unset or the syntax is broken.
std::optional<std::string> interpolate(std::string_view text, const VariableLookup& lookup,
                                       std::string& error);

/// Parses the YAML text of a compose file through yaml-cpp and returns one
/// finding per published host port: "H:C", "IP:H:C", "[IPv6]:H:C",
/// ranges "H1-H2:C1-C2" (one finding per port), "/udp" suffixes, long
/// syntax (published, host_ip, protocol), with variables interpolated by
/// `lookup`. A bare "C", "IP::C", a long entry without `published` and
/// every `expose` entry are findings with `skipped` set. The first host
/// port of a service is named after the service, further ones
/// "<service>-<port>". A file that is not YAML, or whose `services` is not
/// a map, gives one ScanError with its line and no findings.
ScanResult scan_compose(std::string_view text, const std::string& file,
                        const VariableLookup& lookup);

/// True when `filename` (no directory) is a compose file name: compose.yaml,
/// compose.yml, docker-compose.yml, docker-compose.yaml,
/// docker-compose.<anything>.yml/.yaml, compose.<anything>.yml/.yaml.
bool is_compose_file_name(std::string_view filename);

}  // namespace portd::project
