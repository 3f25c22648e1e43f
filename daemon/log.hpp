// Logging setup: spdlog to stderr, one named logger per domain
// ("server", "store", "activation").
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

namespace portd::daemon {

/// Configures the default sink. `level` is a spdlog level name (trace,
/// debug, info, warn, error, critical, off). Under journald ($JOURNAL_STREAM
/// set) lines carry no timestamp (journald adds its own) and start with the
/// priority prefix of sd-daemon(3) instead. Throws std::invalid_argument
/// for an unknown level.
void init_logging(std::string_view level);

/// The logger for `domain`, created on first use with the default sink.
std::shared_ptr<spdlog::logger> logger(std::string_view domain);

/// sd-daemon(3)'s priority prefix for `level`: "<7>" debug and trace,
/// "<6>" info, "<4>" warn, "<3>" err, "<2>" critical. journald reads only
/// these digits; a word such as "<info>" would be logged as text at the
/// stream's default priority.
std::string_view journal_prefix(spdlog::level::level_enum level) noexcept;

/// The line formatter init_logging installs: "<N>domain: message" for the
/// journal, "timestamp portd[pid] level domain: message" otherwise.
std::unique_ptr<spdlog::formatter> make_formatter(bool journal);

}  // namespace portd::daemon
