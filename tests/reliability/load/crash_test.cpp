// T02 kill -9 durability and T13 restart queueing (docs/testing.md).
//
// Both run portd under ActivatedDaemon, which holds the listening socket the
// way systemd does, so a killed daemon's clients reconnect into the backlog
// and are served by the next one.
//
// T02: 8 resilient clients allocate (and sometimes release) while the
// supervisor SIGKILLs the daemon at a random 10-200 ms into each life (and,
// every tenth cycle, 0-15 ms after exec, while it opens the store). After
// each kill the store must pass mdb_stat/mdb_dump; the first request after
// each restart (a list, except after the start-up kills) must be served
// within 1 s of exec and must hold every allocation acknowledged before it
// that no release had touched yet (a loss that a later release would hide
// from the final list); at the end the history must show 0 lost,
// 0 unexpected, 0 resurrected, 0 duplicates. The store
// is on a real disk ($TMPDIR), so the fsyncs are real.
// Quick tier: 60 cycles. PORTD_LONG=1: 200.
//
// T13: kill -9 with an allocate in flight whose reply dies with the daemon;
// 100 clients connect (non-blocking) during a 1 s outage and send
// allocates; after the restart all 100 are served and none was refused,
// and the in-flight allocate, repeated with the same key, gets the same
// allocation back (created = false).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "../../integration/support/daemon_process.hpp"
#include "../../integration/support/raw_client.hpp"
#include "activated_daemon.hpp"
#include "figure.hpp"
#include "history.hpp"
#include "proto/codec.hpp"
#include "sys/unique_fd.hpp"

