#include "fault_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "../../integration/support/daemon_process.hpp"

namespace portd::testing::faults {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool long_tier() {
  const char* v = std::getenv("PORTD_LONG");
  return v != nullptr && std::string(v) == "1";
}

Layout::Layout(const fs::path& r)
    : root(r),
      runtime(r / "runtime"),
      socket(r / "runtime" / "portd" / "portd.sock"),
      state(r / "state" / "portd"),
      config(r / "config" / "portd" / "portd.toml"),
      log(r / "portd.log") {
  fs::create_directories(runtime);
  fs::permissions(runtime, fs::perms::owner_all);
  // portd refuses a --config file that does not exist; empty means the defaults.
  write_config("");
}

void Layout::write_config(const std::string& toml) const {
  fs::create_directories(config.parent_path());
  std::ofstream(config) << toml;
}

void Layout::chown_all(uid_t uid, gid_t gid) const {
  if (::chown(root.c_str(), uid, gid) != 0) throw std::runtime_error("chown " + root.string());
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (::lchown(e.path().c_str(), uid, gid) != 0) {
      throw std::runtime_error("chown " + e.path().string());
    }
  }
}

std::vector<std::string> daemon_env(const Layout& layout, const Launch& launch) {
  std::vector<std::string> env = {
      "HOME=" + layout.root.string(),
      "XDG_STATE_HOME=" + (layout.root / "state").string(),
      "XDG_CONFIG_HOME=" + (layout.root / "config").string(),
      "PATH=/usr/bin:/bin",
  };
  if (launch.runtime_env) env.push_back("XDG_RUNTIME_DIR=" + layout.runtime.string());
  env.insert(env.end(), launch.extra_env.begin(), launch.extra_env.end());
  return env;
}

std::vector<std::string> daemon_argv(const Layout& layout, const Launch& launch) {
  std::vector<std::string> argv = launch.prefix;
  argv.push_back(portd_binary().string());
  if (launch.use_socket_option) {
    argv.insert(argv.end(), {"--socket", layout.socket.string()});
  }
  argv.insert(argv.end(), {"--state-dir", layout.state.string(), "--config", layout.config.string(),
                           "--log-level", "info"});
  argv.insert(argv.end(), launch.extra_args.begin(), launch.extra_args.end());
  return argv;
}

pid_t start_daemon(const Layout& layout, const Launch& launch) {
  return spawn(daemon_argv(layout, launch), daemon_env(layout, launch), layout.log);
}

pid_t daemon_pid_from_lock(const Layout& layout) {
  std::ifstream in(layout.state / "portd.lock");
  long pid = -1;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

Reaper::~Reaper() {
  if (pid_ <= 0 || !alive(pid_)) return;
  // While the wrapper is unreaped its child's pid cannot have been reused.
  if (inner > 0) ::kill(inner, SIGKILL);
  kill_and_reap(pid_);
}

pid_t first_child(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/task/{}/children", pid, pid));
  long child = -1;
  if (!(in >> child)) return -1;
  return static_cast<pid_t>(child);
}

int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  return wait_pid(pid, timeout);
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  wait_pid(pid, 10s);
}

bool alive(pid_t pid) {
  siginfo_t info{};
  // WNOWAIT: look without reaping, so a later wait_exit still gets the status.
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;  // already reaped (or not ours): its pid may belong to someone else now
  }
  return info.si_pid == 0;
}

int run_command(const std::vector<std::string>& argv, std::string* output,
                std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/portd-cmd-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  pid_t pid = spawn(argv, env, tmpl);
  int status = wait_pid(pid, timeout);
  if (status == -1) kill_and_reap(pid);
  if (output) {
    std::ifstream in(tmpl);
    std::stringstream ss;
    ss << in.rdbuf();
    *output = ss.str();
  }
  ::unlink(tmpl);
  return status;
}

