// Client against a scripted in-process server speaking the real codec:
// decoding of replies and errors, connection reuse, retry rules, autostart
// failures and the peer-uid check.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lib/transport.hpp"
#include "portd/client.hpp"
#include "proto/codec.hpp"
#include "proto/frame.hpp"

namespace fs = std::filesystem;
namespace pc = portd::client;
namespace proto = portd::proto;

namespace {

// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "portd-ct-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

int listen_unix(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

portd::Allocation sample(std::uint64_t id, const std::string& service, portd::Port port) {
  portd::Allocation a;
  a.id = id;
  a.app = "myapp";
  a.instance = "main";
  a.service = service;
  a.port = port;
  a.pool = "default";
  a.worktree = "/src/myapp";
  a.allocated_by = "dev@host";
  a.created_at = 1739027045;  // 2025-02-08T15:04:05Z
  return a;
}

pc::AllocateRequest allocate_request(const char* service, std::uint16_t port) {
  pc::AllocateRequest r;
  r.app = "myapp";
  r.instance = "main";
  r.service = service;
  r.port = port;
  return r;
}

std::string reply_allocations(std::uint64_t id, const std::vector<portd::Allocation>& list) {
  std::string out;
  proto::encode_ok(out, id, 1, [&](proto::Packer& pk) {
    proto::pack_key(pk, "allocations");
    pk.pack_array(static_cast<std::uint32_t>(list.size()));
    for (const auto& a : list) proto::pack_allocation(pk, a);
  });
  return out;
}

// A server on a Unix socket that answers each request with whatever the
// handler returns (framed bytes), or closes the connection on std::nullopt.
// With `close_after_reply`, it closes the connection after each reply.
class FakeServer {
 public:
  using Handler = std::function<std::optional<std::string>(const proto::Request&, int conn)>;

  FakeServer(const fs::path& socket, Handler handler, bool close_after_reply = false)
      : handler_(std::move(handler)), close_after_reply_(close_after_reply) {
    listen_fd_ = listen_unix(socket);
    if (listen_fd_ < 0) throw std::runtime_error("bind failed");
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  std::vector<proto::Op> ops() {
    std::lock_guard lock(mu_);
    return ops_;
  }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      int conn = connections_++;
      handle(fd, conn);
      ::close(fd);
    }
  }

  void handle(int fd, int conn) {
    proto::FrameDecoder decoder;
    char buf[4096];
    while (!stop_) {
      while (auto frame = decoder.next()) {
        proto::Request req = proto::decode_request(*frame);
        {
          std::lock_guard lock(mu_);
          ops_.push_back(req.op);
        }
        auto reply = handler_(req, conn);
        if (!reply) return;
        if (::send(fd, reply->data(), reply->size(), MSG_NOSIGNAL) < 0) return;
        if (close_after_reply_) return;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  Handler handler_;
  bool close_after_reply_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<proto::Op> ops_;
  std::thread thread_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    socket_ = dir_ / "portd.sock";
  }
  void TearDown() override { fs::remove_all(dir_); }

  pc::Options options() const {
    pc::Options o;
    o.socket_path = socket_;
    o.autostart = false;
    o.request_timeout = std::chrono::milliseconds(5000);
    return o;
  }

  fs::path dir_;
  fs::path socket_;
};

TEST_F(ClientTest, ListDecodesAllocations) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    EXPECT_EQ(r.op, proto::Op::list);
    EXPECT_EQ(r.filter.app, "myapp");
    EXPECT_EQ(r.filter.service, "postgres");
    EXPECT_FALSE(r.filter.instance);
    return reply_allocations(r.id, {sample(1, "postgres", 3042), sample(7, "web", 3044)});
  });
  pc::Client client(options());
  pc::Filter f;
  f.app = "myapp";
  f.service = "postgres";
  auto list = client.list(f);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, 1u);
  EXPECT_EQ(list[0].port, 3042);
  EXPECT_EQ(list[0].service, "postgres");
  EXPECT_EQ(list[0].worktree, "/src/myapp");
  EXPECT_EQ(list[0].allocated_by, "dev@host");
  EXPECT_EQ(list[0].created_at, 1739027045);
  EXPECT_EQ(list[1].port, 3044);
}

