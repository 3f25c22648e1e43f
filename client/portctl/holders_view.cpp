#include "portctl/holders_view.hpp"

#include <fmt/format.h>

namespace portctl {
namespace {

Json text_or_null(const std::string& s) {
  return s.empty() ? Json(nullptr) : Json(s);
}

}  // namespace

Json to_json(const portd::sys::PortHolder& h) {
  Json j = Json::object();
  j["protocol"] = h.socket.protocol;
  j["address"] = h.socket.address;
  j["port"] = h.socket.port;
  j["state"] = h.socket.state;
  j["pid"] = h.pid != 0 ? Json(h.pid) : Json(nullptr);
  j["uid"] = h.socket.uid;
  j["user"] = h.user;
  j["command"] = text_or_null(h.command);
  j["cwd"] = text_or_null(h.cwd);
  j["container"] = text_or_null(h.container);
  j["compose_project"] = text_or_null(h.compose_project);
  j["container_address"] = text_or_null(h.container_address);
  return j;
}

std::string describe_socket(const portd::sys::SocketEntry& s) {
  const bool v6 = s.address.find(':') != std::string::npos;
  return fmt::format("{} {}{}{}:{} {}", s.protocol, v6 ? "[" : "", s.address, v6 ? "]" : "", s.port,
                     s.state);
}

void print_holders(std::FILE* out, const std::vector<portd::sys::PortHolder>& holders, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  // Holders come sorted by pid; sockets of one process share a block. The
  // sockets of unreadable processes (pid 0) are grouped by user instead.
  for (std::size_t i = 0; i < holders.size();) {
    const portd::sys::PortHolder& h = holders[i];
    std::size_t end = i + 1;
    while (end < holders.size() && holders[end].pid == h.pid &&
           (h.pid != 0 || holders[end].socket.uid == h.socket.uid)) {
      ++end;
    }
    if (h.pid != 0) {
      fmt::print(out, "{}pid {} (user {}): {}\n", pad, h.pid, h.user,
                 h.command.empty() ? h.executable : h.command);
      if (!h.cwd.empty()) fmt::print(out, "{}  directory: {}\n", pad, h.cwd);
    } else {
      fmt::print(out, "{}a process of user {} (not yours: its pid is hidden)\n", pad, h.user);
    }
    if (!h.container.empty()) {
      fmt::print(
          out, "{}  container: {}{}\n", pad, h.container,
          h.compose_project.empty() ? "" : fmt::format(" (compose project {})", h.compose_project));
    } else if (h.executable == "docker-proxy") {
      fmt::print(out, "{}  container: docker-proxy for {}\n", pad,
                 h.container_address.empty() ? "an unknown address" : h.container_address);
    }
    std::string sockets;
    for (std::size_t k = i; k < end; ++k) {
      sockets += (k == i ? "" : ", ") + describe_socket(holders[k].socket);
    }
    fmt::print(out, "{}  sockets: {}\n", pad, sockets);
    i = end;
  }
}

}  // namespace portctl
