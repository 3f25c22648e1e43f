// Service-manager notifications (sd_notify(3)): READY=1, STOPPING=1, STATUS=.
#pragma once

#include <string_view>

namespace portd::daemon {

/// Sends `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET when set;
/// does nothing otherwise. Failures are ignored, as sd_notify(3) recommends.
/// Uses libsystemd when built with it, else the same datagram protocol
/// directly, so Type=notify units work with every build.
void notify(std::string_view state) noexcept;

}  // namespace portd::daemon
