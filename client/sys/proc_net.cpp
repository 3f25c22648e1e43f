// The portable part of port_holders.hpp: parsing /proc/net tables, docker
// output and docker-proxy arguments, and user names.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <sstream>

#include "sys/port_holders.hpp"

namespace portd::sys {
namespace {

template <class T>
bool parse_hex(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

// The kernel prints each 32-bit word of the address as a native-endian
// number (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c), so copying the
// parsed words back to memory in order restores the address bytes.
bool parse_address(std::string_view hex, bool v6, std::string& out) {
  const std::size_t words = v6 ? 4 : 1;
  if (hex.size() != words * 8) return false;
  unsigned char bytes[16] = {};
  for (std::size_t i = 0; i < words; ++i) {
    std::uint32_t w = 0;
    if (!parse_hex(hex.substr(i * 8, 8), w)) return false;
    std::memcpy(bytes + i * 4, &w, 4);
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text)) return false;
  out = text;
  return true;
}

std::string tcp_state(unsigned st) {
  switch (st) {
    case 0x01:
      return "connected";
    case 0x06:
      return "time-wait";
    case 0x07:
      return "bound";
    case 0x0A:
      return "listen";
    default:
      return "closing";
  }
}

}  // namespace

std::vector<SocketEntry> parse_proc_net(std::string_view text, std::string_view protocol) {
  const bool v6 = protocol.ends_with('6');
  const bool tcp = protocol.starts_with("tcp");
  std::vector<SocketEntry> out;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    std::istringstream fields(line);
    std::string sl, local, remote, st, queues, timer, retransmits, uid, timeout, inode;
    if (!(fields >> sl >> local >> remote >> st >> queues >> timer >> retransmits >> uid >>
          timeout >> inode)) {
      continue;
    }
    auto colon = local.find(':');
    if (!sl.ends_with(':') || colon == std::string::npos) continue;
    SocketEntry e;
    e.protocol = std::string(protocol);
    unsigned state = 0;
    if (!parse_address(std::string_view(local).substr(0, colon), v6, e.address) ||
        !parse_hex(std::string_view(local).substr(colon + 1), e.port) || !parse_hex(st, state)) {
      continue;
    }
    auto [u_end, u_ec] = std::from_chars(uid.data(), uid.data() + uid.size(), e.uid);
    auto [i_end, i_ec] = std::from_chars(inode.data(), inode.data() + inode.size(), e.inode);
    if (u_ec != std::errc() || i_ec != std::errc()) continue;
    e.state = tcp ? tcp_state(state) : (state == 0x07 ? "bound" : "connected");
    out.push_back(std::move(e));
  }
  return out;
}

bool holds_port(const SocketEntry& s) {
  if (s.protocol.starts_with("udp")) return true;
  return s.state == "listen" || s.state == "bound";
}

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
