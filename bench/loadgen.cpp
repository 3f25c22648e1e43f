// loadgen: load generator for portd over the raw protocol (portd-protocol(7)).
//
// One thread drives N non-blocking connections from an epoll loop, each
// keeping D requests in flight (or opening a new connection per request).
// A single thread keeps the generator's own cost small and constant, so a
// daemon and the echo floor measured with it are compared like for like;
// with --pin, generator and server share one CPU and no cross-CPU wake-up
// enters the latency.
//
// Modes:
//   load      (default) prints requests/s and latency percentiles
//   populate  imports --count allocations with explicit ports (fast setup)
//   startup   runs a daemon command and times exec -> first health answer
//   spawn     times whole processes round-robin, with their page faults
//
// Output: a human line on stderr and one JSON line on stdout, for run.sh.
// `load` exits 1 when any reply, in the warm-up or the window, was an error:
// an error reply is cheaper than the work asked for, so a rate or latency
// that includes some would flatter the daemon. run.sh then marks that
// repetition of the figure failed instead of using it. `spawn` likewise
// exits 1 when a command exits non-zero.
#include <fcntl.h>
#include <sched.h>

#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "proto/codec.hpp"
#include "proto/frame.hpp"

namespace {

using portd::proto::Op;
using portd::proto::Request;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "loadgen: %s\n", what.c_str());
  std::exit(2);
}

enum class Kind { health, check, alloc_new, alloc_existing, release, list, hello };

struct OpWeight {
  Kind kind;
  int weight;
};

Kind parse_kind(std::string_view s) {
  if (s == "health") return Kind::health;
  if (s == "check") return Kind::check;
  if (s == "alloc-new") return Kind::alloc_new;
  if (s == "alloc-existing") return Kind::alloc_existing;
  if (s == "release") return Kind::release;
  if (s == "list") return Kind::list;
  if (s == "hello") return Kind::hello;
  die(
      fmt::format("unknown op '{}' (health, check, alloc-new, alloc-existing, release, list, "
                  "hello)",
                  s));
}

struct Options {
  std::string mode = "load";
  std::string socket;
  int connections = 1;
  int depth = 1;
  bool new_conn = false;
  std::vector<OpWeight> ops{{Kind::health, 1}};
  double duration = 2.0;
  double warmup = 0.3;
  std::uint64_t max_requests = 0;  // 0 = only the duration limits the run
  int pin = -1;
  int port = 29999;
  int port_span = 1;  // check cycles through [port, port + span)
  std::string app = "bench";
  std::string label;
  // populate
  std::uint64_t count = 0;
  int first_port = 1024;
  int chunk = 2000;
  // startup
  std::vector<std::string> command;
  double timeout = 30.0;
};

