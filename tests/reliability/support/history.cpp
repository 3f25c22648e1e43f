#include "history.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "../../integration/support/daemon_process.hpp"
#include "../../integration/support/raw_client.hpp"
#include "proto/codec.hpp"

namespace portd::reliability {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string_view to_string(OpType t) noexcept {
  switch (t) {
    case OpType::allocate:
      return "allocate";
    case OpType::release:
      return "release";
    case OpType::check:
      return "check";
    case OpType::list:
      return "list";
  }
  return "?";
}

std::string_view to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::pending:
      return "pending";
    case Outcome::ok:
      return "ok";
    case Outcome::fail:
      return "fail";
    case Outcome::info:
      return "info";
  }
  return "?";
}

std::string describe(const AllocationKey& key, Port port) {
  return to_string(key) + "@" + std::to_string(port);
}

// ---------------------------------------------------------------- integrity

fs::path find_tool(const std::string& name) {
  std::vector<fs::path> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.emplace_back(d);
    }
  }
  dirs.emplace_back("/usr/bin");
  dirs.emplace_back("/usr/local/bin");
  for (const fs::path& d : dirs) {
    fs::path p = d / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

namespace {

// Runs `argv` with stdout to `out` and stderr to `err` (paths; "/dev/null"
// allowed); returns the exit status, 128+signal, or -1 after killing it on
// timeout. Own fork/exec rather than testing::spawn() because mdb_dump's
// stdout (the whole store) must not end up in the log.
int run_tool(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err,
             std::chrono::milliseconds timeout) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (o < 0 || e < 0 || in < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = testing::wait_pid(pid, timeout);
  if (status == -1) {
    ::kill(pid, SIGKILL);
    testing::wait_pid(pid, 10s);
  }
  return status;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

IntegrityReport check_store_integrity(const fs::path& state_dir,
                                      std::chrono::milliseconds timeout) {
  fs::path stat = find_tool("mdb_stat"), dump = find_tool("mdb_dump");
  if (stat.empty() || dump.empty()) {
    throw std::runtime_error("mdb_stat/mdb_dump not found: install lmdb-utils");
  }
  std::string tmpl = (fs::temp_directory_path() / "portd-integrity-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  fs::path work = tmpl;
  IntegrityReport r;
  // -e: environment info (reads both meta pages); -a: every sub-database,
  // which walks each one's B-tree root and page counts.
  r.stat_status = run_tool({stat.string(), "-e", "-a", state_dir.string()}, work / "stat.out",
                           work / "stat.err", timeout);
  // mdb_dump reads every key and value of every sub-database: a full walk
  // that fails on any unreadable page.
  r.dump_status =
      run_tool({dump.string(), "-a", state_dir.string()}, "/dev/null", work / "dump.err", timeout);
  std::string dump_err = slurp(work / "dump.err");
  if (r.dump_status != 0 &&
      dump_err.find("does not contain multiple databases") != std::string::npos) {
    // `mdb_dump -a` refuses an environment with no named databases at all:
    // a store whose first commit never became durable (T03 builds such
    // states). Walk the main database instead, which is all there is.
    r.dump_status =
        run_tool({dump.string(), state_dir.string()}, "/dev/null", work / "dump.err", timeout);
    dump_err = slurp(work / "dump.err");
  }
  r.output = slurp(work / "stat.out") + slurp(work / "stat.err");
  if (!dump_err.empty()) r.output += "mdb_dump: " + dump_err;
  r.ok = r.stat_status == 0 && r.dump_status == 0;
  std::error_code ec;
  fs::remove_all(work, ec);
  return r;
}

// ------------------------------------------------------------------ verdict

bool Verdict::valid() const noexcept {
  return lost.empty() && unexpected.empty() && resurrected.empty() && duplicates.empty() &&
         double_grants.empty() && false_available.empty() && (!integrity || integrity->ok);
}

std::string Verdict::report() const {
  std::ostringstream os;
  os << "history: " << ops << " ops (" << ok << " ok, " << fail << " fail, " << info << " info, "
     << pending << " pending), " << ok_allocates << " ok allocates, " << snapshots
     << " list snapshots, final list " << final_entries << " entries\n";
  for (const auto& [op, codes] : op_fail_codes) {
    os << op << " failures:";
    for (const auto& [code, n] : codes) os << " " << code << "=" << n;
    os << "\n";
  }
  auto section = [&](const char* name, const std::vector<std::string>& items) {
    os << name << ": " << items.size() << "\n";
    for (std::size_t i = 0; i < items.size() && i < 20; ++i) os << "  " << items[i] << "\n";
    if (items.size() > 20) os << "  ... " << items.size() - 20 << " more\n";
  };
  section("lost", lost);
  section("unexpected", unexpected);
  section("resurrected", resurrected);
  section("duplicate", duplicates);
  section("double grant", double_grants);
  section("false available", false_available);
  if (integrity) {
    os << "integrity: " << (integrity->ok ? "ok" : "FAILED") << " (mdb_stat "
       << integrity->stat_status << ", mdb_dump " << integrity->dump_status << ")\n";
    if (!integrity->ok) os << integrity->output << "\n";
  } else {
    os << "integrity: not checked\n";
  }
  os << (valid() ? "VALID" : "INVALID") << "\n";
  return os.str();
}

std::vector<std::string> find_duplicates(const std::vector<Allocation>& list) {
  std::vector<std::string> out;
  std::map<Port, const Allocation*> by_port;
  std::map<AllocationKey, const Allocation*> by_key;
  for (const Allocation& a : list) {
    auto [pit, pnew] = by_port.emplace(a.port, &a);
    if (!pnew) {
      out.push_back("port " + std::to_string(a.port) + " held by " +
                    describe(pit->second->key(), pit->second->port) + " (id " +
                    std::to_string(pit->second->id) + ") and " + describe(a.key(), a.port) +
                    " (id " + std::to_string(a.id) + ")");
    }
    auto [kit, knew] = by_key.emplace(a.key(), &a);
    if (!knew) {
      out.push_back("key " + to_string(a.key()) + " listed twice (ids " +
                    std::to_string(kit->second->id) + ", " + std::to_string(a.id) + ")");
    }
  }
  return out;
}

// ------------------------------------------------------------------ history

History::History() = default;
History::~History() = default;

OpHandle History::invoke(int process, OpType type, AllocationKey key, Port port) {
  const std::lock_guard lock(mutex_);
  OpRecord r;
  r.invoked = ++clock_;
  r.process = process;
  r.type = type;
  r.key = std::move(key);
  r.port = port;
  r.invoke_time = std::chrono::steady_clock::now();
  ops_.push_back(std::move(r));
  return ops_.size() - 1;
}

void History::ok(OpHandle h, Port port, std::uint64_t allocation_id) {
  const std::lock_guard lock(mutex_);
  OpRecord& r = ops_.at(h);
  r.completed = ++clock_;
  r.complete_time = std::chrono::steady_clock::now();
  r.outcome = Outcome::ok;
  if (r.type == OpType::allocate) {
    r.port = port;
    r.allocation_id = allocation_id;
  }
}

void History::ok_check(OpHandle h, bool available) {
  const std::lock_guard lock(mutex_);
  OpRecord& r = ops_.at(h);
  r.completed = ++clock_;
  r.complete_time = std::chrono::steady_clock::now();
  r.outcome = Outcome::ok;
  r.available = available;
}

void History::fail(OpHandle h, std::string code) {
  const std::lock_guard lock(mutex_);
  OpRecord& r = ops_.at(h);
  r.completed = ++clock_;
  r.complete_time = std::chrono::steady_clock::now();
  r.outcome = Outcome::fail;
  r.error = std::move(code);
}

void History::info(OpHandle h, std::string why) {
  const std::lock_guard lock(mutex_);
  OpRecord& r = ops_.at(h);
  r.completed = ++clock_;
  r.complete_time = std::chrono::steady_clock::now();
  r.outcome = Outcome::info;
  r.error = std::move(why);
}

namespace {

std::size_t entry_hash(const AllocationKey& key, Port port) {
  return std::hash<std::string>{}(describe(key, port));
}

}  // namespace

void History::snapshot(const std::vector<Allocation>& list, OpHandle h) {
  Snapshot snap;
  for (const Allocation& a : list) snap.entries.push_back(entry_hash(a.key(), a.port));
  std::sort(snap.entries.begin(), snap.entries.end());
  {
    const std::lock_guard lock(mutex_);
    const OpRecord& r = ops_.at(h);
    snap.invoked = r.invoked;
    snap.completed = r.completed;
    timed_snapshots_.push_back(std::move(snap));
  }
  snapshot(list);
}

void History::snapshot(const std::vector<Allocation>& list) {
  std::vector<std::string> dups = find_duplicates(list);
  const std::lock_guard lock(mutex_);
  ++snapshots_;
  for (std::string& d : dups)
    snapshot_duplicates_.push_back("snapshot " + std::to_string(snapshots_) + ": " + std::move(d));
}

void History::preexisting(const std::vector<Allocation>& list) {
  const std::lock_guard lock(mutex_);
  preexisting_.insert(preexisting_.end(), list.begin(), list.end());
}

std::vector<OpRecord> History::ops() const {
  const std::lock_guard lock(mutex_);
  return ops_;
}

std::size_t History::size() const {
  const std::lock_guard lock(mutex_);
  return ops_.size();
}

Verdict History::check(const std::vector<Allocation>& final_list) const {
  std::vector<OpRecord> ops;
  std::vector<Allocation> pre;
  std::vector<Snapshot> timed;
  Verdict v;
  {
    const std::lock_guard lock(mutex_);
    ops = ops_;
    pre = preexisting_;
    timed = timed_snapshots_;
    v.duplicates = snapshot_duplicates_;
    v.snapshots = snapshots_ + 1;
  }
  std::sort(timed.begin(), timed.end(),
            [](const Snapshot& x, const Snapshot& y) { return x.invoked < y.invoked; });
  for (std::string& d : find_duplicates(final_list)) v.duplicates.push_back("final list: " + d);
  v.final_entries = final_list.size();
  v.ops = ops.size();

  std::map<AllocationKey, std::vector<const OpRecord*>> by_key;
  for (const OpRecord& r : ops) {
    switch (r.outcome) {
      case Outcome::ok:
        ++v.ok;
        break;
      case Outcome::fail:
        ++v.fail;
        if (r.type == OpType::allocate) ++v.fail_codes[r.error];
        ++v.op_fail_codes[std::string(to_string(r.type))][r.error];
        break;
      case Outcome::info:
        ++v.info;
        break;
      case Outcome::pending:
        ++v.pending;
        break;
    }
    if (r.type == OpType::allocate || r.type == OpType::release) by_key[r.key].push_back(&r);
  }
  std::set<std::pair<AllocationKey, Port>> final_set;
  for (const Allocation& a : final_list) final_set.emplace(a.key(), a.port);

  constexpr std::uint64_t kForever = std::numeric_limits<std::uint64_t>::max();
  struct Hold {
    std::uint64_t from, to;
    const OpRecord* op;
  };
  std::map<Port, std::vector<Hold>> holds;

  // A release may have taken effect after allocate `a` when it was sent (ok,
  // info, or still pending) and did not complete before `a` was invoked.
  // Per key, releases sorted by completion with a suffix minimum of their
  // invocations answer "is there one, and when was the first sent" in
  // O(log n): histories of millions of ops on a few hundred keys are usual.
  struct Releases {
    std::vector<std::uint64_t> completed;    // sorted
    std::vector<std::uint64_t> min_invoked;  // min invoked over [i, end)
  };
  std::map<AllocationKey, Releases> releases;
  for (auto& [key, list] : by_key) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> rel;  // (completed, invoked)
    for (const OpRecord* r : list) {
      if (r->type != OpType::release || r->outcome == Outcome::fail) continue;
      rel.emplace_back(r->outcome == Outcome::pending ? kForever : r->completed, r->invoked);
    }
    std::sort(rel.begin(), rel.end());
    Releases& out = releases[key];
    out.completed.resize(rel.size());
    out.min_invoked.resize(rel.size());
    std::uint64_t m = kForever;
    for (std::size_t i = rel.size(); i-- > 0;) {
      m = std::min(m, rel[i].second);
      out.completed[i] = rel[i].first;
      out.min_invoked[i] = m;
    }
  }

  for (const OpRecord& a : ops) {
    if (a.type != OpType::allocate || a.outcome != Outcome::ok) continue;
    ++v.ok_allocates;
    const Releases& rel = releases[a.key];
    auto at = std::upper_bound(rel.completed.begin(), rel.completed.end(), a.invoked);
    bool released = at != rel.completed.end();
    std::uint64_t hold_end =
        released ? rel.min_invoked[static_cast<std::size_t>(at - rel.completed.begin())] : kForever;
    if (!released && !final_set.contains({a.key, a.port})) {
      v.lost.push_back(describe(a.key, a.port) + " (id " + std::to_string(a.allocation_id) +
                       ", process " + std::to_string(a.process) + ", acked at event " +
                       std::to_string(a.completed) + ") is missing from the final list");
    }
    // Certainly held from the ack until the first later release was sent.
    if (hold_end > a.completed) holds[a.port].push_back(Hold{a.completed, hold_end, &a});
    // So every snapshot taken wholly inside that interval must show it.
    auto from =
        std::upper_bound(timed.begin(), timed.end(), a.completed,
                         [](std::uint64_t at, const Snapshot& s) { return at < s.invoked; });
    for (auto s = from; s != timed.end() && s->invoked < hold_end; ++s) {
      if (s->completed >= hold_end) continue;
      if (std::binary_search(s->entries.begin(), s->entries.end(), entry_hash(a.key, a.port))) {
        continue;
      }
      v.lost.push_back(describe(a.key, a.port) + " (id " + std::to_string(a.allocation_id) +
                       ", process " + std::to_string(a.process) + ", acked at event " +
                       std::to_string(a.completed) + ") is missing from the list at events " +
                       std::to_string(s->invoked) + "-" + std::to_string(s->completed) +
                       ", before any release of it");
      break;
    }
  }

  for (const Allocation& f : final_list) {
    bool explained = false;
    for (const Allocation& p : pre)
      explained = explained || (p.key() == f.key() && p.port == f.port);
    auto it = by_key.find(f.key());
    if (it != by_key.end()) {
      for (const OpRecord* r : it->second) {
        if (r->type != OpType::allocate) continue;
        if (r->outcome == Outcome::ok && r->port == f.port) explained = true;
        // Indeterminate (or never completed): it may have been committed
        // with whatever port the daemon chose.
        if (r->outcome == Outcome::info || r->outcome == Outcome::pending) explained = true;
      }
    }
    if (it != by_key.end()) {
      // The latest completion of any allocate that may have taken effect
      // (a pending one never completed: it may still land at any time).
      std::uint64_t last_alloc = 0;
      for (const OpRecord* r : it->second) {
        if (r->type != OpType::allocate || r->outcome == Outcome::fail) continue;
        last_alloc = std::max(last_alloc, r->outcome == Outcome::pending ? kForever : r->completed);
      }
      for (const OpRecord* r : it->second) {
        if (r->type == OpType::release && r->outcome == Outcome::ok && r->invoked > last_alloc) {
          v.resurrected.push_back(
              describe(f.key(), f.port) + " (id " + std::to_string(f.id) +
              ") is in the final list although its release was acked at event " +
              std::to_string(r->completed));
          break;
        }
      }
    }
    if (!explained) {
      v.unexpected.push_back(describe(f.key(), f.port) + " (id " + std::to_string(f.id) +
                             ") is in the final list but no ok or info allocate explains it");
    }
  }

  for (auto& [port, list] : holds) {
    std::sort(list.begin(), list.end(),
              [](const Hold& x, const Hold& y) { return x.from < y.from; });
    for (std::size_t i = 0; i < list.size() && v.double_grants.size() < 100; ++i) {
      for (std::size_t j = i + 1; j < list.size() && list[j].from < list[i].to; ++j) {
        if (list[j].op->key == list[i].op->key) continue;
        v.double_grants.push_back(
            "port " + std::to_string(port) + " held by " + to_string(list[i].op->key) +
            " (events " + std::to_string(list[i].from) + "-" +
            (list[i].to == kForever ? std::string("end") : std::to_string(list[i].to)) +
            ") and granted to " + to_string(list[j].op->key) + " at event " +
            std::to_string(list[j].from));
        break;
      }
    }
  }
  for (const OpRecord& c : ops) {
    if (c.type != OpType::check || c.outcome != Outcome::ok || !c.available) continue;
    auto it = holds.find(c.port);
    if (it == holds.end()) continue;
    for (const Hold& h : it->second) {
      if (h.from < c.invoked && h.to > c.completed) {
        v.false_available.push_back("check of port " + std::to_string(c.port) + " (events " +
                                    std::to_string(c.invoked) + "-" + std::to_string(c.completed) +
                                    ") said available while " + to_string(h.op->key) + " held it");
        break;
      }
    }
  }
  return v;
}

// ---------------------------------------------------------- resilient client

ResilientClient::ResilientClient(fs::path socket, History& history, int process)
    : ResilientClient(std::move(socket), history, process, Options{}) {}

ResilientClient::ResilientClient(fs::path socket, History& history, int process, Options options)
    : socket_(std::move(socket)), history_(&history), process_(process), options_(options) {}

ResilientClient::~ResilientClient() = default;

void ResilientClient::disconnect() {
  conn_.reset();
}

bool ResilientClient::ensure_connected() {
  if (conn_) return true;
  auto deadline = std::chrono::steady_clock::now() + options_.reconnect_timeout;
  for (;;) {
    try {
      conn_ = std::make_unique<testing::RawClient>(socket_);
      return true;
    } catch (const std::runtime_error&) {
      // Refused or missing: the daemon is between lives (or, with socket
      // activation, the queue is full). Back off briefly and try again.
      ++refused_;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

namespace {

// Sends one request, retrying on a broken connection. Each attempt is its
// own op in the history: an attempt without a reply is `info`, the one that
// is answered is `ok` (on_response records it) or `fail`.
template <class OnResponse>
CallResult call_with_retries(History& history, int process, const ResilientClient::Options& options,
                             std::unique_ptr<testing::RawClient>& conn,
                             std::function<bool()> connect, std::size_t& reconnects, OpType type,
                             const AllocationKey& key, Port port, const proto::Request& request,
                             OnResponse&& on_response) {
  CallResult result;
  for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
    if (!connect()) {
      OpHandle h = history.invoke(process, type, key, port);
      history.fail(h, "unreachable");
      result.outcome = Outcome::fail;
      result.error_code = "unreachable";
      return result;
    }
    OpHandle h = history.invoke(process, type, key, port);
    result.attempts = attempt;
    std::string why;
    if (!conn->send(request)) {
      why = "send failed";
    } else if (auto r = conn->receive(options.reply_timeout)) {
      if (r->ok) {
        on_response(h, *r, result);
        result.outcome = Outcome::ok;
      } else {
        result.outcome = Outcome::fail;
        result.error = r->error ? std::optional<ErrorCode>(r->error->code()) : std::nullopt;
        result.error_code = r->error ? std::string(to_string(r->error->code())) : "unknown";
        history.fail(h, result.error_code);
      }
      return result;
    } else {
      why = "no reply (connection closed or timed out)";
    }
    // Indeterminate: the daemon may or may not have committed it.
    history.info(h, why);
    conn.reset();
    ++reconnects;
  }
  result.outcome = Outcome::info;
  return result;
}

}  // namespace

CallResult ResilientClient::allocate(const AllocationKey& key, Port port) {
  proto::Request req = testing::allocate_request(key.app, key.instance, key.service, port);
  return call_with_retries(
      *history_, process_, options_, conn_, [this] { return ensure_connected(); }, reconnects_,
      OpType::allocate, key, port, req,
      [&](OpHandle h, const proto::Response& r, CallResult& out) {
        const msgpack::object* a = r.find("allocation");
        if (!a) throw std::runtime_error("allocate reply without allocation");
        out.allocation = proto::unpack_allocation(*a);
        if (const msgpack::object* c = r.find("created")) out.created = c->as<bool>();
        history_->ok(h, out.allocation->port, out.allocation->id);
      });
}

CallResult ResilientClient::release(const AllocationKey& key) {
  proto::Request req = testing::make_request(proto::Op::release);
  req.filter.app = key.app;
  req.filter.instance = key.instance;
  req.filter.service = key.service;
  return call_with_retries(
      *history_, process_, options_, conn_, [this] { return ensure_connected(); }, reconnects_,
      OpType::release, key, 0, req,
      [&](OpHandle h, const proto::Response& r, CallResult& out) {
        if (const msgpack::object* n = r.find("released")) out.released = n->as<std::uint64_t>();
        history_->ok(h);
      });
}

CallResult ResilientClient::check(Port port) {
  proto::Request req = testing::make_request(proto::Op::check);
  req.port = port;
  return call_with_retries(
      *history_, process_, options_, conn_, [this] { return ensure_connected(); }, reconnects_,
      OpType::check, {}, port, req,
      [&](OpHandle h, const proto::Response& r, CallResult& out) {
        if (const msgpack::object* a = r.find("available")) out.available = a->as<bool>();
        history_->ok_check(h, out.available);
      });
}

std::vector<Allocation> ResilientClient::list() {
  proto::Request req = testing::make_request(proto::Op::list);
  std::vector<Allocation> all;
  OpHandle list_handle = 0;
  CallResult res = call_with_retries(
      *history_, process_, options_, conn_, [this] { return ensure_connected(); }, reconnects_,
      OpType::list, {}, 0, req,
      [&](OpHandle h, const proto::Response& r, CallResult&) {
        list_handle = h;
        const msgpack::object* arr = r.find("allocations");
        if (!arr || arr->type != msgpack::type::ARRAY) {
          throw std::runtime_error("list reply without allocations");
        }
        for (std::uint32_t i = 0; i < arr->via.array.size; ++i) {
          all.push_back(proto::unpack_allocation(arr->via.array.ptr[i]));
        }
        history_->ok(h);
      });
  if (res.outcome != Outcome::ok) {
    throw std::runtime_error("list failed: " + std::string(to_string(res.outcome)) + " " +
                             res.error_code);
  }
  history_->snapshot(all, list_handle);
  return all;
}

}  // namespace portd::reliability
