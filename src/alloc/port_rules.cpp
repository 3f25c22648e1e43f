#include "alloc/port_rules.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <iterator>

#ifdef __APPLE__
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

namespace portd {
namespace {

// https://fetch.spec.whatwg.org/#port-blocking, as of whatwg/fetch#1847
// (2025-08, which added port 0; 4190 and 6679 came with #1743 in 2024).
// Kept sorted for binary search; a static_assert below checks it.
constexpr std::array<Port, 83> kBadPorts = {
    0,    1,    7,    9,    11,   13,   15,   17,   19,   20,   21,   22,   23,    25,
    37,   42,   43,   53,   69,   77,   79,   87,   95,   101,  102,  103,  104,   109,
    110,  111,  113,  115,  117,  119,  123,  135,  137,  139,  143,  161,  179,   389,
    427,  465,  512,  513,  514,  515,  526,  530,  531,  532,  540,  548,  554,   556,
    563,  587,  601,  636,  989,  990,  993,  995,  1719, 1720, 1723, 2049, 3659,  4045,
    4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
};
static_assert(std::is_sorted(kBadPorts.begin(), kBadPorts.end()));
static_assert(std::adjacent_find(kBadPorts.begin(), kBadPorts.end()) == kBadPorts.end());

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Parses one decimal port at `pos`, skipping leading blanks; advances `pos`.
std::optional<unsigned> parse_uint(std::string_view text, std::size_t& pos) noexcept {
  while (pos < text.size() && is_space(text[pos])) ++pos;
  unsigned value = 0;
  const char* begin = text.data() + pos;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc{} || ptr == begin) return std::nullopt;
  pos += static_cast<std::size_t>(ptr - begin);
  return value;
}

}  // namespace

std::span<const Port> browser_bad_ports() noexcept {
  return kBadPorts;
}

bool is_browser_bad_port(Port port) noexcept {
  return std::binary_search(kBadPorts.begin(), kBadPorts.end(), port);
}

std::optional<PortRange> parse_port_range(std::string_view text) noexcept {
  std::size_t pos = 0;
  auto first = parse_uint(text, pos);
  if (!first) return std::nullopt;
  // The two numbers must be separated by whitespace ("32768\t60999").
  if (pos >= text.size() || !is_space(text[pos])) return std::nullopt;
  auto last = parse_uint(text, pos);
  if (!last) return std::nullopt;
  while (pos < text.size() && is_space(text[pos])) ++pos;
  if (pos != text.size()) return std::nullopt;
  if (*first < 1 || *last > 65535 || *first > *last) return std::nullopt;
  return PortRange{static_cast<Port>(*first), static_cast<Port>(*last)};
}

std::optional<PortRange> kernel_ephemeral_range() {
#if defined(__linux__)
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  if (!in) return std::nullopt;
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_port_range(text);
#elif defined(__APPLE__)
  int first = 0;
  int last = 0;
  std::size_t len = sizeof first;
  if (::sysctlbyname("net.inet.ip.portrange.first", &first, &len, nullptr, 0) != 0) {
    return std::nullopt;
  }
  len = sizeof last;
  if (::sysctlbyname("net.inet.ip.portrange.last", &last, &len, nullptr, 0) != 0) {
    return std::nullopt;
  }
  if (first < 1 || last > 65535 || first > last) return std::nullopt;
  return PortRange{static_cast<Port>(first), static_cast<Port>(last)};
#else
  return std::nullopt;
#endif
}

}  // namespace portd
