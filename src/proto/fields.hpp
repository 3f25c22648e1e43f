// The known keys of request and allocation maps, found in one pass over a
// map so that decoders read fields without further string compares.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include <msgpack.hpp>

namespace portd::proto {

/// Every key a request or an allocation map may carry.
enum class Key : std::uint8_t {
  unknown,
  v,
  id,
  op,
  app,
  instance,
  service,
  port,
  pool,
  description,
  worktree,
  pid,
  ttl,
  replace,
  force,
  allocation_id,
  dry_run,
  allocations,
  requests,
  prefer,
  // allocation maps only
  allocated_by,
  created_at,
  expires_at,
  count_,
};

/// The Key spelled `k`; Key::unknown for any other string.
Key classify(std::string_view k) noexcept;

/// The value of each known key in one map (the last one wins on duplicates);
/// non-string keys and unknown keys are ignored. `map` must be a MAP.
struct Fields {
  std::array<const msgpack::object*, static_cast<std::size_t>(Key::count_)> slot{};

  explicit Fields(const msgpack::object& map) noexcept;
  const msgpack::object* operator[](Key k) const noexcept {
    return slot[static_cast<std::size_t>(k)];
  }
};

}  // namespace portd::proto
