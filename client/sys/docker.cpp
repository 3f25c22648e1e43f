// Naming the container behind a docker-proxy or rootlesskit holder with
// `docker ps` (docker-ps(1): --filter publish=PORT).
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <tuple>

#include "sys/port_holders.hpp"

namespace portd::sys {
namespace {

bool docker_on_path() {
  const char* path = ::getenv("PATH");
  if (!path) return false;
  std::string dirs(path);
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/docker";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

bool is_proxy(const PortHolder& h) {
  return h.executable == "docker-proxy" || h.executable == "rootlesskit" ||
         h.executable.starts_with("rootlesskit");
}

}  // namespace

void name_containers(std::vector<PortHolder>& holders, std::uint16_t port) {
  bool wanted = false;
  for (const PortHolder& h : holders) wanted = wanted || is_proxy(h);
  if (!wanted || !docker_on_path()) return;
  // The format string is fixed and the port a number: nothing here comes
  // from the user, so running it through the shell is safe.
  std::string cmd = "docker ps --filter publish=" + std::to_string(port) +
                    " --format '{{.Names}}\t{{.Label \"com.docker.compose.project\"}}' "
                    "2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return;
  char line[1024];
  std::string name, project;
  if (::fgets(line, sizeof line, p)) std::tie(name, project) = parse_docker_ps_line(line);
  ::pclose(p);
  if (name.empty()) return;
  for (PortHolder& h : holders) {
    if (!is_proxy(h)) continue;
    h.container = name;
    h.compose_project = project;
  }
}

}  // namespace portd::sys
