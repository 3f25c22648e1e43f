// A PortProbe whose answers the test decides.
#pragma once

#include <optional>
#include <set>

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
};

}  // namespace portd::testing
