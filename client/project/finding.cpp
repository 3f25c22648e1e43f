#include "project/finding.hpp"

#include <charconv>

namespace portd::project {

void ScanResult::append(ScanResult other) {
  for (auto& f : other.findings) findings.push_back(std::move(f));
  for (auto& e : other.errors) errors.push_back(std::move(e));
}

std::string service_name(std::string_view raw, std::string_view fallback) {
  std::string out;
  for (char c : raw) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 64) out.resize(64);
  return out.empty() ? std::string(fallback) : out;
}

std::uint16_t parse_port(std::string_view text) noexcept {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535) {
    return 0;
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace portd::project
