// A Registry on a real LMDB store in a temporary directory, with an OS
// probe whose answers the test controls: the fixture of the registry unit
// tests (registry_test.cpp, registry_now_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "registry/registry.hpp"
#include "support/fake_probe.hpp"
#include "support/temp_dir.hpp"

namespace portd::testing {

/// The time the tests run at, in seconds since the epoch.
inline constexpr std::int64_t kNow = 1'750'000'000;

/// The default configuration with one pool `default` of ports first..last.
inline Config small_config(Port first = 3000, Port last = 3009) {
  Config c = default_config();
  c.pools = {PoolConfig{"default", {first, last}, {}}};
  return c;
}

/// Opens nothing by itself: a test (or a derived SetUp) calls open().
class RegistryFixture : public ::testing::Test {
 protected:
  /// (Re)opens the store in the same directory with `config`.
  void open(Config config) {
    registry_.reset();
    store_.reset();
    store::StoreOptions so;
    so.dir = dir_.path() / "state";
    store_ = std::make_unique<store::Store>(so);
    registry_ = std::make_unique<Registry>(*store_, std::move(config), probe_, std::nullopt);
  }

  AllocateRequest req(const std::string& app, const std::string& instance,
                      const std::string& service, Port port = 0) {
    AllocateRequest r;
    r.key = {app, instance, service};
    r.port = port;
    r.allocated_by = "dev@host";
    return r;
  }

  AllocateResult allocate(const AllocateRequest& r, std::int64_t now = kNow) {
    Batch b = registry_->begin(true);
    AllocateResult res = registry_->allocate(b, r, now);
    registry_->commit(b);
    return res;
  }

  std::vector<Allocation> release(const Filter& f, std::int64_t now = kNow) {
    Batch b = registry_->begin(true);
    auto out = registry_->release(b, f, now);
    registry_->commit(b);
    return out;
  }

  std::vector<Allocation> list(const Filter& f = {}) {
    Batch b = registry_->begin(false);
    return registry_->list(b, f);
  }

  /// The code of the portd::Error `fn` throws (kept in last_error_); a
  /// test failure when it throws none.
  template <class Fn>
  ErrorCode error_of(Fn&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      last_error_ = e;
      return e.code();
    }
    ADD_FAILURE() << "no error thrown";
    return ErrorCode::internal;
  }

  TempDir dir_{true};
  FakeProbe probe_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Registry> registry_;
  std::optional<Error> last_error_;
};

}  // namespace portd::testing
