#include "alloc/port_set.hpp"

#include <bit>

namespace portd {
namespace {

constexpr std::uint64_t kAll = ~std::uint64_t{0};

// Bits at and above `p`'s position in its word.
constexpr std::uint64_t from_mask(Port p) noexcept {
  return kAll << (p & 63);
}

// Bits at and below `p`'s position in its word. Written as a right shift of
// all-ones so that position 63 does not need a 64-bit shift (undefined).
constexpr std::uint64_t upto_mask(Port p) noexcept {
  return kAll >> (63 - (p & 63));
}

}  // namespace

std::uint32_t PortSet::count(Port first, Port last) const noexcept {
  if (first > last) return 0;
  const std::size_t wf = first >> 6;
  const std::size_t wl = last >> 6;
  if (wf == wl) {
    return static_cast<std::uint32_t>(
        std::popcount(words_[wf] & from_mask(first) & upto_mask(last)));
  }
  std::uint32_t n = static_cast<std::uint32_t>(std::popcount(words_[wf] & from_mask(first)));
  for (std::size_t i = wf + 1; i < wl; ++i)
    n += static_cast<std::uint32_t>(std::popcount(words_[i]));
  n += static_cast<std::uint32_t>(std::popcount(words_[wl] & upto_mask(last)));
  return n;
}

std::optional<Port> PortSet::first_absent(Port from, Port last,
                                          const PortSet& other) const noexcept {
  if (from > last) return std::nullopt;
  const std::size_t wf = from >> 6;
  const std::size_t wl = last >> 6;
  // One word covers 64 ports, so even a full 0-65535 scan is 1024 steps
  // whatever the number of members: a member-free bit is found with one
  // countr_zero per word instead of a test per port.
  for (std::size_t i = wf; i <= wl; ++i) {
    std::uint64_t absent = ~(words_[i] | other.words_[i]);
    if (i == wf) absent &= from_mask(from);
    if (i == wl) absent &= upto_mask(last);
    if (absent != 0)
      return static_cast<Port>((i << 6) + static_cast<std::size_t>(std::countr_zero(absent)));
  }
  return std::nullopt;
}

}  // namespace portd
