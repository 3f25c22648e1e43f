#include "model/error.hpp"
#include "config.h"
#include "portd/client.hpp"

namespace portd::client {
namespace {

// The public enum is written out for users of the C++17 header and its
// values are frozen (tests/unit/client/error_code_test.cpp pins them), so it
// cannot follow the daemon's order; codes are matched by name instead. A code
// added to model/error_list.hpp without a public enumerator fails to compile
// here.
ErrorCode to_public(portd::ErrorCode code) noexcept {
  switch (code) {
#define PORTD_CLIENT_CODE_CASE(name, exit_status, retryable) \
  case portd::ErrorCode::name:                               \
    return ErrorCode::name;
    PORTD_ERROR_LIST(PORTD_CLIENT_CODE_CASE)
#undef PORTD_CLIENT_CODE_CASE
    case portd::ErrorCode::unknown:
      break;
  }
  return ErrorCode::unknown;
}

ErrorCode parse_code(std::string_view name) noexcept {
  if (auto code = portd::parse_error_code(name)) return to_public(*code);
  for (auto code : {ErrorCode::unavailable, ErrorCode::bad_response}) {
    if (to_string(code) == name) return code;
  }
  return ErrorCode::unknown;
}

}  // namespace

std::string_view library_version() noexcept {
  return PORTD_VERSION;
}

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
#define PORTD_CLIENT_NAME_CASE(name, exit_status, retryable) \
  case ErrorCode::name:                                      \
    return portd::to_string(portd::ErrorCode::name);
    PORTD_ERROR_LIST(PORTD_CLIENT_NAME_CASE)
#undef PORTD_CLIENT_NAME_CASE
    case ErrorCode::unavailable:
      return "unavailable";
    case ErrorCode::bad_response:
      return "bad_response";
    case ErrorCode::unknown:
      break;
  }
  return "unknown";
}

Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error(message), code_(code), code_name_(to_string(code)) {}

Error::Error(std::string code_name, const std::string& message)
    : std::runtime_error(message), code_(parse_code(code_name)), code_name_(std::move(code_name)) {}

Error& Error::with_holder(Allocation holder) {
  holder_ = std::move(holder);
  return *this;
}

Error& Error::with_owner(std::uint32_t pid, std::string command) {
  owner_pid_ = pid;
  owner_command_ = std::move(command);
  return *this;
}

}  // namespace portd::client
