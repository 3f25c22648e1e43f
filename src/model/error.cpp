#include "model/error.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace portd {
namespace {

struct ErrorInfo {
  std::string_view name;
  int exit_status;
  bool retryable;
};

// Indexed by ErrorCode: both are generated from the same list.
constexpr std::array<ErrorInfo, kErrorCodeCount> kErrors = {{
#define PORTD_ERROR_INFO(name, exit_status, retryable) {#name, exit_status, retryable},
    PORTD_ERROR_LIST(PORTD_ERROR_INFO)
#undef PORTD_ERROR_INFO
}};

}  // namespace

std::string_view to_string(ErrorCode code) noexcept {
  auto i = static_cast<std::size_t>(code);
  return i < kErrors.size() ? kErrors[i].name : std::string_view("unknown");
}

std::optional<ErrorCode> parse_error_code(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kErrors.size(); ++i) {
    if (kErrors[i].name == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

int exit_status(ErrorCode code) noexcept {
  auto i = static_cast<std::size_t>(code);
  return i < kErrors.size() ? kErrors[i].exit_status : 1;
}

bool is_retryable(ErrorCode code) noexcept {
  auto i = static_cast<std::size_t>(code);
  return i < kErrors.size() && kErrors[i].retryable;
}

std::string escape_bytes(std::string_view bytes, std::size_t max_bytes) {
  std::string out;
  const std::size_t n = std::min(bytes.size(), max_bytes);
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (n < bytes.size()) out += "...";
  return out;
}

Error::Error(std::string code_name, const std::string& message)
    : std::runtime_error(message),
      code_(parse_error_code(code_name).value_or(ErrorCode::unknown)),
      code_name_(code_ == ErrorCode::unknown ? std::move(code_name) : std::string()) {}

}  // namespace portd
