// Test support: small helpers shared by the integration tests for reading
// responses, building hand-made frames, binding ports and polling.
// Header-only so that it adds nothing to the support library's build.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proto/codec.hpp"
#include "raw_client.hpp"
#include "sys/unique_fd.hpp"

namespace portd::testing {

/// "code: message" of a failed response, "ok" otherwise (for assertion output).
inline std::string describe(const proto::Response& r) {
  if (r.ok) return "ok";
  if (!r.error) return "error without details";
  return std::string(to_string(r.error->code())) + ": " + r.error->what();
}

/// The error code of a response; "ok" when it succeeded.
inline std::string code_of(const proto::Response& r) {
  if (r.ok) return "ok";
  return r.error ? std::string(to_string(r.error->code())) : "internal";
}

/// Field `key` of a msgpack map; throws when it is missing so that a test
/// fails with a clear message instead of dereferencing null.
inline const msgpack::object& field(const msgpack::object& map, std::string_view key) {
  const msgpack::object* o = proto::map_find(map, key);
  if (!o) throw std::runtime_error("missing field '" + std::string(key) + "'");
  return *o;
}
inline const msgpack::object& field(const proto::Response& r, std::string_view key) {
  const msgpack::object* o = r.find(key);
  if (!o) throw std::runtime_error("response has no field '" + std::string(key) + "'");
  return *o;
}

inline std::uint64_t as_u64(const msgpack::object& o) {
  return o.as<std::uint64_t>();
}
inline bool as_bool(const msgpack::object& o) {
  return o.as<bool>();
}
inline std::string as_str(const msgpack::object& o) {
  return o.as<std::string>();
}

/// The allocations in array field `key` ("allocations" of list/export/release).
inline std::vector<Allocation> allocations_of(const proto::Response& r,
                                              std::string_view key = "allocations") {
  const msgpack::object& a = field(r, key);
  if (a.type != msgpack::type::ARRAY) throw std::runtime_error("field is not an array");
  std::vector<Allocation> out;
  for (std::uint32_t i = 0; i < a.via.array.size; ++i) {
    out.push_back(proto::unpack_allocation(a.via.array.ptr[i]));
  }
  return out;
}

/// The "allocation" of an allocate response or event.
inline Allocation allocation_of(const proto::Response& r) {
  return proto::unpack_allocation(field(r, "allocation"));
}

/// Every allocation the daemon lists.
inline std::vector<Allocation> list_all(RawClient& c) {
  proto::Response r = c.call(make_request(proto::Op::list));
  if (!r.ok) throw std::runtime_error("list failed: " + describe(r));
  return allocations_of(r);
}

/// One frame whose map the caller packs (for requests the codec cannot
/// express: unknown ops, hand-picked field values).
inline std::string raw_frame(std::uint32_t entries,
                             const std::function<void(proto::Packer&)>& body) {
  std::string out;
  proto::FrameWriter w(out);
  w.packer().pack_map(entries);
  body(w.packer());
  w.finish();
  return out;
}

/// A TCP listener on the IPv4 wildcard address: the OS then has the port
/// bound, which the daemon must notice. Port 0 lets the kernel choose.
class TcpListener {
 public:
  explicit TcpListener(Port port = 0) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(port);
    if (!fd_ || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_.get(), 4) != 0) {
      fd_.reset();
      return;
    }
    socklen_t len = sizeof(a);
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  bool ok() const noexcept { return static_cast<bool>(fd_); }
  Port port() const noexcept { return port_; }

 private:
  sys::UniqueFd fd_;
  Port port_ = 0;
};

/// Polls `pred` until it holds or `timeout` passes; never a fixed sleep, so
/// a loaded machine only makes the test slower, not flaky.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// The first port from `from` on that `check` reports available, neither
/// held nor bound nor reserved. Ports 20000-29999 lie outside the default pool
/// and below the kernel's default ephemeral range, so nothing else in the
/// test competes for them.
inline Port find_available_port(RawClient& c, Port from = 20000) {
  for (std::uint32_t p = from; p < 30000; ++p) {
    proto::Request q = make_request(proto::Op::check);
    q.port = static_cast<Port>(p);
    proto::Response r = c.call(q);
    if (r.ok && as_bool(field(r, "available")) && !as_bool(field(r, "reserved"))) {
      return static_cast<Port>(p);
    }
  }
  throw std::runtime_error("no available port in 20000-29999");
}

/// VmRSS of `pid` in KiB, or 0 when unreadable.
inline std::uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

}  // namespace portd::testing
