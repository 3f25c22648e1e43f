// A set of ports 0-65535 as a bitset, with a word-at-a-time search so the
// free-port search costs the same with 0 or 50,000 allocations.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "model/allocation.hpp"

namespace portd {

class PortSet {
 public:
  void insert(Port p) noexcept { words_[p >> 6] |= bit(p); }
  void erase(Port p) noexcept { words_[p >> 6] &= ~bit(p); }
  bool contains(Port p) const noexcept { return (words_[p >> 6] & bit(p)) != 0; }
  void clear() noexcept { words_.fill(0); }
  /// Number of members in [first, last] (inclusive); 0 when first > last.
  /// Cost: one popcount per 64-port word of the range.
  std::uint32_t count(Port first, Port last) const noexcept;
  /// Smallest port in [from, last] (inclusive) that is in neither this set
  /// nor `other`; std::nullopt when there is none or from > last. Cost: at
  /// most one OR and countr_zero per 64-port word, however many members.
  std::optional<Port> first_absent(Port from, Port last, const PortSet& other) const noexcept;
  PortSet& operator|=(const PortSet& o) noexcept {
    for (std::size_t i = 0; i < words_.size(); ++i) words_[i] |= o.words_[i];
    return *this;
  }

 private:
  static constexpr std::uint64_t bit(Port p) noexcept { return std::uint64_t{1} << (p & 63); }
  std::array<std::uint64_t, 1024> words_{};
};

}  // namespace portd
