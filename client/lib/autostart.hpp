// Reaching the daemon: connect, and start portd on demand (autostart, the
// gpg-agent / bazel-server pattern; portctl(1) "AUTOSTART").
#pragma once

#include <filesystem>

#include "portd/client.hpp"
#include "sys/unique_fd.hpp"

namespace portd::client::detail {

using sys::UniqueFd;

/// True unless `options.autostart` is false or PORTD_NO_AUTOSTART is set to
/// something other than "" or "0".
bool autostart_enabled(const Options& options);

/// Connects to `socket` and checks the peer uid. When nothing answers
/// (ENOENT/ECONNREFUSED) and autostart is enabled, starts the daemon under
/// an flock on `<socket dir>/portd.autostart.lock`: takes the lock, tries
/// again, spawns `portd --socket <socket> --idle-exit 900` detached (own
/// session, stdin /dev/null, output appended to <state dir>/portd.log) only
/// if still nobody answers, polls until it answers (at most
/// options.autostart_timeout), then releases the lock.
/// Throws Error(unavailable) naming the socket (and the log file after a
/// failed start), Error(permission_denied) from the peer check.
UniqueFd connect_daemon(const std::filesystem::path& socket, const Options& options);

}  // namespace portd::client::detail
