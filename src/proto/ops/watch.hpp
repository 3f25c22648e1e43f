// watch (portd-protocol(7) WATCH): a request without fields, its first
// reply and the events that follow on the same id, for the daemon and the
// client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/allocation.hpp"
#include "proto/codec.hpp"

namespace portd::proto {

/// One change a watcher hears about.
struct WatchEvent {
  /// "allocated" or "released"; or "overflow": the watcher fell behind,
  /// the daemon sends nothing more and closes the connection.
  std::string event;
  std::optional<Allocation> allocation;  ///< empty for "overflow"
};

/// Appends watch's first reply: {"watching": true}.
void encode_watch_reply(std::string& out, std::uint64_t id);

/// Appends one event: {"event", "allocation"?} (allocation when set).
void encode_watch_event(std::string& out, std::uint64_t id, const WatchEvent& event);
/// Reads one event; every event but "overflow" needs its allocation.
/// Throws Error(invalid_request) naming a bad or missing field.
WatchEvent decode_watch_event(const Response& r);

}  // namespace portd::proto