void usage() {
  std::fputs(
      "usage: loadgen [load] --socket PATH [--connections N] [--depth D] [--new-conn]\n"
      "               [--ops OP[:W],...] [--duration S] [--warmup S] [--requests N]\n"
      "               [--pin CPU] [--port P] [--port-span N] [--app NAME] [--label TEXT]\n"
      "       loadgen populate --socket PATH --count N [--first-port P] [--app NAME]\n"
      "       loadgen spawn [--count RUNS] [--pin CPU] -- CMD ARGS [::: CMD ARGS ...]\n"
      "       loadgen release-app --socket PATH --app NAME\n"
      "       loadgen startup --socket PATH [--pin CPU] -- COMMAND ARGS...\n"
      "ops: health check alloc-new alloc-existing release list hello\n",
      stderr);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  int i = 1;
  if (i < argc && argv[i][0] != '-') o.mode = argv[i++];
  auto value = [&](const char* name) -> std::string {
    if (i + 1 >= argc) die(fmt::format("{} needs a value", name));
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--socket") {
      o.socket = value("--socket");
    } else if (a == "--connections" || a == "-c") {
      o.connections = std::stoi(value("--connections"));
    } else if (a == "--depth" || a == "-d") {
      o.depth = std::stoi(value("--depth"));
    } else if (a == "--new-conn") {
      o.new_conn = true;
    } else if (a == "--ops") {
      o.ops.clear();
      std::string spec = value("--ops");
      std::size_t start = 0;
      while (start <= spec.size()) {
        std::size_t end = spec.find(',', start);
        if (end == std::string::npos) end = spec.size();
        std::string item = spec.substr(start, end - start);
        int w = 1;
        if (auto colon = item.find(':'); colon != std::string::npos) {
          w = std::stoi(item.substr(colon + 1));
          item.resize(colon);
        }
        if (!item.empty()) o.ops.push_back({parse_kind(item), std::max(w, 1)});
        start = end + 1;
      }
      if (o.ops.empty()) die("--ops is empty");
    } else if (a == "--duration") {
      o.duration = std::stod(value("--duration"));
    } else if (a == "--warmup") {
      o.warmup = std::stod(value("--warmup"));
    } else if (a == "--requests") {
      o.max_requests = std::stoull(value("--requests"));
    } else if (a == "--pin") {
      o.pin = std::stoi(value("--pin"));
    } else if (a == "--port") {
      o.port = std::stoi(value("--port"));
    } else if (a == "--port-span") {
      o.port_span = std::stoi(value("--port-span"));
      if (o.port_span < 1) die("--port-span must be at least 1");
    } else if (a == "--app") {
      o.app = value("--app");
    } else if (a == "--label") {
      o.label = value("--label");
    } else if (a == "--count") {
      o.count = std::stoull(value("--count"));
    } else if (a == "--first-port") {
      o.first_port = std::stoi(value("--first-port"));
    } else if (a == "--chunk") {
      o.chunk = std::stoi(value("--chunk"));
    } else if (a == "--timeout") {
      o.timeout = std::stod(value("--timeout"));
    } else if (a == "--") {
      for (++i; i < argc; ++i) o.command.emplace_back(argv[i]);
    } else if (a == "-h" || a == "--help") {
      usage();
    } else {
      die(fmt::format("unknown argument '{}'", a));
    }
  }
  if (o.socket.empty() && o.mode != "spawn") usage();
  if (o.connections < 1 || o.depth < 1) die("--connections and --depth must be >= 1");
  if (o.new_conn) o.depth = 1;  // one request per connection, by definition
  return o;
}

void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    die(fmt::format("failed to pin to CPU {}: {}", cpu, std::strerror(errno)));
  }
}

