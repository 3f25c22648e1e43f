// Limits that protect the daemon from clients: output backpressure against
// a client that never reads, and the connection limit.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"
#include "support/test_util.hpp"

namespace portd::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMiB = 1024;  // in KiB, the unit of VmRSS

// Fills the registry quickly: one pipelined burst, one response per request.
void populate(RawClient& c, int n) {
  std::string burst;
  for (int i = 1; i <= n; ++i) {
    proto::Request q = allocate_request("bulk", "main", "service-number-" + std::to_string(i));
    q.id = static_cast<std::uint64_t>(i);
    q.description = "an allocation with a description, so that list responses are large";
    proto::encode_request(burst, q);
  }
  ASSERT_TRUE(c.send_raw(burst));
  for (int i = 1; i <= n; ++i) {
    std::optional<proto::Response> r = c.receive(30s);
    ASSERT_TRUE(r && r->ok) << (r ? describe(*r) : "no response");
  }
}

TEST(Limits, AClientThatNeverReadsIsThrottledAndOthersAreStillServed) {
  DaemonProcess d;
  RawClient good(d.socket());
  populate(good, 2000);
  // Each list response is now about half a megabyte.
  std::uint64_t before = rss_kib(d.pid());
  ASSERT_GT(before, 0u);

  // The hostile client: pipelines list requests as fast as the socket takes
  // them and never reads a byte.
  RawClient greedy(d.socket());
  ASSERT_EQ(::fcntl(greedy.fd(), F_SETFL, ::fcntl(greedy.fd(), F_GETFL) | O_NONBLOCK), 0);
  std::string chunk;
  for (int i = 0; i < 1000; ++i) {
    proto::Request q = make_request(proto::Op::list);
    q.id = static_cast<std::uint64_t>(i + 1);
    proto::encode_request(chunk, q);
  }

  std::atomic<bool> done{false};
  std::atomic<long long> worst_ms{0};
  std::atomic<int> good_calls{0};
  std::string good_error;
  std::thread prober([&] {
    // The well-behaved client keeps asking throughout.
    try {
      while (!done) {
        auto t0 = Clock::now();
        proto::Response r = good.call(make_request(proto::Op::health));
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
        if (!r.ok) throw std::runtime_error(describe(r));
        if (ms > worst_ms) worst_ms = ms;
        ++good_calls;
        std::this_thread::sleep_for(20ms);
      }
    } catch (const std::exception& e) {
      good_error = e.what();
    }
  });

  // Send until the daemon has stopped taking bytes for a while (it stopped
  // reading), or until RSS shows it did not (then fail before the machine
  // runs out of memory).
  std::size_t sent = 0, offset = 0;
  std::uint64_t peak = before;
  auto last_progress = Clock::now();
  auto deadline = Clock::now() + 40s;
  bool stalled = false;
  while (Clock::now() < deadline) {
    ssize_t n = ::send(greedy.fd(), chunk.data() + offset, chunk.size() - offset, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      offset = (offset + static_cast<std::size_t>(n)) % chunk.size();
      last_progress = Clock::now();
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      FAIL() << "send failed: " << std::strerror(errno);
    } else {
      pollfd p{greedy.fd(), POLLOUT, 0};
      ::poll(&p, 1, 100);
    }
    peak = std::max(peak, rss_kib(d.pid()));
    if (peak > before + 512 * kMiB) break;  // unbounded: stop before it hurts
    if (Clock::now() - last_progress > 3s) {
      stalled = true;
      break;
    }
  }
  std::uint64_t after = rss_kib(d.pid());
  peak = std::max(peak, after);
  done = true;
  prober.join();

  EXPECT_TRUE(stalled) << "the daemon kept reading a client that never reads (" << sent
                       << " bytes sent)";
  EXPECT_LT(peak - before, 128 * kMiB)
      << "RSS grew from " << before << " KiB to " << peak << " KiB";
  EXPECT_TRUE(good_error.empty()) << good_error;
  EXPECT_GT(good_calls.load(), 10);
  EXPECT_LT(worst_ms.load(), 5000) << "the well-behaved client waited too long";

  // The throttled client's requests are answered in order once it reads.
  ASSERT_EQ(::fcntl(greedy.fd(), F_SETFL, ::fcntl(greedy.fd(), F_GETFL) & ~O_NONBLOCK), 0);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    std::optional<proto::Response> r = greedy.receive(30s);
    ASSERT_TRUE(r) << "no response " << i;
    EXPECT_EQ(r->id, i);
    EXPECT_TRUE(r->ok) << describe(*r);
    EXPECT_EQ(allocations_of(*r).size(), 2000u);
  }
  proto::Response r = good.call(allocate_request("after", "main", "web"));
  EXPECT_TRUE(r.ok) << describe(r);
}

