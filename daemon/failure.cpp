#include "failure.hpp"

#include <exception>

#include "store/store.hpp"

namespace portd::daemon {

Failure classify_current_exception() {
  try {
    throw;
  } catch (const store::StoreFatal& e) {
    return {FailureKind::fatal, e.what(), std::nullopt};
  } catch (const store::DiskFull& e) {  // before Error, its base
    return {FailureKind::disk_full, e.what(), std::nullopt};
  } catch (const Error& e) {
    if (e.code() == ErrorCode::store_full) return {FailureKind::map_full, e.what(), std::nullopt};
    return {FailureKind::request, e.what(), e};
  } catch (const std::exception& e) {
    return {FailureKind::unexpected, e.what(), std::nullopt};
  }
}

}  // namespace portd::daemon
