#include "model/validate.hpp"

#include <fmt/format.h>

#include "model/error.hpp"

namespace portd {

bool is_valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void validate_name(std::string_view field, std::string_view value) {
  if (value.empty()) throw Error(ErrorCode::invalid_request, fmt::format("{} is required", field));
  if (!is_valid_name(value)) {
    throw Error(ErrorCode::invalid_request,
                fmt::format("invalid {} '{}': use 1-{} characters of A-Z a-z 0-9 . _ -", field,
                            escape_bytes(value, 80), kMaxNameLength));
  }
}

void validate_text(std::string_view field, std::string_view value) {
  if (value.size() > kMaxTextLength) {
    throw Error(ErrorCode::invalid_request, fmt::format("{} is too long: {} bytes (at most {})",
                                                        field, value.size(), kMaxTextLength));
  }
  if (value.find('\0') != std::string_view::npos) {
    throw Error(ErrorCode::invalid_request, fmt::format("{} contains a NUL byte", field));
  }
}

Port validate_port(std::string_view field, std::int64_t value) {
  if (value < 1 || value > 65535) {
    throw Error(ErrorCode::invalid_request,
                fmt::format("invalid {} {}: ports are 1-65535", field, value));
  }
  return static_cast<Port>(value);
}

void validate_filter(const Filter& filter) {
  if (filter.app) validate_name("app", *filter.app);
  if (filter.instance) validate_name("instance", *filter.instance);
  if (filter.service) validate_name("service", *filter.service);
  if (filter.port) validate_port("port", *filter.port);
}

}  // namespace portd