int connect_unix(const std::string& path, bool nonblocking) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) die("socket path too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  // Connect blocking: on a Unix socket it completes at once unless the
  // backlog is full, and then waiting is what a real client does too.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  if (nonblocking) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

int connect_or_die(const std::string& path, bool nonblocking) {
  int fd = connect_unix(path, nonblocking);
  if (fd < 0) die(fmt::format("connect '{}': {}", path, std::strerror(errno)));
  return fd;
}

// A cheap success test that does not decode the whole response: every ok
// reply packs "ok": true as a fixstr key followed by 0xc3, and every error
// "ok": false (0xc2). Full decoding would cost more than the daemon's own
// work for big replies and would blur the comparison with the floor.
bool reply_ok(std::string_view payload) {
  static constexpr std::string_view kOk("\xa2ok\xc3", 4);
  return payload.substr(0, 32).find(kOk) != std::string_view::npos;
}

// Blocking helpers for the setup paths (populate, pre-creating keys).
void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(fmt::format("send: {}", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string read_reply(int fd, portd::proto::FrameDecoder& dec) {
  for (;;) {
    if (auto p = dec.next()) return std::string(*p);
    auto space = dec.prepare(64 * 1024);
    ssize_t n = ::recv(fd, space.data(), space.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("the server closed the connection");
    dec.commit(static_cast<std::size_t>(n));
  }
}

// --- load -----------------------------------------------------------------------

struct Conn {
  int fd = -1;
  int index = 0;
  std::string out;          // bytes not yet sent
  std::size_t out_off = 0;  // sent prefix of `out`
  std::deque<std::uint64_t> sent_at;
  std::deque<std::string> own_keys;  // alloc-new services not yet released
  std::uint64_t next_id = 1;
  std::uint64_t serial = 0;
  std::uint64_t checks = 0;  // `check` requests built, to cycle through --port-span
  bool want_out = false;
  portd::proto::FrameDecoder decoder{portd::proto::kMaxResponseFrame};
};

class Load {
 public:
  explicit Load(const Options& o) : o_(o), rng_(12345) {
    for (const auto& w : o_.ops) total_weight_ += w.weight;
  }

  int run();

 private:
  Kind pick() {
    if (o_.ops.size() == 1) return o_.ops[0].kind;
    int r = static_cast<int>(rng_() % static_cast<unsigned>(total_weight_));
    for (const auto& w : o_.ops) {
      if (r < w.weight) return w.kind;
      r -= w.weight;
    }
    return o_.ops.back().kind;
  }
  void build(Conn& c, Kind k);
  void issue(Conn& c);
  void flush(Conn& c);
  void on_readable(Conn& c);
  void reopen(Conn& c);
  void create_existing_keys();

  const Options& o_;
  std::mt19937 rng_;
  int total_weight_ = 0;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<std::uint64_t> lat_;  // ns, of replies received in the window
  std::uint64_t t_start_ = 0, t_end_ = 0, t_stop_ = 0;
  std::uint64_t done_ = 0, errors_ = 0, bytes_in_ = 0, replies_ = 0;
  std::uint64_t error_replies_ = 0;  // over all replies, warm-up included
  bool issuing_ = true;
};

void Load::build(Conn& c, Kind k) {
  Request r;
  r.id = c.next_id++;
  switch (k) {
    case Kind::health:
      r.op = Op::health;
      break;
    case Kind::hello:
      r.op = Op::hello;
      break;
    case Kind::check:
      r.op = Op::check;
      // Connections start at different offsets so that pipelined batches
      // hold distinct ports when the span allows it.
      r.port = static_cast<portd::Port>(
          o_.port + static_cast<int>((c.checks++ + static_cast<std::uint64_t>(c.index) * 131) %
                                     static_cast<std::uint64_t>(o_.port_span)));
      break;
    case Kind::alloc_new: {
      r.op = Op::allocate;
      r.key.app = o_.app;
      r.key.instance = fmt::format("c{}", c.index);
      r.key.service = fmt::format("s{}", c.serial++);
      c.own_keys.push_back(r.key.service);
      break;
    }
    case Kind::alloc_existing:
      r.op = Op::allocate;
      r.key.app = o_.app;
      r.key.instance = "existing";
      r.key.service = fmt::format("e{}", c.index);
      break;
    case Kind::release:
      r.op = Op::release;
      r.filter.app = o_.app;
      r.filter.instance = fmt::format("c{}", c.index);
      if (!c.own_keys.empty()) {
        r.filter.service = c.own_keys.front();
        c.own_keys.pop_front();
      } else {
        r.filter.service = "none";  // not_found: still one durable-path request
      }
      break;
    case Kind::list:
      r.op = Op::list;
      r.filter.app = o_.app;
      r.filter.instance = "existing";
      break;
  }
  portd::proto::encode_request(c.out, r);
}

void Load::issue(Conn& c) {
  build(c, pick());
  c.sent_at.push_back(now_ns());
}

void Load::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      die(fmt::format("send: {}", std::strerror(errno)));
    }
    c.out_off += static_cast<std::size_t>(n);
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  bool want = !c.out.empty();
  if (want != c.want_out) {
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.u32 = static_cast<std::uint32_t>(c.index);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = want;
  }
}

void Load::reopen(Conn& c) {
  epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = connect_or_die(o_.socket, true);
  c.decoder = portd::proto::FrameDecoder(portd::proto::kMaxResponseFrame);
  c.want_out = false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = static_cast<std::uint32_t>(c.index);
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
}

void Load::on_readable(Conn& c) {
  for (;;) {
    auto space = c.decoder.prepare(64 * 1024);
    ssize_t n = ::recv(c.fd, space.data(), space.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      die(fmt::format("recv: {}", std::strerror(errno)));
    }
    if (n == 0) die("the server closed a connection");
    c.decoder.commit(static_cast<std::size_t>(n));
    bool got_all = false;
    while (auto payload = c.decoder.next()) {
      std::uint64_t t = now_ns();
      if (c.sent_at.empty()) die("a reply nobody asked for");
      std::uint64_t sent = c.sent_at.front();
      c.sent_at.pop_front();
      ++replies_;
      const bool ok = reply_ok(*payload);
      if (!ok) ++error_replies_;
      if (sent >= t_start_ && t <= t_end_) {
        lat_.push_back(t - sent);
        ++done_;
        bytes_in_ += payload->size();
        if (!ok) ++errors_;
      }
      if (o_.max_requests && done_ >= o_.max_requests) issuing_ = false;
      if (t >= t_end_) issuing_ = false;
      if (o_.new_conn) {
        got_all = true;
        break;
      }
      if (issuing_) issue(c);
    }
    if (got_all) {
      reopen(c);
      if (issuing_) issue(c);
      flush(c);
      return;
    }
    if (static_cast<std::size_t>(n) < space.size()) break;  // drained
  }
  flush(c);
}

void Load::create_existing_keys() {
  bool needed = std::any_of(o_.ops.begin(), o_.ops.end(),
                            [](const OpWeight& w) { return w.kind == Kind::alloc_existing; });
  if (!needed) return;
  // One allocation per connection, made before the clock starts, so that
  // alloc-existing measures the idempotent (read-only) path.
  int fd = connect_or_die(o_.socket, false);
  portd::proto::FrameDecoder dec(portd::proto::kMaxResponseFrame);
  std::string out;
  for (int i = 0; i < o_.connections; ++i) {
    Request r;
    r.id = static_cast<std::uint64_t>(i + 1);
    r.op = Op::allocate;
    r.key = {o_.app, "existing", fmt::format("e{}", i)};
    portd::proto::encode_request(out, r);
  }
  send_all(fd, out);
  for (int i = 0; i < o_.connections; ++i) {
    std::string reply = read_reply(fd, dec);
    if (!reply_ok(reply)) die("failed to create the keys for alloc-existing");
  }
  ::close(fd);
}

int Load::run() {
  pin_to(o_.pin);
  create_existing_keys();
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  conns_.resize(static_cast<std::size_t>(o_.connections));
  for (int i = 0; i < o_.connections; ++i) {
    Conn& c = conns_[static_cast<std::size_t>(i)];
    c.index = i;
    c.fd = connect_or_die(o_.socket, true);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  }
  lat_.reserve(1 << 20);
  std::uint64_t t0 = now_ns();
  t_start_ = t0 + static_cast<std::uint64_t>(o_.warmup * 1e9);
  t_end_ = t_start_ + static_cast<std::uint64_t>(o_.duration * 1e9);
  // Replies still missing this long after the window are a hang, not load.
  t_stop_ = t_end_ + 30'000'000'000ull;
  for (Conn& c : conns_) {
    for (int d = 0; d < o_.depth; ++d) issue(c);
    flush(c);
  }
  std::vector<epoll_event> events(static_cast<std::size_t>(o_.connections));
  auto in_flight = [&] {
    for (const Conn& c : conns_) {
      if (!c.sent_at.empty()) return true;
    }
    return false;
  };
  std::uint64_t last = t0;
  while (issuing_ || in_flight()) {
    int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) die(fmt::format("epoll_wait: {}", std::strerror(errno)));
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[events[static_cast<std::size_t>(i)].data.u32];
      if (events[static_cast<std::size_t>(i)].events & EPOLLOUT) flush(c);
      if (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        on_readable(c);
      }
    }
    last = now_ns();
    if (last >= t_end_) issuing_ = false;
    if (last > t_stop_) die("replies stopped coming");
  }
  // The window ends at the last counted reply when --requests ended it early.
  double window = static_cast<double>(std::min(last, t_end_) - t_start_) / 1e9;
  if (window <= 0 || lat_.empty()) die("no replies in the measurement window");
  std::sort(lat_.begin(), lat_.end());
  auto pct = [&](double p) {
    std::size_t idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(lat_.size() - 1));
    return static_cast<double>(lat_[idx]) / 1000.0;  // µs
  };
  double rps = static_cast<double>(done_) / window;
  double mean_bytes = static_cast<double>(bytes_in_) / static_cast<double>(done_);
  std::fprintf(stderr,
               "%s: %llu requests in %.2f s: %.0f req/s; latency us p50 %.1f p99 %.1f "
               "p99.9 %.1f max %.1f; %llu errors; reply %.0f B\n",
               o_.label.empty() ? "load" : o_.label.c_str(), static_cast<unsigned long long>(done_),
               window, rps, pct(50), pct(99), pct(99.9), pct(100),
               static_cast<unsigned long long>(errors_), mean_bytes);
  std::printf(
      "{\"label\":\"%s\",\"requests\":%llu,\"seconds\":%.4f,\"rps\":%.1f,\"p50_us\":%.2f,"
      "\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,\"errors\":%llu,\"reply_bytes\":%.1f,"
      "\"connections\":%d,\"depth\":%d,\"new_conn\":%s,\"error_replies\":%llu}\n",
      o_.label.c_str(), static_cast<unsigned long long>(done_), window, rps, pct(50), pct(99),
      pct(99.9), pct(100), static_cast<unsigned long long>(errors_), mean_bytes, o_.connections,
      o_.depth, o_.new_conn ? "true" : "false", static_cast<unsigned long long>(error_replies_));
  for (Conn& c : conns_) ::close(c.fd);
  ::close(ep_);
  if (error_replies_ > 0) {
    std::fprintf(stderr, "%s: measurement rejected: %llu of %llu replies were errors\n",
                 o_.label.empty() ? "load" : o_.label.c_str(),
                 static_cast<unsigned long long>(error_replies_),
                 static_cast<unsigned long long>(replies_));
    return 1;
  }
  return 0;
}

