// portd: the per-user port registry daemon. See portd(1).
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "activation.hpp"
#include "alloc/port_probe.hpp"
#include "alloc/port_rules.hpp"
#include "config.h"
#include "config/config.hpp"
#include "log.hpp"
#include "model/error.hpp"
#include "paths/paths.hpp"
#include "registry/registry.hpp"
#include "server.hpp"
#include "store/store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace portd;

// With fds 0-2 closed, the store's files could become fd 2 and a stray
// write to stderr would land in the database (monero#6147): fill them first.
void sanitise_std_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) == -1) {
      int null = ::open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) {
        ::dup2(null, fd);
        ::close(null);
      }
    }
  }
}

// Out of memory where no handler can catch it (static initialisers of
// CLI11, noexcept code) ends in std::terminate, whose SIGABRT a supervisor
// counts as a crash (reliability T07). Exit with EX_TEMPFAIL instead:
// replies are sent only after their commit, so nothing acknowledged is
// lost and a restart is safe. Any other escaped exception is a bug and
// still aborts, so that it leaves a core.
[[noreturn]] void on_terminate() noexcept {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
      static constexpr char kMessage[] = "portd: out of memory\n";
      (void)!::write(2, kMessage, sizeof(kMessage) - 1);
      ::_exit(store::kExitStoreFatal);
    } catch (...) {
    }
  }
  std::abort();
}

struct InstallTerminateHandler {
  InstallTerminateHandler() { std::set_terminate(on_terminate); }
};
// Runs before the other static initialisers of this program (CLI11's).
__attribute__((init_priority(101))) InstallTerminateHandler install_terminate_handler;

struct Options {
  std::string socket;
  std::string state_dir;
  std::string config;
  std::int64_t idle_exit = 0;
  std::string log_level = "info";
};

int serve(const Options& opt) {
  daemon::init_logging(opt.log_level);
  // A file named on the command line must exist: silently serving the
  // defaults instead would hide a typo. Only the default path may be absent.
  if (!opt.config.empty() && !fs::exists(fs::path(opt.config))) {
    throw ConfigError(
        fmt::format("failed to read config file '{}': no such file (--config)", opt.config));
  }
  fs::path config_path = opt.config.empty() ? default_config_path() : fs::path(opt.config);
  Config config = load_config(config_path);
  fs::path state_dir = opt.state_dir.empty() ? default_state_dir() : fs::path(opt.state_dir);
  fs::path socket = opt.socket.empty() ? default_socket_path() : fs::path(opt.socket);

  // The config and the store come first, the socket last: a daemon that
  // cannot open its store must fail before any client connects, so that an
  // autostarting client reads this start-up error in the log instead of a
  // reset connection, and an activated socket keeps its queued clients for
  // the next start.
  ensure_private_dir(state_dir);
  daemon::lock_state_dir(state_dir, 3000);
  store::StoreOptions so;
  so.dir = state_dir;
  so.map_size = config.map_size;
  so.max_map_size = config.max_map_size;
  store::Store store(so);
  for (const std::string& warning : store.open_warnings()) {
    daemon::logger("store")->warn("{}", warning);
  }
  OsPortProbe probe;
  Registry registry(store, config, probe, kernel_ephemeral_range());
  daemon::logger("store")->info("opened '{}'", state_dir.string());

  daemon::Listener listener = daemon::acquire_listener(socket);
  daemon::ServerOptions server_options{std::move(config), config_path, opt.idle_exit};
  daemon::Server server(store, registry, listener, std::move(server_options));
  int status = server.run();
  daemon::logger("server")->info("stopped");
  return status;
}

}  // namespace

int run(int argc, char** argv) {
  sanitise_std_fds();
  // libuv writes without MSG_NOSIGNAL; a client that leaves must not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"portd - per-user port registry daemon (see portd(1))", "portd"};
  Options opt;
  app.add_option("--socket", opt.socket, "listen on this Unix socket path")
      ->envname("PORTD_SOCKET");
  app.add_option("--state-dir", opt.state_dir, "keep the database in this directory");
  app.add_option("--config", opt.config, "read this portd.toml");
  app.add_option("--idle-exit", opt.idle_exit,
                 "exit after this many seconds with no client connected (0: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", opt.log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.set_version_flag("--version", std::string("portd ") + PORTD_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    return serve(opt);
  } catch (const daemon::AlreadyRunning& e) {
    std::fprintf(stderr, "portd: %s\n", e.what());
    return 1;
  } catch (const store::StoreFatal& e) {
    std::fprintf(stderr, "portd: %s\n", e.what());
    return store::kExitStoreFatal;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portd: %s\n", e.what());
    return 1;
  }
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception&) {
    // Out of memory while parsing options or reporting a startup error
    // (reliability T07): a startup failure, not std::terminate's SIGABRT.
    std::fputs("portd: out of memory\n", stderr);
    return 1;
  }
}