// SIGTERM answers what was read, but a client that never takes its replies
// must not keep the daemon from exiting.
TEST(Limits, SigtermIsNotHeldUpByAClientThatNeverReads) {
  DaemonProcess d;
  RawClient good(d.socket());
  populate(good, 2000);
  RawClient greedy(d.socket());
  std::string burst;
  for (int i = 1; i <= 50; ++i) {
    proto::Request q = make_request(proto::Op::list);
    q.id = static_cast<std::uint64_t>(i);
    proto::encode_request(burst, q);
  }
  ASSERT_TRUE(greedy.send_raw(burst));
  // Replies waiting in its socket show the daemon has read the burst and
  // holds more output than the socket takes.
  ASSERT_TRUE(wait_until([&] {
    pollfd p{greedy.fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }));
  ASSERT_TRUE(good.call(make_request(proto::Op::health)).ok);
  auto t0 = Clock::now();
  EXPECT_EQ(d.stop(30s), 0) << d.log();
  EXPECT_LT(Clock::now() - t0, 20s);
}

// With the limit at 4, the fifth connection gets "busy" and is closed; the
// four keep working and a slot frees up when one leaves.
TEST(Limits, MaxConnectionsRefusesTheFifthWithBusy) {
  DaemonProcess::Options o;
  o.config_toml = "[limits]\nmax_connections = 4\n";
  DaemonProcess d(o);
  std::vector<std::unique_ptr<RawClient>> clients;
  clients.push_back(std::make_unique<RawClient>(d.socket()));
  // The harness's readiness probes are connections too; wait until the
  // daemon has seen them go.
  ASSERT_TRUE(wait_until([&] {
    proto::Response r = clients[0]->call(make_request(proto::Op::health));
    return r.ok && as_u64(field(r, "connections")) == 1;
  }));
  for (int i = 1; i < 4; ++i) {
    clients.push_back(std::make_unique<RawClient>(d.socket()));
    ASSERT_TRUE(clients.back()->call(make_request(proto::Op::health)).ok);
  }

  RawClient fifth(d.socket());
  // A request sent at once must not be served: the connection is refused.
  proto::Request q = make_request(proto::Op::health);
  q.id = 5;
  fifth.send(q);
  std::optional<proto::Response> r = fifth.receive();
  ASSERT_TRUE(r) << "no busy response\n" << d.log();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(code_of(*r), "busy");
  std::optional<proto::Response> extra = fifth.receive(5s);
  EXPECT_FALSE(extra) << "the refused connection was served: " << describe(*extra);
  EXPECT_TRUE(fifth.closed_by_peer()) << "the refused connection was left open";

  for (auto& c : clients) {
    proto::Response h = c->call(make_request(proto::Op::health));
    EXPECT_TRUE(h.ok) << describe(h);
  }
  clients.pop_back();
  ASSERT_TRUE(wait_until([&] {
    RawClient again(d.socket());
    std::optional<proto::Response> h = [&] {
      again.send(make_request(proto::Op::health));
      return again.receive();
    }();
    return h && h->ok;
  })) << "no slot freed after a client left";
}

}  // namespace
}  // namespace portd::testing
