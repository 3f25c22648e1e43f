// doctor: the LMDB store, opened read-only beside a running daemon (LMDB
// supports several processes on one environment; see lmdb.h, "Caveats").
// Nothing is written: dead readers are counted, not cleared.
#include <lmdb.h>
#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "portctl/doctor/checks.hpp"

namespace portctl::doctor {
namespace {

namespace fs = std::filesystem;

// From this share of max_map_size on, the store may soon be full.
constexpr double kMapWarnPercent = 85.0;

struct EnvCloser {
  void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
};

// mdb_reader_list() prints "    pid     thread     txnid" lines; counts
// the entries whose process no longer exists.
int count_dead_reader(const char* msg, void* ctx) {
  std::istringstream line(msg);
  long pid = 0;
  if (line >> pid && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    ++*static_cast<int*>(ctx);
  }
  return 0;
}

std::string mib(double bytes) {
  if (bytes < 1024.0 * 1024.0) return fmt::format("{:.0f} KiB", bytes / 1024.0);
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

}  // namespace

void check_store(Report& report, const Setup& setup, const portd::Config& config) {
  const fs::path data = setup.state_dir / "data.mdb";
  std::error_code ec;
  if (!fs::exists(data, ec)) {
    report.ok("store",
              fmt::format("no store at '{}' yet (portd creates it on first start)", data.string()));
    return;
  }
  const std::string fix = fmt::format(
      "stop portd, move '{}' aside and restore it from `portctl export` output "
      "(portctl import)",
      setup.state_dir.string());
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  std::unique_ptr<MDB_env, EnvCloser> env(raw);
  if (rc == MDB_SUCCESS) {
    rc = mdb_env_open(env.get(), setup.state_dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600);
  }
  if (rc != MDB_SUCCESS) {
    report.fail("store",
                fmt::format("cannot open '{}' read-only: {}", data.string(), mdb_strerror(rc)),
                fix);
    return;
  }
  MDB_envinfo info{};
  MDB_stat stat{};
  mdb_env_info(env.get(), &info);
  mdb_env_stat(env.get(), &stat);
  const double used = static_cast<double>(info.me_last_pgno + 1) * stat.ms_psize;
  const double file_size = static_cast<double>(fs::file_size(data, ec));
  if (!ec && file_size < used) {
    report.fail("store",
                fmt::format("'{}' is truncated: {} bytes, its last commit needs {:.0f}",
                            data.string(), file_size, used),
                fix);
    return;
  }
  const double limit = static_cast<double>(config.max_map_size);
  const double percent = limit > 0 ? used * 100.0 / limit : 0.0;
  std::string detail =
      fmt::format("'{}': {} used of a {} map (max_map_size_mib {}, {:.1f}% used)", data.string(),
                  mib(used), mib(double(info.me_mapsize)), config.max_map_size >> 20, percent);
  if (percent >= kMapWarnPercent) {
    report.warn("store", detail + ": the store is nearly full",
                "raise max_map_size_mib under [limits] in portd.toml, or run portctl gc");
  } else {
    report.ok("store", detail);
  }

  int dead = 0;
  mdb_reader_list(env.get(), count_dead_reader, &dead);
  if (dead > 0) {
    report.warn("store-readers",
                fmt::format("{} reader slot{} of the store belong to processes that died; they "
                            "keep old pages from reuse",
                            dead, dead == 1 ? "" : "s"),
                "systemctl --user restart portd.service, or portctl health after portd exits "
                "(portd clears them when it opens the store)");
  } else {
    report.ok("store-readers", fmt::format("{} of {} reader slots in use, none stale",
                                           info.me_numreaders, info.me_maxreaders));
  }
}

}  // namespace portctl::doctor
