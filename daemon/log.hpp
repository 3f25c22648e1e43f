// Logging setup: spdlog to stderr, one named logger per domain
// ("server", "store", "activation").
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/logger.h>

namespace portd::daemon {

/// Configures the default sink. `level` is a spdlog level name (trace,
/// debug, info, warn, error, critical, off). Under journald ($JOURNAL_STREAM
/// set) lines carry no timestamp: journald adds its own.
/// Throws std::invalid_argument for an unknown level.
void init_logging(std::string_view level);

/// The logger for `domain`, created on first use with the default sink.
std::shared_ptr<spdlog::logger> logger(std::string_view domain);

}  // namespace portd::daemon
