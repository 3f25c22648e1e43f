#include "daemon_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace portd::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path portd_binary() {
  const char* bin = std::getenv("PORTD_BIN");
  if (!bin || !*bin) throw std::runtime_error("PORTD_BIN is not set (run through meson test)");
  return bin;
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const fs::path& log) {
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    if (in >= 0) ::dup2(in, 0);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

int wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(2ms);
  }
}

bool wait_for_socket(const fs::path& socket, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

DaemonProcess::DaemonProcess() : DaemonProcess(Options{}) {}

DaemonProcess::DaemonProcess(Options options) : options_(std::move(options)), dir_(true) {
  fs::path runtime = dir_.path() / "runtime";
  fs::create_directories(runtime);
  fs::permissions(runtime, fs::perms::owner_all);
  socket_ = runtime / "portd" / "portd.sock";
  state_dir_ = dir_.path() / "state" / "portd";
  config_file_ = dir_.path() / "config" / "portd" / "portd.toml";
  log_file_ = dir_.path() / "portd.log";
  // Always written (empty means the defaults): portd refuses a --config
  // file that does not exist.
  fs::create_directories(config_file_.parent_path());
  std::ofstream(config_file_) << options_.config_toml;
  start();
}

DaemonProcess::~DaemonProcess() {
  if (pid_ <= 0) return;
  // SIGTERM, not SIGKILL: only a clean exit runs LeakSanitizer in the
  // sanitizer build (tests/sanitize.sh), and a leak report makes the exit
  // status non-zero. portd(1) documents exit 0 on SIGTERM, so anything
  // else fails the test that owned this daemon.
  int status = stop();
  if (status != 0) {
    std::string tail = log();
    if (tail.size() > 4000) tail = tail.substr(tail.size() - 4000);
    ADD_FAILURE() << "portd exited with status " << status
                  << " on SIGTERM at the end of the test (-1: did not exit within 10 s; a "
                     "sanitizer report also makes it non-zero); log tail:\n"
                  << tail;
  }
}

std::vector<std::string> DaemonProcess::environment() const {
  const fs::path& root = dir_.path();
  std::vector<std::string> env = {
      "HOME=" + root.string(),
      "XDG_RUNTIME_DIR=" + (root / "runtime").string(),
      "XDG_STATE_HOME=" + (root / "state").string(),
      "XDG_CONFIG_HOME=" + (root / "config").string(),
      "PATH=/usr/bin:/bin",
  };
  if (const char* user = std::getenv("USER")) env.push_back(std::string("USER=") + user);
  return env;
}

void DaemonProcess::start() {
  std::vector<std::string> argv = {portd_binary().string(), "--socket",          socket_.string(),
                                   "--state-dir",           state_dir_.string(), "--config",
                                   config_file_.string(),   "--log-level",       "debug"};
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  pid_ = spawn(argv, environment(), log_file_);
  if (options_.wait_ready && !wait_for_socket(socket_, 10s)) {
    throw std::runtime_error("portd did not start; log:\n" + log());
  }
}

int DaemonProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = wait_pid(pid_, timeout);
  if (status == -1) {
    kill();
    return -1;
  }
  pid_ = -1;
  return status;
}

void DaemonProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_pid(pid_, 10s);
  pid_ = -1;
}

int DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  int status = wait_pid(pid_, timeout);
  if (status != -1) pid_ = -1;
  return status;
}

bool DaemonProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void DaemonProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DaemonProcess::log() const {
  return read_file(log_file_);
}

}  // namespace portd::testing