// --- populate --------------------------------------------------------------------

// Imports `count` allocations on ports first_port, first_port+1, ... in
// chunks that stay under the default 1 MiB frame limit. import places
// explicit ports without the OS probe, which is what makes 50,000
// allocations take seconds rather than minutes.
int populate(const Options& o) {
  int fd = connect_or_die(o.socket, false);
  portd::proto::FrameDecoder dec(portd::proto::kMaxResponseFrame);
  std::uint64_t t0 = now_ns();
  std::uint64_t made = 0;
  std::uint64_t id = 1;
  while (made < o.count) {
    Request r;
    r.id = id++;
    r.op = Op::import;
    std::uint64_t n = std::min<std::uint64_t>(static_cast<std::uint64_t>(o.chunk), o.count - made);
    r.records.reserve(n);
    for (std::uint64_t k = 0; k < n; ++k) {
      std::uint64_t serial = made + k;
      std::uint64_t port = static_cast<std::uint64_t>(o.first_port) + serial;
      if (port > 65535) die("--count does not fit above --first-port");
      portd::Allocation a;
      a.app = o.app;
      a.instance = fmt::format("i{}", serial / 100);
      a.service = fmt::format("svc{}", serial % 100);
      a.port = static_cast<portd::Port>(port);
      a.description = "bench";
      r.records.push_back(std::move(a));
    }
    std::string out;
    portd::proto::encode_request(out, r);
    send_all(fd, out);
    std::string reply = read_reply(fd, dec);
    if (!reply_ok(reply)) {
      portd::proto::Response resp = portd::proto::decode_response(reply);
      die(fmt::format("import failed: {}", resp.error ? resp.error->what() : "?"));
    }
    made += n;
  }
  double s = static_cast<double>(now_ns() - t0) / 1e9;
  std::fprintf(stderr, "populate: %llu allocations in %.2f s\n",
               static_cast<unsigned long long>(made), s);
  std::printf("{\"populated\":%llu,\"seconds\":%.3f}\n", static_cast<unsigned long long>(made), s);
  ::close(fd);
  return 0;
}

