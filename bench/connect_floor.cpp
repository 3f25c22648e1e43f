// connect_floor: the least a `portctl check --port N` can do, as a static
// binary: connect to the Unix socket, send one check request, read one reply
// frame, print one line. No libraries beyond libc, no argument framework, no
// MessagePack library (the request is packed by hand).
//
// usage: connect_floor SOCKET PORT   (exit 0: got a reply)
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace {

int fail(const char* what) {
  const char* nl = "\n";
  ssize_t ignored = ::write(2, what, std::strlen(what));
  ignored = ::write(2, nl, 1);
  (void)ignored;
  return 1;
}

bool read_exact(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: connect_floor SOCKET PORT");
  const char* path = argv[1];
  long port = std::strtol(argv[2], nullptr, 10);
  if (port < 1 || port > 65535) return fail("bad port");

  // {"v": 1, "id": 1, "op": "check", "port": uint16}, as portd-protocol(7)
  // spells it: fixmap of 4, fixstr keys, "port" as a uint 16.
  unsigned char req[64];
  std::size_t n = 4;
  auto put = [&](std::initializer_list<unsigned char> bytes) {
    for (unsigned char b : bytes) req[n++] = b;
  };
  put({0x84, 0xa1, 'v', 0x01, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'p'});
  put({0xa5, 'c', 'h', 'e', 'c', 'k', 0xa4, 'p', 'o', 'r', 't', 0xcd});
  put({static_cast<unsigned char>(port >> 8), static_cast<unsigned char>(port)});
  std::uint32_t len = static_cast<std::uint32_t>(n - 4);
  req[0] = static_cast<unsigned char>(len >> 24);
  req[1] = static_cast<unsigned char>(len >> 16);
  req[2] = static_cast<unsigned char>(len >> 8);
  req[3] = static_cast<unsigned char>(len);

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket failed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t plen = std::strlen(path);
  if (plen >= sizeof(addr.sun_path)) return fail("socket path too long");
  std::memcpy(addr.sun_path, path, plen);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("connect failed");
  }
  if (::send(fd, req, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return fail("send failed");
  char header[4];
  if (!read_exact(fd, header, 4)) return fail("no reply");
  std::uint32_t rlen = (std::uint32_t{static_cast<unsigned char>(header[0])} << 24) |
                       (std::uint32_t{static_cast<unsigned char>(header[1])} << 16) |
                       (std::uint32_t{static_cast<unsigned char>(header[2])} << 8) |
                       std::uint32_t{static_cast<unsigned char>(header[3])};
  if (rlen == 0 || rlen > 65536) return fail("bad reply length");
  char body[65536];
  if (!read_exact(fd, body, rlen)) return fail("short reply");
  ::close(fd);
  // One output line, as portctl prints one.
  static const char line[] = "port checked\n";
  if (::write(1, line, sizeof(line) - 1) < 0) return 1;
  return 0;
}
