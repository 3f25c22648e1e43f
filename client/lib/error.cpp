#include <array>

#include "config.h"
#include "model/error.hpp"
#include "portd/client.hpp"

namespace portd::client {
namespace {

// The public enum is written out for users of the C++17 header; it must
// spell and number every listed code exactly as the daemon does.
#define PORTD_CLIENT_SAME_CODE(name, exit_status, retryable)                                   \
  static_assert(static_cast<int>(ErrorCode::name) == static_cast<int>(portd::ErrorCode::name), \
                "client ErrorCode::" #name " is out of step with model/error_list.hpp");
PORTD_ERROR_LIST(PORTD_CLIENT_SAME_CODE)
#undef PORTD_CLIENT_SAME_CODE

// Codes past the daemon's list, in the public enum's order.
constexpr std::array<std::string_view, 3> kClientCodeNames = {"unavailable", "bad_response",
                                                              "unknown"};
static_assert(static_cast<std::size_t>(ErrorCode::unavailable) == portd::kErrorCodeCount);
static_assert(static_cast<std::size_t>(ErrorCode::unknown) + 1 ==
              portd::kErrorCodeCount + kClientCodeNames.size());

ErrorCode parse_code(std::string_view name) noexcept {
  if (auto code = portd::parse_error_code(name)) return static_cast<ErrorCode>(*code);
  for (std::size_t i = 0; i < kClientCodeNames.size(); ++i) {
    if (kClientCodeNames[i] == name) {
      return static_cast<ErrorCode>(portd::kErrorCodeCount + i);
    }
  }
  return ErrorCode::unknown;
}

}  // namespace

std::string_view library_version() noexcept {
  return PORTD_VERSION;
}

std::string_view to_string(ErrorCode code) noexcept {
  auto i = static_cast<std::size_t>(code);
  if (i < portd::kErrorCodeCount) return portd::to_string(static_cast<portd::ErrorCode>(i));
  return kClientCodeNames[i - portd::kErrorCodeCount];
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