namespace portd::reliability {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool long_tier() {
  const char* v = std::getenv("PORTD_LONG");
  return v && *v && std::string(v) != "0";
}

std::uint64_t seed_from_env() {
  if (const char* s = std::getenv("PORTD_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

TEST(T02, KillNineDurability) {
  const int cycles = long_tier() ? 200 : 60;
  const std::uint64_t seed = seed_from_env();
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);

  ActivatedDaemon::Options opt;
  opt.prefer_memory = false;  // real fsyncs
  opt.config_toml = "[[pool]]\nname = \"default\"\nrange = \"20000-31999\"\n";
  opt.start = false;
  ActivatedDaemon daemon(opt);
  ASSERT_FALSE(daemon.state_dir().string().starts_with("/dev/shm"));

  History history;
  std::atomic<bool> stop{false};
  std::atomic<int> client_errors{0};
  std::vector<std::thread> clients;
  ResilientClient::Options copt;
  copt.reply_timeout = 10s;
  copt.max_attempts = 100;

  Clock::time_point spawned = Clock::now();
  daemon.start();
  for (int id = 0; id < 8; ++id) {
    clients.emplace_back([&, id] {
      std::mt19937_64 r(seed + 1 + static_cast<std::uint64_t>(id));
      ResilientClient c(daemon.socket(), history, id, copt);
      std::vector<AllocationKey> mine;
      int n = 0;
      try {
        while (!stop.load()) {
          if (!mine.empty() && r() % 100 < 20) {
            std::size_t i = r() % mine.size();
            CallResult res = c.release(mine[i]);
            if (res.outcome != Outcome::ok) {
              ++client_errors;
              ADD_FAILURE() << "release " << to_string(mine[i]) << ": " << res.error_code;
            }
            mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(i));
          } else {
            AllocationKey key{"t02", "c" + std::to_string(id), "k" + std::to_string(n++)};
            CallResult res = c.allocate(key);
            if (res.outcome == Outcome::ok) {
              mine.push_back(key);
            } else if (res.error_code != "pool_exhausted") {
              ++client_errors;
              ADD_FAILURE() << "allocate " << to_string(key) << ": " << to_string(res.outcome)
                            << " " << res.error_code;
            }
          }
        }
      } catch (const std::exception& e) {
        ++client_errors;
        ADD_FAILURE() << "client " << id << ": " << e.what();
      }
    });
  }

  double worst_first_ms = 0;
  int integrity_failures = 0, self_deaths = 0, early_kills = 0;
  auto started = Clock::now();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    if (cycle % 10 == 9) {
      // Kill while the daemon starts up and opens the store.
      ++early_kills;
      std::this_thread::sleep_until(spawned + std::chrono::milliseconds(rng() % 16));
    } else {
      // The first request of this life, timed from exec. It queues behind
      // the clients' reconnections, as a real user's would.
      ResilientClient first(daemon.socket(), history, 1000 + cycle);
      first.list();
      double ms = ms_since(spawned);
      worst_first_ms = std::max(worst_first_ms, ms);
      EXPECT_LT(ms, 1000.0) << "cycle " << cycle << ": first request after restart took " << ms
                            << " ms";
      std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 191));
    }
    if (!daemon.running()) {
      ++self_deaths;
      ADD_FAILURE() << "cycle " << cycle << ": the daemon exited by itself with status "
                    << daemon.last_status() << "\n"
                    << daemon.log();
    }
    daemon.kill();
    IntegrityReport integrity = check_store_integrity(daemon.state_dir());
    if (!integrity.ok) {
      ++integrity_failures;
      ADD_FAILURE() << "cycle " << cycle << ": store integrity failed: " << integrity.output;
    }
    spawned = Clock::now();
    daemon.start();
  }
  double chaos_s = std::chrono::duration<double>(Clock::now() - started).count();
  stop = true;
  for (std::thread& t : clients) t.join();

  ResilientClient final_client(daemon.socket(), history, 5000);
  std::vector<Allocation> final_list = final_client.list();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();

  Verdict v = history.check(final_list);
  v.integrity = check_store_integrity(daemon.state_dir());
  std::cout << v.report() << "T02: " << cycles << " kill -9 cycles (" << early_kills
            << " during start-up) in " << chaos_s << " s, worst first request after restart "
            << worst_first_ms << " ms, " << integrity_failures << " integrity failures, "
            << self_deaths << " self deaths\n";
  report_figure("T02", std::to_string(cycles) + " cycles, " + grouped(v.ok_allocates) +
                           " acked, a list after " + std::to_string(cycles - early_kills) +
                           " restarts: " + std::to_string(v.lost.size()) + " lost");
  EXPECT_TRUE(v.valid()) << v.report();
  EXPECT_EQ(client_errors.load(), 0);
  EXPECT_EQ(integrity_failures, 0);
  EXPECT_EQ(self_deaths, 0);
  // The test only means something if kills hit acknowledged and in-flight
  // work: demand both.
  EXPECT_GT(v.ok_allocates, static_cast<std::size_t>(cycles)) << v.report();
  EXPECT_GT(v.info, 0u) << "no kill ever interrupted a request\n" << v.report();
  EXPECT_GE(v.snapshots, static_cast<std::size_t>(cycles - early_kills))
      << "not every restart was checked with a list\n"
      << v.report();
}

// --- T13 ---------------------------------------------------------------

// A connection made with a non-blocking connect(2), so that a full backlog
// shows as EAGAIN instead of blocking, then used blocking.
struct QueuedClient {
  sys::UniqueFd fd;
  int connect_errno = 0;
  proto::FrameDecoder decoder{proto::kMaxResponseFrame};

  explicit QueuedClient(const std::filesystem::path& socket) {
    fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      connect_errno = errno;
    }
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  }
  QueuedClient(const QueuedClient&) = delete;
  QueuedClient& operator=(const QueuedClient&) = delete;

  bool send(const proto::Request& r) {
    std::string out;
    proto::encode_request(out, r);
    return ::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(out.size());
  }
  std::optional<proto::Response> receive(Clock::time_point deadline) {
    for (;;) {
      if (auto payload = decoder.next()) return proto::decode_response(*payload);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      std::span<char> space = decoder.prepare(64 * 1024);
      ssize_t n = ::recv(fd.get(), space.data(), space.size(), 0);
      if (n <= 0) return std::nullopt;
      decoder.commit(static_cast<std::size_t>(n));
    }
  }
};