TEST_F(ClientTest, AllocateSendsEveryField) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    EXPECT_EQ(r.key.app, "myapp");
    EXPECT_EQ(r.key.instance, "dev");
    EXPECT_EQ(r.key.service, "web");
    EXPECT_EQ(r.port, 8080);
    EXPECT_EQ(r.description, "vite");
    EXPECT_EQ(r.worktree, "/src/myapp");
    EXPECT_EQ(r.pid, 4242u);
    EXPECT_EQ(r.ttl_seconds, 60);
    EXPECT_TRUE(r.replace);
    EXPECT_FALSE(r.force);
    std::string out;
    proto::encode_ok(out, r.id, 2, [&](proto::Packer& pk) {
      proto::pack_key(pk, "allocation");
      proto::pack_allocation(pk, sample(2, "web", 8080));
      proto::pack_key(pk, "created");
      pk.pack_false();
    });
    return out;
  });
  pc::Client client(options());
  pc::AllocateRequest req;
  req.app = "myapp";
  req.instance = "dev";
  req.service = "web";
  req.port = 8080;
  req.description = "vite";
  req.worktree = "/src/myapp";
  req.pid = 4242;
  req.ttl_seconds = 60;
  req.replace = true;
  auto res = client.allocate(req);
  EXPECT_EQ(res.allocation.port, 8080);
  EXPECT_EQ(res.allocation.id, 2u);
  EXPECT_FALSE(res.created);
}

TEST_F(ClientTest, ErrorCarriesCodeMessageAndHolder) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    std::string out;
    proto::encode_error(
        out, r.id,
        portd::Error(portd::ErrorCode::port_taken, "port 5432 is allocated to other/dev/db (id=3)",
                     sample(3, "db", 5432)));
    return out;
  });
  pc::Client client(options());
  try {
    client.allocate(allocate_request("postgres", 5432));
    FAIL() << "allocate did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::port_taken);
    EXPECT_EQ(e.code_name(), "port_taken");
    EXPECT_STREQ(e.what(), "port 5432 is allocated to other/dev/db (id=3)");
    ASSERT_TRUE(e.holder());
    EXPECT_EQ(e.holder()->id, 3u);
    EXPECT_EQ(e.holder()->port, 5432);
  }
}

TEST_F(ClientTest, PortInUseCarriesOwner) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    std::string out;
    portd::Error err(portd::ErrorCode::port_in_use, "port 8080 is in use");
    err.with_owner({1234, "nginx"});
    proto::encode_error(out, r.id, err);
    return out;
  });
  pc::Client client(options());
  try {
    client.allocate(allocate_request("web", 8080));
    FAIL() << "allocate did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::port_in_use);
    EXPECT_EQ(e.owner_pid(), 1234u);
    EXPECT_EQ(e.owner_command(), "nginx");
  }
}

TEST_F(ClientTest, ReusesOneConnection) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    return reply_allocations(r.id, {});
  });
  pc::Client client(options());
  client.list();
  client.list();
  client.list();
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.ops().size(), 3u);
}

TEST_F(ClientTest, RetriesIdempotentRequestAfterEof) {
  FakeServer server(socket_, [](const proto::Request& r, int conn) -> std::optional<std::string> {
    if (conn == 0) return std::nullopt;  // close before replying
    return reply_allocations(r.id, {sample(1, "web", 3000)});
  });
  pc::Client client(options());
  auto list = client.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.ops().size(), 2u);
}

TEST_F(ClientTest, DoesNotRetryReleaseAfterEof) {
  FakeServer server(socket_, [](const proto::Request&, int) -> std::optional<std::string> {
    return std::nullopt;
  });
  pc::Client client(options());
  try {
    client.release(5);
    FAIL() << "release did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::unavailable);
  }
  EXPECT_EQ(server.ops(), std::vector<proto::Op>{proto::Op::release});
}

TEST_F(ClientTest, GivesUpAfterOneRetry) {
  FakeServer server(socket_, [](const proto::Request&, int) -> std::optional<std::string> {
    return std::nullopt;
  });
  pc::Client client(options());
  EXPECT_THROW(client.health(), pc::Error);
  EXPECT_EQ(server.ops().size(), 2u);
}

TEST_F(ClientTest, MismatchedReplyIdIsBadResponse) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    return reply_allocations(r.id + 100, {});
  });
  pc::Client client(options());
  try {
    client.list();
    FAIL() << "list did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::bad_response);
  }
}

