// The portable text helpers of port_holders.hpp: docker output,
// docker-proxy arguments and user names.
#include <pwd.h>
#include <unistd.h>

#include "sys/port_holders.hpp"

namespace portd::sys {

std::string docker_proxy_target(const std::vector<std::string>& argv) {
  std::string ip, port;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-container-ip") ip = argv[i + 1];
    if (argv[i] == "-container-port") port = argv[i + 1];
  }
  if (ip.empty() || port.empty()) return "";
  return ip.find(':') != std::string::npos ? "[" + ip + "]:" + port : ip + ":" + port;
}

std::pair<std::string, std::string> parse_docker_ps_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto tab = line.find('\t');
  if (tab == std::string_view::npos) return {std::string(line), ""};
  return {std::string(line.substr(0, tab)), std::string(line.substr(tab + 1))};
}

std::string user_name(std::uint32_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found) return found->pw_name;
  return std::to_string(uid);
}

}  // namespace portd::sys
