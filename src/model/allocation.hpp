// The data model: allocations, their keys and the filters that select them.
// See portd-protocol(7).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portd {

/// TCP port number. 0 means "none / auto-assign" wherever a port is optional.
using Port = std::uint16_t;

/// The identity of an allocation: allocate is idempotent on this triple.
struct AllocationKey {
  std::string app;
  std::string instance;
  std::string service;

  // clang-tidy 14 flags the 0 it compares a defaulted <=> against.
  auto operator<=>(const AllocationKey&) const = default;  // NOLINT(modernize-use-nullptr)
  bool operator==(const AllocationKey&) const = default;
};

/// One live allocation. Times are UTC seconds since the Unix epoch;
/// expires_at is 0 when the allocation has no lease.
struct Allocation {
  std::uint64_t id = 0;  ///< never reused
  std::string app;
  std::string instance;
  std::string service;
  Port port = 0;
  std::string pool;
  std::string description;
  std::string worktree;      ///< absolute path of the worktree, or empty
  std::uint32_t pid = 0;     ///< owner process, 0 when none
  std::string allocated_by;  ///< "user@host"
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;

  AllocationKey key() const { return {app, instance, service}; }
  bool operator==(const Allocation&) const = default;
};

/// Selects allocations; unset fields match anything. Fields are AND-ed.
struct Filter {
  std::optional<std::uint64_t> id{};
  std::optional<std::string> app{};
  std::optional<std::string> instance{};
  std::optional<std::string> service{};
  std::optional<Port> port{};

  /// True when no field is set (release refuses such a filter).
  bool empty() const noexcept { return !id && !app && !instance && !service && !port; }
  bool matches(const Allocation& a) const noexcept;
};

/// "app/instance/service", the way users see a key.
std::string to_string(const AllocationKey& key);

}  // namespace portd
