#include "model/allocation.hpp"

namespace portd {

bool Filter::matches(const Allocation& a) const noexcept {
  return (!id || *id == a.id) && (!app || *app == a.app) &&
         (!instance || *instance == a.instance) && (!service || *service == a.service) &&
         (!port || *port == a.port);
}

std::string to_string(const AllocationKey& key) {
  std::string s;
  s.reserve(key.app.size() + key.instance.size() + key.service.size() + 2);
  s.append(key.app).append("/").append(key.instance).append("/").append(key.service);
  return s;
}

}  // namespace portd
