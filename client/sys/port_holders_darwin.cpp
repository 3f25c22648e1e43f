// find_port_holders for macOS through libproc (proc_listpids,
// proc_pidfdinfo with PROC_PIDFDSOCKETINFO). Untested: portd's tests run
// on Linux only, so this file is compiled there and nothing more.
#include <arpa/inet.h>
#include <libproc.h>
#include <sys/proc_info.h>

#include <algorithm>
#include <vector>

#include "sys/port_holders.hpp"

namespace portd::sys {
namespace {

std::string address_of(const in_sockinfo& in) {
  char text[INET6_ADDRSTRLEN] = {};
  if (in.insi_vflag & INI_IPV6) {
    inet_ntop(AF_INET6, &in.insi_laddr.ina_6, text, sizeof text);
  } else {
    inet_ntop(AF_INET, &in.insi_laddr.ina_46.i46a_addr4, text, sizeof text);
  }
  return text;
}

void describe_process(PortHolder& h) {
  char path[PROC_PIDPATHINFO_MAXSIZE] = {};
  if (proc_pidpath(static_cast<int>(h.pid), path, sizeof path) > 0) {
    h.command = path;
    std::string p(path);
    h.executable = p.substr(p.find_last_of('/') + 1);
  }
  proc_vnodepathinfo vpi{};
  if (proc_pidinfo(static_cast<int>(h.pid), PROC_PIDVNODEPATHINFO, 0, &vpi, sizeof vpi) ==
      static_cast<int>(sizeof vpi)) {
    h.cwd = vpi.pvi_cdir.vip_path;
  }
  proc_bsdinfo bsd{};
  if (proc_pidinfo(static_cast<int>(h.pid), PROC_PIDTBSDINFO, 0, &bsd, sizeof bsd) ==
      static_cast<int>(sizeof bsd)) {
    h.socket.uid = bsd.pbi_uid;
  }
  h.user = user_name(h.socket.uid);
}

}  // namespace

std::vector<PortHolder> find_port_holders(std::uint16_t port) {
  std::vector<PortHolder> out;
  int bytes = proc_listpids(PROC_ALL_PIDS, 0, nullptr, 0);
  if (bytes <= 0) return out;
  std::vector<pid_t> pids(static_cast<std::size_t>(bytes) / sizeof(pid_t) + 64);
  bytes =
      proc_listpids(PROC_ALL_PIDS, 0, pids.data(), static_cast<int>(pids.size() * sizeof(pid_t)));
  pids.resize(static_cast<std::size_t>(std::max(bytes, 0)) / sizeof(pid_t));
  for (pid_t pid : pids) {
    if (pid <= 0) continue;
    int size = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, nullptr, 0);
    if (size <= 0) continue;  // another user's process
    std::vector<proc_fdinfo> fds(static_cast<std::size_t>(size) / sizeof(proc_fdinfo));
    size = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, fds.data(), size);
    fds.resize(static_cast<std::size_t>(std::max(size, 0)) / sizeof(proc_fdinfo));
    for (const proc_fdinfo& fd : fds) {
      if (fd.proc_fdtype != PROX_FDTYPE_SOCKET) continue;
      socket_fdinfo si{};
      if (proc_pidfdinfo(pid, fd.proc_fd, PROC_PIDFDSOCKETINFO, &si, sizeof si) !=
          static_cast<int>(sizeof si)) {
        continue;
      }
      const bool tcp = si.psi.soi_kind == SOCKINFO_TCP;
      if (!tcp && si.psi.soi_kind != SOCKINFO_IN) continue;
      const in_sockinfo& in = tcp ? si.psi.soi_proto.pri_tcp.tcpsi_ini : si.psi.soi_proto.pri_in;
      if (ntohs(static_cast<std::uint16_t>(in.insi_lport)) != port) continue;
      PortHolder h;
      const bool v6 = (in.insi_vflag & INI_IPV6) != 0;
      h.socket.protocol = std::string(tcp ? "tcp" : "udp") + (v6 ? "6" : "");
      h.socket.address = address_of(in);
      h.socket.port = port;
      if (tcp) {
        int st = si.psi.soi_proto.pri_tcp.tcpsi_state;
        if (st != TSI_S_LISTEN && st != TSI_S_CLOSED) continue;
        h.socket.state = st == TSI_S_LISTEN ? "listen" : "bound";
      } else {
        h.socket.state = "bound";
      }
      h.pid = static_cast<std::uint32_t>(pid);
      describe_process(h);
      out.push_back(std::move(h));
    }
  }
  name_containers(out, port);
  return out;
}

}  // namespace portd::sys
