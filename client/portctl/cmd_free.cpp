// portctl free: stop the caller's processes that hold a port (SIGTERM, then
// SIGKILL after --timeout), and optionally release its allocation. Exit 0
// only when the port is free afterwards (portctl(1) "free").
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <set>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"
#include "portctl/holders_view.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

using Clock = std::chrono::steady_clock;

struct FreeOptions {
  std::uint16_t port = 0;
  double timeout = 5;
  bool yes = false;
  bool release = false;
};

bool process_alive(std::uint32_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool port_free(std::uint16_t port) {
  return !portd::sys::port_bound(port) && portd::sys::find_port_holders(port).empty();
}

/// Waits until the port is free or `deadline`; true when it is free.
bool wait_free(std::uint16_t port, Clock::time_point deadline) {
  for (;;) {
    if (port_free(port)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

/// The processes to signal; throws when one of them may not be signalled.
std::set<std::uint32_t> targets(const std::vector<portd::sys::PortHolder>& holders,
                                std::uint32_t daemon_pid, std::uint16_t port) {
  std::set<std::uint32_t> pids;
  const std::uint32_t me = ::getuid();
  for (const auto& h : holders) {
    if (h.pid == 0 || h.socket.uid != me) {
      throw std::runtime_error(fmt::format(
          "port {} is held by {} of user {}{}; portctl free stops only your own processes", port,
          h.pid == 0 ? "a process" : fmt::format("pid {}", h.pid), h.user,
          h.command.empty() ? "" : fmt::format(" ({})", h.command)));
    }
    if (h.pid == daemon_pid || h.executable == "portd" ||
        h.pid == static_cast<std::uint32_t>(::getpid())) {
      throw std::runtime_error(fmt::format(
          "port {} is held by pid {} ({}), which portctl free never signals", port, h.pid,
          h.pid == static_cast<std::uint32_t>(::getpid()) ? "portctl itself" : "portd"));
    }
    pids.insert(h.pid);
  }
  return pids;
}

bool confirmed(std::uint16_t port) {
  fmt::print(stderr, "stop these processes to free port {}? [y/N] ", port);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

void signal_all(const std::set<std::uint32_t>& pids, int sig, const char* name) {
  for (std::uint32_t pid : pids) {
    if (!process_alive(pid)) continue;
    if (::kill(static_cast<pid_t>(pid), sig) == 0) {
      fmt::print("sent {} to pid {}\n", name, pid);
    } else if (errno != ESRCH) {
      throw std::runtime_error(
          fmt::format("cannot send {} to pid {}: {}", name, pid, std::strerror(errno)));
    }
  }
}

void release_allocation(Context& ctx, std::uint16_t port) {
  portd::client::Filter f;
  f.port = port;
  try {
    auto r = ctx.client().release(f);
    for (const auto& a : r.allocations) fmt::print("released allocation {}\n", a.id);
  } catch (const portd::client::Error& e) {
    if (e.code() != portd::client::ErrorCode::not_found) throw;
  }
}

int run_free(Context& ctx, const FreeOptions& o) {
  std::vector<portd::sys::PortHolder> holders = portd::sys::find_port_holders(o.port);
  if (holders.empty()) {
    if (portd::sys::port_bound(o.port)) {
      throw std::runtime_error(fmt::format(
          "port {} is bound, but by no socket visible here (another network namespace?)", o.port));
    }
    if (o.release) release_allocation(ctx, o.port);
    fmt::print("port {} is free\n", o.port);
    return 0;
  }
  std::set<std::uint32_t> pids = targets(holders, ctx.client().health().pid, o.port);
  fmt::print("port {} is bound by:\n", o.port);
  print_holders(stdout, holders, 2);
  std::fflush(stdout);
  if (!o.yes && ::isatty(STDIN_FILENO) && !confirmed(o.port)) {
    fmt::print(stderr, "nothing stopped\n");
    return 1;
  }
  const auto grace =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout));
  signal_all(pids, SIGTERM, "SIGTERM");
  if (!wait_free(o.port, Clock::now() + grace)) {
    signal_all(pids, SIGKILL, "SIGKILL");
    // The kernel closes a killed process's sockets as it exits.
    if (!wait_free(o.port, Clock::now() + std::chrono::seconds(2))) {
      fmt::print(stderr, "portctl: port {} is still bound\n", o.port);
      return 1;
    }
  }
  if (o.release) release_allocation(ctx, o.port);
  fmt::print("port {} is free\n", o.port);
  return 0;
}

}  // namespace

Runner setup_free(CLI::App& cmd) {
  auto o = std::make_shared<FreeOptions>();
  cmd.add_option("--port", o->port, "Port to free (1-65535)")
      ->check(CLI::Range(1, 65535))
      ->required();
  cmd.add_option("--timeout", o->timeout, "Seconds between SIGTERM and SIGKILL (default 5)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd.add_flag("-y,--yes", o->yes, "Do not ask for confirmation on a terminal");
  cmd.add_flag("--release", o->release, "Also release the port's allocation");
  return [o](Context& ctx) { return run_free(ctx, *o); };
}

}  // namespace portctl