// portd-protocol(7): a reply with id 0 answers the connection (busy,
// framing errors); its error is reported as it is, not as a wrong id.
TEST_F(ClientTest, ErrorWithIdZeroIsTheNamedError) {
  FakeServer server(
      socket_,
      [](const proto::Request&, int) -> std::optional<std::string> {
        std::string out;
        proto::encode_error(out, 0, portd::Error(portd::ErrorCode::frame_too_large, "too big"));
        return out;
      },
      true);
  pc::Client client(options());
  try {
    client.health();
    FAIL() << "health did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::frame_too_large);
    EXPECT_STREQ(e.what(), "too big");
  }
}

TEST_F(ClientTest, UnknownCodeKeepsItsName) {
  FakeServer server(socket_, [](const proto::Request& r, int) -> std::optional<std::string> {
    std::string out;
    proto::encode_error(out, r.id, portd::Error(std::string("quota_exceeded"), "over quota"));
    return out;
  });
  pc::Client client(options());
  try {
    client.health();
    FAIL() << "health did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::unknown);
    EXPECT_EQ(e.code_name(), "quota_exceeded");
  }
}

std::string busy_reply() {
  std::string out;
  proto::encode_error(out, 0,
                      portd::Error(portd::ErrorCode::busy, "too many connections").with_limit(7));
  return out;
}

TEST_F(ClientTest, BusyIsRetriedOnNewConnections) {
  // The first two connections are refused as a daemon at its limit does.
  FakeServer server(
      socket_,
      [](const proto::Request& r, int conn) -> std::optional<std::string> {
        if (conn < 2) return busy_reply();
        std::string out;
        proto::encode_ok(out, r.id, 1, [](proto::Packer& pk) {
          proto::pack_key(pk, "status");
          proto::pack_string(pk, "ok");
        });
        return out;
      },
      true);
  pc::Client client(options());
  EXPECT_EQ(client.health().status, "ok");
  EXPECT_EQ(server.connections(), 3);
}

TEST_F(ClientTest, BusyPastTheConnectTimeoutNamesTheLimit) {
  FakeServer server(
      socket_,
      [](const proto::Request&, int) -> std::optional<std::string> { return busy_reply(); }, true);
  pc::Options o = options();
  o.connect_timeout = std::chrono::milliseconds(200);
  pc::Client client(o);
  try {
    client.list();
    FAIL() << "list did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::busy);
    EXPECT_STREQ(e.what(), "portd is busy (7 connections); try again");
  }
  EXPECT_GE(server.connections(), 2);
}

TEST_F(ClientTest, EmptyReleaseFilterIsRefusedLocally) {
  pc::Client client(options());
  try {
    client.release(pc::Filter{});
    FAIL() << "release did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::invalid_request);
  }
}

TEST_F(ClientTest, WatchDeliversEventsUntilTheStreamCloses) {
  FakeServer server(
      socket_,
      [](const proto::Request& r, int) -> std::optional<std::string> {
        if (r.op != proto::Op::watch) return std::nullopt;
        std::string out;
        proto::encode_ok(out, r.id, 1, [](proto::Packer& pk) {
          proto::pack_key(pk, "watching");
          pk.pack_true();
        });
        for (const char* ev : {"allocated", "released"}) {
          proto::encode_ok(out, r.id, 2, [&](proto::Packer& pk) {
            proto::pack_key(pk, "event");
            proto::pack_string(pk, ev);
            proto::pack_key(pk, "allocation");
            proto::pack_allocation(pk, sample(9, "web", 3999));
          });
        }
        return out;
      },
      /*close_after_reply=*/true);
  pc::Client client(options());
  std::vector<std::string> seen;
  try {
    client.watch([&](const pc::WatchEvent& ev) {
      seen.push_back(ev.event + ":" + std::to_string(ev.allocation.port));
      return true;
    });
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::unavailable);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"allocated:3999", "released:3999"}));
}

TEST_F(ClientTest, NoAutostartNamesTheSocket) {
  pc::Client client(options());
  try {
    client.health();
    FAIL() << "health did not throw";
  } catch (const pc::Error& e) {
    EXPECT_EQ(e.code(), pc::ErrorCode::unavailable);
    EXPECT_NE(std::string(e.what()).find(socket_.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("autostart is off"), std::string::npos) << e.what();
  }
}

TEST_F(ClientTest, EnvironmentTurnsAutostartOff) {
  ScopedEnv off("PORTD_NO_AUTOSTART", "1");
  ScopedEnv bin("PORTD_BIN", "/bin/false");
  auto o = options();
  o.autostart = true;
  pc::Client client(o);
  try {
    client.health();
    FAIL() << "health did not throw";
  } catch (const pc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("autostart is off"), std::string::npos) << e.what();
  }
}

