// State shared by all portctl subcommands: global flags, the lazily created
// client, and app/instance detection (flags > PORTCTL_* > the git worktree).
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "portd/client.hpp"

namespace portctl {

/// A usage problem found after parsing (exit status 2), such as a command
/// that needs --app/--instance run outside a git repository.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Options accepted before or after any subcommand.
struct GlobalFlags {
  std::string socket;  ///< --socket PATH; empty = the default socket
  bool no_autostart = false;
  bool json = false;
  bool no_color = false;
};

/// app and instance for a command, and the worktree to record.
struct Identity {
  std::string app;
  std::string instance;
  std::string worktree;  ///< set only when the instance came from the worktree
};

class Context {
 public:
  GlobalFlags flags;

  /// The client, created on first use from the global flags.
  portd::client::Client& client();
  /// Options for a client (also used by `version` to build one without autostart).
  portd::client::Options client_options() const;

  /// True when output may use ANSI colour: stdout is a terminal, NO_COLOR is
  /// unset and --no-color was not given.
  bool color() const;

  /// The app: `flag` if non-empty, else $PORTCTL_APP, else the worktree's.
  /// Throws UsageError when none is known.
  std::string app(const std::string& flag);
  /// The instance, likewise ($PORTCTL_INSTANCE).
  std::string instance(const std::string& flag);
  /// Like app()/instance() but std::nullopt instead of throwing.
  std::optional<std::string> maybe_app(const std::string& flag);
  std::optional<std::string> maybe_instance(const std::string& flag);
  /// app + instance, plus the worktree path when the instance was detected.
  Identity identity(const std::string& app_flag, const std::string& instance_flag);
  /// The allocations of one app/instance (env, exec, status). With
  /// `require_some`, an empty result throws Error(not_found) telling the
  /// user to allocate first.
  std::vector<portd::client::Allocation> instance_allocations(const std::string& app_flag,
                                                              const std::string& instance_flag,
                                                              bool require_some);

 private:
  const std::optional<portd::client::Worktree>& worktree();

  std::unique_ptr<portd::client::Client> client_;
  std::optional<std::optional<portd::client::Worktree>> worktree_;
};

/// The message for commands that need app and instance outside a repository.
inline constexpr const char* kNotInRepository =
    "not inside a git repository: pass --app and --instance (or set "
    "PORTCTL_APP/PORTCTL_INSTANCE)";

}  // namespace portctl