TEST(T13, RestartQueueing) {
  constexpr int kQueued = 100;
  ActivatedDaemon::Options opt;
  opt.backlog = 128;
  opt.config_toml = "[[pool]]\nname = \"default\"\nrange = \"22000-22999\"\n";
  ActivatedDaemon daemon(opt);
  History history;
  ResilientClient observer(daemon.socket(), history, 999);
  observer.list();  // serving

  // An allocate in flight: sent, committed, but its reply dies with the
  // daemon (the client drops the connection unread, as a client whose
  // daemon was killed between commit and send would see it).
  const AllocationKey inflight{"t13", "inflight", "web"};
  std::optional<Allocation> committed;
  {
    testing::RawClient raw(daemon.socket());
    OpHandle h = history.invoke(1, OpType::allocate, inflight);
    ASSERT_TRUE(
        raw.send(testing::allocate_request(inflight.app, inflight.instance, inflight.service)));
    auto deadline = Clock::now() + 10s;
    while (!committed && Clock::now() < deadline) {
      for (const Allocation& a : observer.list()) {
        if (a.key() == inflight) committed = a;
      }
    }
    ASSERT_TRUE(committed) << "the in-flight allocate never committed";
    daemon.kill();
    history.info(h, "reply lost with the killed daemon");
  }
  observer.disconnect();

  // The outage: 100 clients connect over 1 s while no daemon runs.
  auto outage_start = Clock::now();
  std::vector<std::unique_ptr<QueuedClient>> queued;
  std::vector<OpHandle> handles;
  int refused = 0, unsent = 0;
  for (int i = 0; i < kQueued; ++i) {
    std::this_thread::sleep_until(outage_start + std::chrono::milliseconds(i * 10));
    auto c = std::make_unique<QueuedClient>(daemon.socket());
    if (c->connect_errno != 0) {
      ++refused;
      ADD_FAILURE() << "client " << i << " connect: " << std::strerror(c->connect_errno);
    }
    AllocationKey key{"t13", "q" + std::to_string(i), "web"};
    handles.push_back(history.invoke(100 + i, OpType::allocate, key));
    if (c->connect_errno == 0 &&
        !c->send(testing::allocate_request(key.app, key.instance, key.service))) {
      ++unsent;
    }
    queued.push_back(std::move(c));
  }
  EXPECT_FALSE(daemon.running());
  std::this_thread::sleep_until(outage_start + 1s);
  double outage_ms = ms_since(outage_start);
  daemon.start();

  int served = 0;
  auto deadline = Clock::now() + 10s;
  for (int i = 0; i < kQueued; ++i) {
    auto r = queued[static_cast<std::size_t>(i)]->receive(deadline);
    if (r && r->ok) {
      ++served;
      Allocation a = proto::unpack_allocation(*r->find("allocation"));
      history.ok(handles[static_cast<std::size_t>(i)], a.port, a.id);
    } else if (r) {
      history.fail(handles[static_cast<std::size_t>(i)], std::string(to_string(r->error->code())));
    } else {
      history.info(handles[static_cast<std::size_t>(i)], "no reply after restart");
    }
  }

  // The in-flight request, repeated with the same key, as portctl would.
  ResilientClient retry(daemon.socket(), history, 1);
  CallResult again = retry.allocate(inflight);
  ASSERT_EQ(again.outcome, Outcome::ok) << again.error_code;
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.allocation->port, committed->port);
  EXPECT_EQ(again.allocation->id, committed->id);

  std::vector<Allocation> final_list = retry.list();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  Verdict v = history.check(final_list);
  v.integrity = check_store_integrity(daemon.state_dir());
  std::cout << v.report() << "T13: outage " << outage_ms << " ms, " << served << "/" << kQueued
            << " queued clients served, " << refused << " refused, in-flight retry got port "
            << again.allocation->port << " (created=" << again.created << ")\n";
  report_figure("T13", std::to_string(served) + "/" + std::to_string(kQueued) + " served after a " +
                           grouped(static_cast<std::uint64_t>(outage_ms)) + " ms outage");
  EXPECT_EQ(served, kQueued);
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(unsent, 0);
  EXPECT_TRUE(v.valid()) << v.report();
}

}  // namespace
}  // namespace portd::reliability
