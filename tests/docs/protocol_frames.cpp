// Writes the frames that portd-protocol(7) shows as hexdumps, produced by the
// codec and the daemon rather than typed by hand, so tests/docs/examples.py
// can compare the page's bytes with these.
//
//   protocol_frames request
//       the health request {"v": 1, "id": 1, "op": "health"} as the client
//       library encodes it (proto::encode_request)
//   protocol_frames response SOCKET [KEY=UINT]...
//       the daemon's reply to that request on SOCKET, with each KEY's value
//       replaced by UINT (for the pid and uptime, which differ per run)
//
// The frame (length prefix included) goes to stdout as raw bytes; errors go
// to stderr with exit status 1.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "proto/codec.hpp"
#include "proto/frame.hpp"

namespace {

using portd::proto::FrameDecoder;
using portd::proto::FrameWriter;

std::string health_request() {
  portd::proto::Request request;
  request.id = 1;
  request.op = portd::proto::Op::health;
  std::string out;
  portd::proto::encode_request(out, request);
  return out;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

/// Sends `frame` to the daemon on `socket_path` and returns its reply payload.
std::string ask_daemon(const std::string& socket_path, const std::string& frame) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    fail("connect " + socket_path);
  }
  if (::write(fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) fail("write");
  FrameDecoder decoder(portd::proto::kMaxResponseFrame);
  while (true) {
    if (auto payload = decoder.next()) {
      std::string reply(*payload);
      ::close(fd);
      return reply;
    }
    auto space = decoder.prepare(4096);
    ssize_t n = ::read(fd, space.data(), space.size());
    if (n <= 0) fail("read");
    decoder.commit(static_cast<std::size_t>(n));
  }
}

/// Re-packs the reply map in its own key order, replacing the values named in
/// `replace`. msgpack-cxx packs every integer in its shortest form, as the
/// daemon does, so unreplaced values keep their bytes.
std::string substitute(std::string_view payload,
                       const std::map<std::string, std::uint64_t>& replace) {
  msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
  const msgpack::object& map = handle.get();
  if (map.type != msgpack::type::MAP) throw std::runtime_error("reply is not a map");
  std::string out;
  FrameWriter writer(out);
  auto& pk = writer.packer();
  pk.pack_map(map.via.map.size);
  for (const auto& kv : std::span(map.via.map.ptr, map.via.map.size)) {
    pk.pack(kv.key);
    auto it =
        kv.key.type == msgpack::type::STR ? replace.find(kv.key.as<std::string>()) : replace.end();
    if (it != replace.end()) {
      pk.pack_uint64(it->second);
    } else {
      pk.pack(kv.val);
    }
  }
  writer.finish();
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string_view mode = argc > 1 ? argv[1] : "";
  std::string frame;
  if (mode == "request" && argc == 2) {
    frame = health_request();
  } else if (mode == "response" && argc >= 3) {
    std::map<std::string, std::uint64_t> replace;
    for (int i = 3; i < argc; ++i) {
      std::string_view arg = argv[i];
      auto eq = arg.find('=');
      if (eq == std::string_view::npos)
        throw std::runtime_error("expected KEY=UINT, got " + std::string(arg));
      replace[std::string(arg.substr(0, eq))] = std::stoull(std::string(arg.substr(eq + 1)));
    }
    frame = substitute(ask_daemon(argv[2], health_request()), replace);
  } else {
    std::fputs("usage: protocol_frames request | response SOCKET [KEY=UINT]...\n", stderr);
    return 2;
  }
  std::fwrite(frame.data(), 1, frame.size(), stdout);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "protocol_frames: %s\n", e.what());
  return 1;
}
