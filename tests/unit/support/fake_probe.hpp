// A PortProbe whose answers the test decides.
#pragma once

#include <optional>
#include <set>
#include <vector>

#include "alloc/port_probe.hpp"

namespace portd::testing {

class FakeProbe final : public PortProbe {
 public:
  std::set<Port> busy;
  int probes = 0;
  bool in_use(Port port) override {
    ++probes;
    return busy.count(port) != 0;
  }
  std::optional<PortOwner> owner(Port port) override {
    if (!busy.count(port)) return std::nullopt;
    return PortOwner{4242, "fake-server"};
  }
  /// What suspects() answers: std::nullopt (the default) says the OS lists
  /// nothing, so callers probe every port.
  std::optional<std::vector<Port>> listed;
  std::optional<std::vector<Port>> suspects(const PortRange&) override { return listed; }
};

}  // namespace portd::testing
