#include "activated_daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "../../integration/support/daemon_process.hpp"

namespace portd::reliability {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

ActivatedDaemon::ActivatedDaemon() : ActivatedDaemon(Options{}) {}

ActivatedDaemon::ActivatedDaemon(Options options)
    : options_(std::move(options)), dir_(options_.prefer_memory) {
  fs::path runtime = dir_.path() / "runtime" / "portd";
  fs::create_directories(runtime);
  fs::permissions(dir_.path() / "runtime", fs::perms::owner_all);
  fs::permissions(runtime, fs::perms::owner_all);
  socket_ = runtime / "portd.sock";
  state_dir_ = dir_.path() / "state" / "portd";
  config_file_ = dir_.path() / "config" / "portd" / "portd.toml";
  log_file_ = dir_.path() / "portd.log";
  // Always written (empty means the defaults): portd refuses a --config
  // file that does not exist.
  fs::create_directories(config_file_.parent_path());
  std::ofstream(config_file_) << options_.config_toml;

  // What systemd does for a portd.socket unit: bind with mode 0600 and
  // listen with Backlog=; the socket outlives every daemon.
  listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::runtime_error("socket failed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.string().size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error("socket path too long: " + socket_.string());
  }
  std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
  mode_t old = ::umask(0177);
  int rc = ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0 || ::listen(listener_, options_.backlog) != 0) {
    throw std::runtime_error("bind/listen " + socket_.string() + ": " + std::strerror(errno));
  }
  if (options_.start) start();
}

ActivatedDaemon::~ActivatedDaemon() {
  if (pid_ > 0) kill();
  if (listener_ >= 0) ::close(listener_);
}

pid_t ActivatedDaemon::start() {
  if (pid_ > 0) throw std::runtime_error("a daemon is already running");
  const fs::path& root = dir_.path();
  std::vector<std::string> argv = options_.wrapper;
  for (const std::string& a : {testing::portd_binary().string(), std::string("--state-dir"),
                               state_dir_.string(), std::string("--config"), config_file_.string(),
                               std::string("--log-level"), std::string("info")}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<std::string> env = {
      "HOME=" + root.string(),
      "XDG_RUNTIME_DIR=" + (root / "runtime").string(),
      "XDG_STATE_HOME=" + (root / "state").string(),
      "XDG_CONFIG_HOME=" + (root / "config").string(),
      "PATH=/usr/bin:/bin",
      "LISTEN_FDS=1",
  };
  if (const char* user = std::getenv("USER")) env.push_back(std::string("USER=") + user);
  env.insert(env.end(), options_.extra_env.begin(), options_.extra_env.end());

  // Everything the child needs is prepared here: after fork() in a threaded
  // process only async-signal-safe calls are allowed, so the child only
  // formats its pid into this buffer, dup2()s and execs.
  char listen_pid[32] = "LISTEN_PID=";
  const std::size_t pid_at = std::strlen(listen_pid);
  std::vector<char*> args, envp;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(listen_pid);
  envp.push_back(nullptr);
  std::string log = log_file_.string();
  const int listener = listener_;

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // LISTEN_PID must name the process that will run portd: this one.
    char digits[20];
    int n = 0;
    for (pid_t p = ::getpid(); p > 0; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
    std::size_t at = pid_at;
    while (n > 0) listen_pid[at++] = digits[--n];
    listen_pid[at] = '\0';
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) ::_exit(126);
    // fd 3 is SD_LISTEN_FDS_START. dup2 clears FD_CLOEXEC on the copy; if
    // the listener already is fd 3, clear it by hand.
    if (listener == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else if (::dup2(listener, 3) != 3) {
      ::_exit(126);
    }
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  return pid;
}

int ActivatedDaemon::kill() {
  if (pid_ <= 0) return last_status_;
  ::kill(pid_, SIGKILL);
  last_status_ = testing::wait_pid(pid_, 10s);
  pid_ = -1;
  return last_status_;
}

int ActivatedDaemon::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = testing::wait_pid(pid_, timeout);
  if (status == -1) {
    kill();
    return -1;
  }
  pid_ = -1;
  last_status_ = status;
  return status;
}

int ActivatedDaemon::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  int status = testing::wait_pid(pid_, timeout);
  if (status != -1) {
    pid_ = -1;
    last_status_ = status;
  }
  return status;
}

bool ActivatedDaemon::running() {
  if (pid_ <= 0) return false;
  return wait_exit(0ms) == -1;
}

std::string ActivatedDaemon::log() const {
  return testing::read_file(log_file_);
}

}  // namespace portd::reliability
