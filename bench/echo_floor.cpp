// echo_floor: portd minus the registry and the store. A libuv Unix-socket
// server with portd's framing that MessagePack-decodes each request frame
// and MessagePack-encodes a reply of the same size as portd's reply to that
// op, written once per read like portd's per-iteration flush. Whatever
// portd spends beyond this is the price of its own logic.
//
// usage: echo_floor --socket PATH [--reply OP=BYTES ...]
//   Without --reply for an op, the reply payload is as long as the request's.
#include <unistd.h>
#include <uv.h>
#include <csignal>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "proto/frame.hpp"

namespace {

std::map<std::string, std::size_t, std::less<>> g_reply_size;
uv_loop_t* g_loop = nullptr;

struct Client {
  uv_pipe_t pipe{};
  portd::proto::FrameDecoder decoder{portd::proto::kDefaultMaxFrame};
  std::string out;
};

struct Write {
  uv_write_t req{};
  std::string data;
};

struct Sink {
  std::string* s;
  void write(const char* p, std::size_t n) { s->append(p, n); }
};

void pack_str(msgpack::packer<Sink>& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

// Decodes the request like portd does (unpack into a zone, strings
// referenced), then packs {"id": id, "ok": true, "pad": "xxx..."} sized so
// the payload matches the configured reply size.
void answer(Client& c, std::string_view payload, msgpack::zone& zone) {
  std::size_t off = 0;
  msgpack::object root = msgpack::unpack(
      zone, payload.data(), payload.size(), off,
      [](msgpack::type::object_type, std::size_t, void*) { return true; }, nullptr);
  std::uint64_t id = 0;
  std::string_view op;
  if (root.type == msgpack::type::MAP) {
    for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) continue;
      std::string_view k(kv.key.via.str.ptr, kv.key.via.str.size);
      if (k == "id" && kv.val.type == msgpack::type::POSITIVE_INTEGER) id = kv.val.via.u64;
      if (k == "op" && kv.val.type == msgpack::type::STR) {
        op = {kv.val.via.str.ptr, kv.val.via.str.size};
      }
    }
  }
  std::size_t want = payload.size();
  if (auto it = g_reply_size.find(op); it != g_reply_size.end()) want = it->second;

  std::size_t start = c.out.size();
  c.out.append(portd::proto::kFrameHeaderSize, '\0');
  Sink sink{&c.out};
  msgpack::packer<Sink> pk(sink);
  pk.pack_map(3);
  pack_str(pk, "id");
  pk.pack_uint64(id);
  pack_str(pk, "ok");
  pk.pack_true();
  pack_str(pk, "pad");
  std::size_t used = c.out.size() - start - portd::proto::kFrameHeaderSize;
  // The pad string's header is 1 byte up to 31 bytes, 2 bytes up to 255, 3 up to 64 KiB.
  std::size_t room = want > used + 1 ? want - used - 1 : 0;
  if (room > 31) room = room > 256 ? room - 2 : room - 1;
  // From a static buffer: the floor must not pay a malloc portd does not.
  static const std::string pad(64 * 1024, 'x');
  pack_str(pk, std::string_view(pad).substr(0, std::min(room, pad.size())));
  portd::proto::patch_frame_header(
      c.out, start,
      static_cast<std::uint32_t>(c.out.size() - start - portd::proto::kFrameHeaderSize));
}

void on_close(uv_handle_t* h) {
  delete static_cast<Client*>(h->data);
}

void on_write(uv_write_t* req, int) {
  delete reinterpret_cast<Write*>(req);
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<Client*>(h->data);
  auto span = c->decoder.prepare(64 * 1024);
  *buf = uv_buf_init(span.data(), static_cast<unsigned>(span.size()));
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<Client*>(s->data);
  if (nread == 0) return;
  if (nread < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), on_close);
    return;
  }
  c->decoder.commit(static_cast<std::size_t>(nread));
  thread_local msgpack::zone zone;
  try {
    while (auto payload = c->decoder.next()) {
      answer(*c, *payload, zone);
      zone.clear();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_floor: %s\n", e.what());
    uv_close(reinterpret_cast<uv_handle_t*>(s), on_close);
    return;
  }
  if (!c->out.empty()) {
    // As portd does: write at once, queue only what the socket refuses
    // (uv_try_write declines while earlier writes are queued).
    uv_buf_t now = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
    int n = uv_try_write(s, &now, 1);
    if (n > 0) c->out.erase(0, static_cast<std::size_t>(n));
  }
  if (!c->out.empty()) {
    auto* w = new Write;
    w->data.swap(c->out);
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, s, &buf, 1, on_write) != 0) delete w;
  }
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new Client;
  c->pipe.data = c;
  uv_pipe_init(g_loop, &c->pipe, 0);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_close);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), on_alloc, on_read);
}

void on_signal(uv_signal_t* h, int) {
  uv_stop(h->loop);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--reply" && i + 1 < argc) {
      std::string spec = argv[++i];
      auto eq = spec.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "echo_floor: --reply wants OP=BYTES\n");
        return 2;
      }
      g_reply_size[spec.substr(0, eq)] = std::stoul(spec.substr(eq + 1));
    } else {
      std::fprintf(stderr, "usage: echo_floor --socket PATH [--reply OP=BYTES ...]\n");
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: echo_floor --socket PATH [--reply OP=BYTES ...]\n");
    return 2;
  }
  g_loop = uv_default_loop();
  uv_pipe_t server;
  uv_pipe_init(g_loop, &server, 0);
  ::unlink(path.c_str());
  if (int rc = uv_pipe_bind(&server, path.c_str()); rc != 0) {
    std::fprintf(stderr, "echo_floor: bind %s: %s\n", path.c_str(), uv_strerror(rc));
    return 1;
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server), SOMAXCONN, on_connection);
      rc != 0) {
    std::fprintf(stderr, "echo_floor: listen: %s\n", uv_strerror(rc));
    return 1;
  }
  uv_signal_t sigterm, sigint;
  uv_signal_init(g_loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_init(g_loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(g_loop, UV_RUN_DEFAULT);
  ::unlink(path.c_str());
  return 0;
}
