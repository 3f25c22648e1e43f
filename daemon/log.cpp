#include "log.hpp"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace portd::daemon {
namespace {

spdlog::sink_ptr& sink() {
  // Not the colour sink: stderr is a log file or the journal far more often than a terminal.
  static spdlog::sink_ptr s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return s;
}

spdlog::level::level_enum& level_ref() {
  static spdlog::level::level_enum l = spdlog::level::info;
  return l;
}

}  // namespace

void init_logging(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + std::string(level) + "'");
  }
  level_ref() = l;
  bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  sink()->set_pattern(journal ? "<%l> %n: %v" : "%Y-%m-%dT%H:%M:%S.%e portd[%P] %l %n: %v");
  spdlog::set_level(l);
}

std::shared_ptr<spdlog::logger> logger(std::string_view domain) {
  std::string name(domain);
  if (auto existing = spdlog::get(name)) return existing;
  auto created = std::make_shared<spdlog::logger>(name, sink());
  created->set_level(level_ref());
  created->flush_on(spdlog::level::warn);
  spdlog::register_logger(created);
  return created;
}

}  // namespace portd::daemon