TEST_F(ClientTest, AutostartRunsTheDaemonDetachedAndReportsItsLog) {
  // A stand-in daemon that records how it was started, then fails.
  fs::path record = dir_ / "record";
  fs::path script = dir_ / "fake-portd";
  std::ofstream(script) << "#!/bin/sh\n"
                        << "{ echo \"args=$*\"; echo \"cwd=$(pwd)\"; "
                        << "echo \"stdin=$(readlink /proc/self/fd/0)\"; } > '" << record.string()
                        << "'\n"
                        << "echo 'fatal: cannot open the store' >&2\n"
                        << "exit 1\n";
  fs::permissions(script, fs::perms::owner_all);
  ScopedEnv bin("PORTD_BIN", script.c_str());
  ScopedEnv state("XDG_STATE_HOME", (dir_ / "state").c_str());
  ScopedEnv no("PORTD_NO_AUTOSTART", nullptr);
  auto o = options();
  o.autostart = true;
  o.socket_path = dir_ / "run" / "portd.sock";
  o.autostart_timeout = std::chrono::milliseconds(3000);
  pc::Client client(o);
  try {
    client.health();
    FAIL() << "health did not throw";
  } catch (const pc::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.code(), pc::ErrorCode::unavailable);
    EXPECT_NE(msg.find("fatal: cannot open the store"), std::string::npos) << msg;
    EXPECT_NE(msg.find((dir_ / "state" / "portd" / "portd.log").string()), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(o.socket_path.string()), std::string::npos) << msg;
  }
  std::ifstream in(record);
  std::string args, cwd, stdin_target;
  std::getline(in, args);
  std::getline(in, cwd);
  std::getline(in, stdin_target);
  EXPECT_EQ(args, "args=--socket " + o.socket_path.string() + " --idle-exit 900");
  EXPECT_EQ(cwd, "cwd=/");
  EXPECT_EQ(stdin_target, "stdin=/dev/null");
  // The socket directory was created private, with the autostart lock in it.
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(fs::exists(dir_ / "run" / "portd.autostart.lock"));
}

TEST_F(ClientTest, RefusesADaemonOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a server as another uid";
  fs::permissions(dir_, fs::perms::all);  // let uid 65534 create the socket
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only system calls from here on: the parent has threads.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    int fd = listen_unix(socket_);
    if (fd < 0) ::_exit(4);
    char one = 1;
    (void)!::write(ready[1], &one, 1);
    int conn = ::accept(fd, nullptr, nullptr);
    std::int32_t received = 0;
    pollfd p{conn, POLLIN, 0};
    char buf[256];
    while (::poll(&p, 1, 500) > 0) {
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      received += static_cast<std::int32_t>(n);
    }
    (void)!::write(report[1], &received, sizeof received);
    ::_exit(0);
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  {
    pc::Client client(options());
    try {
      client.health();
      FAIL() << "health did not throw";
    } catch (const pc::Error& e) {
      EXPECT_EQ(e.code(), pc::ErrorCode::permission_denied);
      EXPECT_EQ(std::string(e.what()),
                "refusing to talk to '" + socket_.string() + "': owned by uid 65534");
    }
  }
  std::int32_t received = -1;
  ASSERT_EQ(::read(report[0], &received, sizeof received), static_cast<ssize_t>(sizeof received));
  EXPECT_EQ(received, 0) << "the client sent bytes to a foreign daemon";
  int status = 0;
  ::waitpid(child, &status, 0);
  for (int fd : {report[0], report[1], ready[0], ready[1]}) ::close(fd);
}

TEST(Transport, ConnectReportsNobodyListening) {
  fs::path dir = make_temp_dir();
  auto missing = portd::client::detail::connect_unix(dir / "none.sock", std::chrono::seconds(1));
  EXPECT_FALSE(missing.fd);
  EXPECT_TRUE(portd::client::detail::nobody_listening(missing.error));

  // A socket file nobody listens on (a daemon that died) is ECONNREFUSED.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", (dir / "stale.sock").c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  auto stale = portd::client::detail::connect_unix(dir / "stale.sock", std::chrono::seconds(1));
  EXPECT_FALSE(stale.fd);
  EXPECT_EQ(stale.error, ECONNREFUSED);
  EXPECT_TRUE(portd::client::detail::nobody_listening(stale.error));
  fs::remove_all(dir);
}

}  // namespace
