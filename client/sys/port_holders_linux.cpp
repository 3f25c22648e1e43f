// find_port_holders for Linux: /proc/net/* for the sockets, /proc/PID/fd
// for their owners (proc(5)).
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "sys/port_holders.hpp"
#include "sys/read_file.hpp"

namespace portd::sys {
namespace {

// A process may exit while we look: its files then read as empty.
std::string slurp(const std::string& path) {
  return read_file(path).value_or(std::string());
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::vector<std::string> read_argv(std::uint32_t pid) {
  std::string raw = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < raw.size()) {
    std::size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    argv.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

/// inode -> pid for every socket whose owner's fd table we may read.
std::map<std::uint64_t, std::uint32_t> socket_owners(const std::vector<std::uint64_t>& wanted) {
  std::map<std::uint64_t, std::uint32_t> owners;
  DIR* proc = ::opendir("/proc");
  if (!proc) return owners;
  while (dirent* d = ::readdir(proc)) {
    std::uint32_t pid = 0;
    std::string_view name(d->d_name);
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    pid = static_cast<std::uint32_t>(std::stoul(std::string(name)));
    std::string fd_dir = "/proc/" + std::string(name) + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;  // another user's process
    while (dirent* f = ::readdir(fds)) {
      std::string link = read_link(fd_dir + "/" + f->d_name);
      if (!link.starts_with("socket:[")) continue;
      std::uint64_t inode = std::strtoull(link.c_str() + 8, nullptr, 10);
      if (std::find(wanted.begin(), wanted.end(), inode) != wanted.end()) {
        owners.emplace(inode, pid);  // the first (lowest) pid of a shared socket
      }
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return owners;
}

}  // namespace

std::vector<PortHolder> find_port_holders(std::uint16_t port) {
  std::vector<PortHolder> out;
  std::vector<std::uint64_t> inodes;
  for (SocketEntry& s : read_socket_tables().value_or(std::vector<SocketEntry>{})) {
    if (s.port != port || !holds_port(s)) continue;
    inodes.push_back(s.inode);
    PortHolder h;
    h.socket = std::move(s);
    out.push_back(std::move(h));
  }
  if (out.empty()) return out;
  std::map<std::uint64_t, std::uint32_t> owners = socket_owners(inodes);
  for (PortHolder& h : out) {
    h.user = user_name(h.socket.uid);
    auto it = owners.find(h.socket.inode);
    if (it == owners.end()) continue;
    h.pid = it->second;
    const std::string dir = "/proc/" + std::to_string(h.pid);
    std::vector<std::string> argv = read_argv(h.pid);
    for (const std::string& a : argv) h.command += (h.command.empty() ? "" : " ") + a;
    h.cwd = read_link(dir + "/cwd");
    std::string exe = read_link(dir + "/exe");
    if (exe.empty() && !argv.empty()) exe = argv[0];
    h.executable = exe.substr(exe.find_last_of('/') + 1);
    if (h.executable == "docker-proxy") h.container_address = docker_proxy_target(argv);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PortHolder& a, const PortHolder& b) { return a.pid < b.pid; });
  name_containers(out, port);
  return out;
}

}  // namespace portd::sys