// --- release-app -----------------------------------------------------------------

// Releases every allocation of --app (between repetitions, so that a run
// never exhausts the pool).
int release_app(const Options& o) {
  int fd = connect_or_die(o.socket, false);
  portd::proto::FrameDecoder dec(portd::proto::kMaxResponseFrame);
  Request r;
  r.id = 1;
  r.op = Op::release;
  r.filter.app = o.app;
  std::string out;
  portd::proto::encode_request(out, r);
  send_all(fd, out);
  portd::proto::Response resp = portd::proto::decode_response(read_reply(fd, dec));
  ::close(fd);
  if (!resp.ok) {
    if (resp.error && resp.error->code() == portd::ErrorCode::not_found) return 0;
    die(fmt::format("release failed: {}", resp.error ? resp.error->what() : "?"));
  }
  const msgpack::object* n = resp.find("released");
  std::printf("{\"released\":%llu}\n",
              static_cast<unsigned long long>(
                  n && n->type == msgpack::type::POSITIVE_INTEGER ? n->via.u64 : 0));
  return 0;
}

// --- spawn ------------------------------------------------------------------------

// Times whole processes round-robin: run 1 of every command, then run 2 of
// every command, and so on. hyperfine runs all of one command before the
// next, so on a shared machine a burst of other load lands on one command
// only and skews the ratios; interleaving spreads it over all of them.
// posix_spawn (vfork-like) keeps the timer's own cost per run small.
int spawn_timer(const Options& o) {
  std::vector<std::vector<std::string>> cmds(1);
  for (const auto& a : o.command) {
    if (a == ":::") {
      cmds.emplace_back();
    } else {
      cmds.back().push_back(a);
    }
  }
  std::erase_if(cmds, [](const auto& c) { return c.empty(); });
  if (cmds.empty()) die("spawn needs -- CMD ARGS [::: CMD ARGS ...]");
  pin_to(o.pin);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::vector<double>> ms(cmds.size());
  std::vector<std::vector<long>> faults(cmds.size());
  const int runs = static_cast<int>(o.count ? o.count : 30);
  const int warm = std::max(1, runs / 10);
  for (int round = 0; round < warm + runs; ++round) {
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      std::vector<char*> argv;
      for (auto& a : cmds[i]) argv.push_back(a.data());
      argv.push_back(nullptr);
      std::uint64_t t0 = now_ns();
      pid_t pid = 0;
      if (int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ); rc != 0) {
        die(fmt::format("failed to run {}: {}", cmds[i][0], std::strerror(rc)));
      }
      int status = 0;
      rusage usage{};
      ::wait4(pid, &status, 0, &usage);
      double t = static_cast<double>(now_ns() - t0) / 1e6;
      // Every command here succeeds when it measured what it should (a
      // free port is free); any other exit is a failed measurement.
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        die(fmt::format("{} failed (wait status {})", cmds[i][0], status));
      }
      if (round >= warm) {
        ms[i].push_back(t);
        faults[i].push_back(usage.ru_minflt + usage.ru_majflt);
      }
    }
  }
  posix_spawn_file_actions_destroy(&actions);
  std::printf("{\"runs\":%d,\"median_ms\":[", runs);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    std::sort(ms[i].begin(), ms[i].end());
    double med = ms[i][ms[i].size() / 2];
    std::fprintf(stderr, "spawn: %-40.40s median %.3f ms min %.3f ms\n", cmds[i][0].c_str(), med,
                 ms[i].front());
    std::printf("%s%.4f", i ? "," : "", med);
  }
  std::printf("],\"min_ms\":[");
  for (std::size_t i = 0; i < ms.size(); ++i) std::printf("%s%.4f", i ? "," : "", ms[i].front());
  // Page faults per run (minor + major, getrusage of the child): on a VM
  // they are most of a short process's cost.
  std::printf("],\"median_faults\":[");
  for (std::size_t i = 0; i < faults.size(); ++i) {
    std::sort(faults[i].begin(), faults[i].end());
    std::printf("%s%ld", i ? "," : "", faults[i][faults[i].size() / 2]);
  }
  std::printf("]}\n");
  return 0;
}

