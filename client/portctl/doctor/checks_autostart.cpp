// doctor: what starts portd. systemd user units or the launchd agent when
// installed (packaging/systemd, packaging/launchd), else portctl's own
// autostart, which needs nothing set up.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "portctl/doctor/checks.hpp"

namespace portctl::doctor {
namespace {

struct Output {
  int status = -1;   ///< exit status; -1 when the command could not run
  std::string text;  ///< first line of stdout
};

// Runs a fixed command line (no user input reaches the shell) and keeps
// the first line of its stdout; stderr is discarded.
Output run(const char* command) {
  Output out;
  std::FILE* pipe = ::popen(command, "r");
  if (pipe == nullptr) return out;
  char buf[256];
  if (std::fgets(buf, sizeof(buf), pipe) != nullptr) out.text = buf;
  while (!out.text.empty() && (out.text.back() == '\n' || out.text.back() == ' ')) {
    out.text.pop_back();
  }
  int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) out.status = WEXITSTATUS(status);
  return out;
}

constexpr const char* kAutostart = "portctl starts portd when needed (autostart)";

}  // namespace

void check_autostart(Report& report) {
#ifdef __APPLE__
  std::string label = fmt::format("gui/{}/io.portd.portd", ::getuid());
  Output loaded = run(("launchctl print " + label + " >/dev/null 2>&1; echo $?").c_str());
  if (loaded.text == "0") {
    report.ok("autostart", "launchd agent io.portd.portd is loaded");
  } else {
    report.ok("autostart",
              std::string("launchd agent io.portd.portd is not loaded; ") + kAutostart);
  }
#else
  // Exit 127: no systemctl. is-system-running fails to connect without a
  // user manager (containers, CI, ssh without lingering).
  Output manager = run("systemctl --user is-system-running 2>/dev/null");
  if (manager.status < 0 || manager.status == 127 || manager.text.empty() ||
      manager.text == "offline") {
    report.ok("autostart", std::string("no systemd user manager; ") + kAutostart);
    return;
  }
  Output enabled = run("systemctl --user is-enabled portd.socket 2>/dev/null");
  Output active = run("systemctl --user is-active portd.socket 2>/dev/null");
  if (enabled.text.empty() || enabled.text == "not-found") {
    report.ok("autostart", std::string("portd.socket is not installed; ") + kAutostart);
    return;
  }
  if (enabled.text != "enabled" && enabled.text != "enabled-runtime" && enabled.text != "static") {
    report.warn("autostart",
                fmt::format("portd.socket is installed but {}, {}", enabled.text, active.text),
                "systemctl --user enable --now portd.socket");
    return;
  }
  if (active.text != "active") {
    report.warn("autostart", fmt::format("portd.socket is enabled but {}", active.text),
                "systemctl --user restart portd.socket (journalctl --user -u portd.socket "
                "says why it stopped)");
    return;
  }
  report.ok("autostart", "portd.socket is enabled and active (systemd socket activation)");
#endif
}

}  // namespace portctl::doctor
