#include "raw_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace portd::testing {

RawClient::RawClient(const std::filesystem::path& socket) {
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    throw std::runtime_error("connect " + socket.string() + ": " + std::strerror(e));
  }
}

bool RawClient::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool RawClient::send(proto::Request request) {
  if (request.id == 0) request.id = next_id_++;
  std::string out;
  proto::encode_request(out, request);
  return send_raw(out);
}

std::optional<proto::Response> RawClient::receive(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto payload = decoder_.next()) return proto::decode_response(*payload);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    std::span<char> space = decoder_.prepare(64 * 1024);
    ssize_t n = ::recv(fd_.get(), space.data(), space.size(), 0);
    if (n <= 0) return std::nullopt;
    decoder_.commit(static_cast<std::size_t>(n));
  }
}

proto::Response RawClient::call(proto::Request request) {
  if (!send(std::move(request))) throw std::runtime_error("send failed");
  auto r = receive();
  if (!r) throw std::runtime_error("no response");
  return std::move(*r);
}

bool RawClient::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;  // ECONNRESET
  }
  return false;
}

proto::Request make_request(proto::Op op) {
  proto::Request r;
  r.op = op;
  return r;
}

proto::Request allocate_request(const std::string& app, const std::string& instance,
                                const std::string& service, Port port) {
  proto::Request r = make_request(proto::Op::allocate);
  r.key = {app, instance, service};
  r.port = port;
  return r;
}

}  // namespace portd::testing
