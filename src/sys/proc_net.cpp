// Parsing and reading the kernel's socket tables (proc(5), /proc/net/tcp).
#include "sys/proc_net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <sstream>

#include "sys/unique_fd.hpp"

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

// Reads all of `path`; std::nullopt with errno set when it cannot be opened
// or read.
std::optional<std::string> read_file(const char* path) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) return text;
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (errno != EINTR) {
      return std::nullopt;
    }
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

std::optional<std::vector<SocketEntry>> read_socket_tables() {
  std::vector<SocketEntry> out;
  for (const char* protocol : {"tcp", "tcp6", "udp", "udp6"}) {
    const std::string path = std::string("/proc/net/") + protocol;
    std::optional<std::string> text = read_file(path.c_str());
    if (!text) {
      // Without IPv6 the kernel has no tcp6/udp6 tables, and no IPv6
      // sockets either.
      if (std::string_view(protocol).ends_with('6') && errno == ENOENT) continue;
      return std::nullopt;
    }
    std::vector<SocketEntry> sockets = parse_proc_net(*text, protocol);
    out.insert(out.end(), std::make_move_iterator(sockets.begin()),
               std::make_move_iterator(sockets.end()));
  }
  return out;
}

}  // namespace portd::sys