// --- startup ---------------------------------------------------------------------

// Forks and execs the daemon, then connects and sends health until the
// first answer: exec-to-first-answer, the latency an autostarting client
// or a socket-less service manager would see. Stops the daemon after.
int startup(const Options& o) {
  if (o.command.empty()) die("startup needs -- COMMAND");
  pin_to(o.pin);
  std::vector<char*> argv;
  for (const auto& s : o.command) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  std::uint64_t t0 = now_ns();
  pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  std::string frame;
  Request r;
  r.id = 1;
  r.op = Op::health;
  portd::proto::encode_request(frame, r);
  double ms = -1;
  const std::uint64_t deadline = t0 + static_cast<std::uint64_t>(o.timeout * 1e9);
  while (now_ns() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) die("the daemon exited during start-up");
    int fd = connect_unix(o.socket, false);
    if (fd < 0) {
      // 50 µs between attempts: fine enough for millisecond start-ups
      // without turning the poll into load on a shared CPU.
      timespec ts{0, 50'000};
      nanosleep(&ts, nullptr);
      continue;
    }
    portd::proto::FrameDecoder dec(portd::proto::kMaxResponseFrame);
    send_all(fd, frame);
    std::string reply = read_reply(fd, dec);
    ms = static_cast<double>(now_ns() - t0) / 1e6;
    ::close(fd);
    if (!reply_ok(reply)) die("health failed");
    break;
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (ms < 0) die("the daemon did not answer in time");
  std::fprintf(stderr, "startup: first answer after %.2f ms\n", ms);
  std::printf("{\"startup_ms\":%.3f}\n", ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options o = parse_args(argc, argv);
  try {
    if (o.mode == "load") return Load(o).run();
    if (o.mode == "populate") return populate(o);
    if (o.mode == "startup") return startup(o);
    if (o.mode == "release-app") return release_app(o);
    if (o.mode == "spawn") return spawn_timer(o);
  } catch (const std::exception& e) {
    die(e.what());
  }
  usage();
}
