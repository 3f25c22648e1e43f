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
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "floor_loop.hpp"

namespace {

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
  const auto opts = floor_loop::parse(argc, argv, "--probes", {10'000'000, 5.0});
  const auto p = static_cast<std::uint16_t>(port);
  return floor_loop::run("probe_floor", "probes", opts, [&](long) {
    if (bind_free(SOCK_STREAM, p) && bind_free(SOCK_DGRAM, p)) return true;
    std::fprintf(stderr, "probe_floor: port %ld is not free: %s\n", port, std::strerror(errno));
    return false;
  });
}
