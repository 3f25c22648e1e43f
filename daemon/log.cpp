#include "log.hpp"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include <spdlog/pattern_formatter.h>
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

// The %* flag of the journal pattern: the message's sd-daemon(3) prefix.
class JournalPrefixFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view prefix = journal_prefix(msg.level);
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPrefixFlag>();
  }
};

}  // namespace

std::string_view journal_prefix(spdlog::level::level_enum level) noexcept {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "<7>";
    case spdlog::level::info:
      return "<6>";
    case spdlog::level::warn:
      return "<4>";
    case spdlog::level::err:
      return "<3>";
    case spdlog::level::critical:
      return "<2>";
    default:
      return "<6>";
  }
}

std::unique_ptr<spdlog::formatter> make_formatter(bool journal) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (journal) {
    f->add_flag<JournalPrefixFlag>('*').set_pattern("%*%n: %v");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e portd[%P] %l %n: %v");
  }
  return f;
}

void init_logging(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + std::string(level) + "'");
  }
  level_ref() = l;
  sink()->set_formatter(make_formatter(std::getenv("JOURNAL_STREAM") != nullptr));
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
