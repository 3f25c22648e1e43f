#include "portctl/context.hpp"

#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

namespace portctl {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace

portd::client::Options Context::client_options() const {
  portd::client::Options o;
  o.socket_path = flags.socket;
  o.autostart = !flags.no_autostart;
  return o;
}

portd::client::Client& Context::client() {
  if (!client_) client_ = std::make_unique<portd::client::Client>(client_options());
  return *client_;
}

bool Context::color() const {
  if (flags.no_color) return false;
  if (const char* nc = std::getenv("NO_COLOR"); nc != nullptr && *nc != '\0') return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

const std::optional<portd::client::Worktree>& Context::worktree() {
  if (!worktree_) {
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    worktree_.emplace(ec ? std::nullopt : portd::client::detect_worktree(cwd));
  }
  return *worktree_;
}

std::optional<std::string> Context::maybe_app(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto v = env("PORTCTL_APP")) return v;
  if (const auto& wt = worktree()) return wt->app;
  return std::nullopt;
}

std::optional<std::string> Context::maybe_instance(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto v = env("PORTCTL_INSTANCE")) return v;
  if (const auto& wt = worktree()) return wt->instance;
  return std::nullopt;
}

std::string Context::app(const std::string& flag) {
  if (auto v = maybe_app(flag)) return *v;
  throw UsageError(kNotInRepository);
}

std::string Context::instance(const std::string& flag) {
  if (auto v = maybe_instance(flag)) return *v;
  throw UsageError(kNotInRepository);
}

Identity Context::identity(const std::string& app_flag, const std::string& instance_flag) {
  Identity id;
  id.app = app(app_flag);
  id.instance = instance(instance_flag);
  // Record the worktree only when the allocation belongs to it: then `gc`
  // may drop the allocation once the worktree directory is deleted.
  bool instance_detected = instance_flag.empty() && !env("PORTCTL_INSTANCE");
  if (instance_detected && worktree()) id.worktree = worktree()->top.string();
  return id;
}

std::vector<portd::client::Allocation> Context::instance_allocations(
    const std::string& app_flag, const std::string& instance_flag, bool require_some) {
  portd::client::Filter f;
  f.app = app(app_flag);
  f.instance = instance(instance_flag);
  auto list = client().list(f);
  if (list.empty() && require_some) {
    throw portd::client::Error(
        portd::client::ErrorCode::not_found,
        fmt::format("no allocations for {}/{} (allocate one with 'portctl allocate --service "
                    "NAME')",
                    *f.app, *f.instance));
  }
  return list;
}

}  // namespace portctl
