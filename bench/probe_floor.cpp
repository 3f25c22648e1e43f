// probe_floor: the cost of the OS probe behind `check` on a free port, as a
// static program: the bind tests portd's OsPortProbe::in_use makes on Linux
// (src/alloc/port_probe.cpp), one dual-stack [::] bind per protocol, TCP
// with SO_REUSEADDR and then UDP, each on a fresh socket closed at once. A
// `check` over a persistent connection cannot be faster than the echo floor
// (one request through libuv + MessagePack) plus this.
//
// usage: probe_floor PORT [--probes N] [--duration S] [--pin CPU]
//   PORT must be free (exit 1 otherwise). Prints one JSON line:
//   {"probes":N,"rps":probes/s,"p50_us":..,"p99_us":..,"p999_us":..}
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// One dual-stack bind test; false when the port is taken or the test failed.
bool bind_free(int type, std::uint16_t port) {
  int fd = ::socket(AF_INET6, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1, zero = 0;
  if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  sa.sin6_addr = in6addr_any;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: probe_floor PORT [--probes N] [--duration S] [--pin CPU]\n");
    return 2;
  }
  const long port = std::strtol(argv[1], nullptr, 10);
  if (port < 1 || port > 65535) {
    std::fprintf(stderr, "probe_floor: PORT must be 1-65535\n");
    return 2;
  }
  long probes = 10'000'000;
  double duration = 5.0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--probes") probes = std::strtol(argv[i + 1], nullptr, 10);
    if (a == "--duration") duration = std::strtod(argv[i + 1], nullptr);
    if (a == "--pin") {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(std::atoi(argv[i + 1]), &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
  }
  const auto p = static_cast<std::uint16_t>(port);
  std::vector<std::uint64_t> lat;
  const std::uint64_t t0 = now_ns();
  const std::uint64_t end = t0 + static_cast<std::uint64_t>(duration * 1e9);
  for (long i = 0; i < probes && now_ns() < end; ++i) {
    const std::uint64_t t = now_ns();
    if (!bind_free(SOCK_STREAM, p) || !bind_free(SOCK_DGRAM, p)) {
      std::fprintf(stderr, "probe_floor: port %ld is not free: %s\n", port, std::strerror(errno));
      return 1;
    }
    lat.push_back(now_ns() - t);
  }
  if (lat.empty()) return 1;
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return static_cast<double>(
               lat[static_cast<std::size_t>(q / 100.0 * static_cast<double>(lat.size() - 1))]) /
           1000.0;
  };
  std::fprintf(stderr, "probe_floor: %zu probes of port %ld in %.2f s: p50 %.2f us p99 %.2f us\n",
               lat.size(), port, secs, pct(50), pct(99));
  std::printf("{\"probes\":%zu,\"rps\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f}\n",
              lat.size(), static_cast<double>(lat.size()) / secs, pct(50), pct(99), pct(99.9));
  return 0;
}