namespace {

std::string proc_file(pid_t pid, const char* name) {
  std::ifstream in(fmt::format("/proc/{}/{}", pid, name));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::size_t rss_kib(pid_t pid) {
  std::istringstream in(proc_file(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

std::uint64_t cpu_ticks(pid_t pid) {
  std::string stat = proc_file(pid, "stat");
  // Fields after the parenthesised command name, which may contain spaces.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> f;
  std::string s;
  while (in >> s) f.push_back(s);
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (f.size() < 13) return 0;
  return std::stoull(f[11]) + std::stoull(f[12]);
}

std::size_t fd_count(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec);
       !ec && it != fs::directory_iterator(); ++it) {
    ++n;
  }
  return n;
}

AllocationKey test_key(const std::string& app, const std::string& instance, std::size_t i) {
  return AllocationKey{app, instance, fmt::format("s{}", i)};
}

void Ledger::ack(const AllocationKey& key, Port port) {
  acked_[key] = port;
  uncertain_.erase(key);
}
void Ledger::fail(const AllocationKey& key) {
  ++failed_;
  failed_keys_[key] = true;
}
void Ledger::uncertain(const AllocationKey& key) {
  if (!acked_.contains(key)) uncertain_[key] = true;
}

std::vector<std::string> Ledger::verify(const std::vector<Allocation>& final_list) const {
  std::vector<std::string> problems;
  std::map<AllocationKey, Port> listed;
  std::map<Port, AllocationKey> by_port;
  for (const Allocation& a : final_list) {
    if (auto [it, fresh] = by_port.emplace(a.port, a.key()); !fresh) {
      problems.push_back(fmt::format("dup: port {} held by {} and {}", a.port,
                                     to_string(it->second), to_string(a.key())));
    }
    if (!listed.emplace(a.key(), a.port).second) {
      problems.push_back(fmt::format("dup: key {} listed twice", to_string(a.key())));
    }
    if (!acked_.contains(a.key()) && !uncertain_.contains(a.key())) {
      problems.push_back(fmt::format("unexpected: {} on port {} was never acknowledged",
                                     to_string(a.key()), a.port) +
                         (failed_keys_.contains(a.key()) ? " (its reply was an error)" : ""));
    }
  }
  for (const auto& [key, port] : acked_) {
    auto it = listed.find(key);
    if (it == listed.end()) {
      problems.push_back(fmt::format("lost: {} (port {}) was acknowledged", to_string(key), port));
    } else if (it->second != port) {
      problems.push_back(fmt::format("moved: {} acknowledged on port {}, listed on {}",
                                     to_string(key), port, it->second));
    }
  }
  return problems;
}

std::vector<Allocation> list_all(const fs::path& socket) {
  RawClient c(socket);
  proto::Response r = c.call(make_request(proto::Op::list));
  if (!r.ok) throw std::runtime_error("list failed: " + std::string(r.error->what()));
  const msgpack::object* list = r.find("allocations");
  if (list == nullptr || list->type != msgpack::type::ARRAY) {
    throw std::runtime_error("list reply has no allocations array");
  }
  std::vector<Allocation> out;
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    out.push_back(proto::unpack_allocation(list->via.array.ptr[i]));
  }
  return out;
}

int mdb_dump_status(const fs::path& state_dir) {
  std::string out;
  int status = run_command({"/usr/bin/mdb_dump", "-a", state_dir.string()}, &out, 60s);
  if (status != 0) {
    // mdb_dump -a refuses an environment that has never committed ("does
    // not contain multiple databases"); that is an empty store, not damage.
    std::string stat;
    run_command({"/usr/bin/mdb_stat", "-e", state_dir.string()}, &stat, 60s);
    if (stat.find("Last transaction ID: 0\n") != std::string::npos) return 0;
  }
  return status;
}

std::vector<std::string> verify_after_restart(const Layout& layout, const Ledger& ledger) {
  std::vector<std::string> problems;
  // A daemon that failed during its first start may have left no store, or
  // a partial file that holds nothing; the restart below must cope.
  std::error_code ec;
  const auto size = fs::file_size(layout.state / "data.mdb", ec);
  const bool created = !ec && size >= 2 * static_cast<std::uintmax_t>(::sysconf(_SC_PAGESIZE));
  if (!created && ledger.acked() > 0) problems.push_back("integrity: the store file is missing");
  if (int s = created ? mdb_dump_status(layout.state) : 0; s != 0) {
    problems.push_back(fmt::format("integrity: mdb_dump exited {} before restart", s));
  }
  pid_t pid = start_daemon(layout);
  if (!wait_for_socket(layout.socket, 10s)) {
    kill_and_reap(pid);
    problems.push_back("restart: portd did not come up");
    return problems;
  }
  try {
    auto found = ledger.verify(list_all(layout.socket));
    problems.insert(problems.end(), found.begin(), found.end());
  } catch (const std::exception& e) {
    problems.push_back(std::string("restart: ") + e.what());
  }
  ::kill(pid, SIGTERM);
  if (int s = wait_pid(pid, 10s); s != 0) {
    kill_and_reap(pid);
    problems.push_back(fmt::format("restart: portd exited {} after SIGTERM", s));
  }
  return problems;
}

std::size_t pipeline_allocations(RawClient& client, const std::vector<AllocationKey>& keys,
                                 Ledger& ledger, std::map<std::string, std::size_t>* error_codes,
                                 std::chrono::milliseconds timeout) {
  std::string out;
  std::map<std::uint64_t, AllocationKey> by_id;
  static std::uint64_t next_id = 1u << 20;
  for (const AllocationKey& k : keys) {
    proto::Request r = allocate_request(k.app, k.instance, k.service);
    r.id = next_id++;
    by_id.emplace(r.id, k);
    proto::encode_request(out, r);
  }
  if (!client.send_raw(out)) {
    for (const auto& [id, k] : by_id) ledger.uncertain(k);
    return 0;
  }
  std::size_t got = 0;
  while (!by_id.empty()) {
    std::optional<proto::Response> r;
    try {
      r = client.receive(timeout);
    } catch (const std::exception&) {
      break;
    }
    if (!r) break;
    auto it = by_id.find(r->id);
    if (it == by_id.end()) continue;  // e.g. an id-0 error
    ++got;
    if (r->ok) {
      ledger.ack(it->second, proto::unpack_allocation(*r->find("allocation")).port);
    } else {
      ledger.fail(it->second);
      if (error_codes) ++(*error_codes)[std::string(to_string(r->error->code()))];
    }
    by_id.erase(it);
  }
  for (const auto& [id, k] : by_id) ledger.uncertain(k);
  return got;
}

std::string describe(const std::vector<std::string>& problems) {
  std::string s;
  std::size_t shown = 0;
  for (const std::string& p : problems) {
    if (++shown > 20) {
      s += fmt::format("... and {} more\n", problems.size() - 20);
      break;
    }
    s += p + "\n";
  }
  return s;
}

}  // namespace portd::testing::faults
