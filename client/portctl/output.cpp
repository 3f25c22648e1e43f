#include "portctl/output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "model/time.hpp"
#include "sys/read_file.hpp"

namespace portctl {

Json to_json(const portd::client::Allocation& a) {
  // Json is an ordered_json: keys come out in the documented schema order.
  Json j = Json::object();
  j["id"] = a.id;
  j["app"] = a.app;
  j["instance"] = a.instance;
  j["service"] = a.service;
  j["port"] = a.port;
  j["pool"] = a.pool;
  j["description"] = a.description;
  j["worktree"] = a.worktree;
  j["pid"] = a.pid;
  j["allocated_by"] = a.allocated_by;
  j["created_at"] = rfc3339(a.created_at);
  j["expires_at"] = a.expires_at ? Json(rfc3339(a.expires_at)) : Json(nullptr);
  return j;
}

Json to_json(const std::vector<portd::client::Allocation>& list) {
  Json arr = Json::array();
  for (const auto& a : list) arr.push_back(to_json(a));
  return arr;
}

namespace {

std::int64_t time_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    if (auto t = portd::parse_rfc3339(it->get<std::string>())) return *t;
  }
  throw std::runtime_error(fmt::format("field '{}' is not an RFC 3339 time", key));
}

template <class T>
T number_field(const Json& j, const char* key, std::uint64_t max) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
    throw std::runtime_error(fmt::format("field '{}' is not a non-negative integer", key));
  }
  auto v = it->get<std::uint64_t>();
  if (v > max) throw std::runtime_error(fmt::format("field '{}' is out of range", key));
  return static_cast<T>(v);
}

std::string string_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) throw std::runtime_error(fmt::format("field '{}' is not a string", key));
  return it->get<std::string>();
}

}  // namespace

portd::client::Allocation allocation_from_json(const Json& j) {
  if (!j.is_object()) throw std::runtime_error("an allocation is not a JSON object");
  portd::client::Allocation a;
  a.id = number_field<std::uint64_t>(j, "id", UINT64_MAX);
  a.app = string_field(j, "app");
  a.instance = string_field(j, "instance");
  a.service = string_field(j, "service");
  a.port = number_field<std::uint16_t>(j, "port", 65535);
  a.pool = string_field(j, "pool");
  a.description = string_field(j, "description");
  a.worktree = string_field(j, "worktree");
  a.pid = number_field<std::uint32_t>(j, "pid", UINT32_MAX);
  a.allocated_by = string_field(j, "allocated_by");
  a.created_at = time_field(j, "created_at");
  a.expires_at = time_field(j, "expires_at");
  return a;
}

void print_json(const Json& j, bool compact) {
  std::string text = j.dump(compact ? -1 : 2, ' ', false, Json::error_handler_t::replace);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string key_of(const portd::client::Allocation& a) {
  return fmt::format("{}/{}/{}", a.app, a.instance, a.service);
}

std::string local_time(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string rfc3339(std::int64_t seconds) {
  return portd::format_rfc3339(seconds);
}

std::string env_var_name(std::string_view service) {
  std::string name;
  name.reserve(service.size() + 6);
  for (char c : service) {
    if (c >= 'a' && c <= 'z') {
      name += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      name += c;
    } else {
      name += '_';
    }
  }
  if (!name.empty() && name[0] >= '0' && name[0] <= '9') name.insert(name.begin(), '_');
  return name + "_PORT";
}

std::vector<std::pair<std::string, std::uint16_t>> port_variables(
    const std::vector<portd::client::Allocation>& list) {
  std::vector<std::pair<std::string, std::uint16_t>> vars;
  vars.reserve(list.size());
  for (const auto& a : list) vars.emplace_back(env_var_name(a.service), a.port);
  std::sort(vars.begin(), vars.end());
  return vars;
}

std::string describe(const portd::client::Error& e) {
  std::string msg = e.what();
  if (const auto& h = e.holder()) {
    std::string key = key_of(*h);
    if (msg.find(key) == std::string::npos) {
      msg += fmt::format(" (held by {}, id={}, port {})", key, h->id, h->port);
    }
  }
  if (e.owner_pid() != 0 && msg.find(std::to_string(e.owner_pid())) == std::string::npos) {
    msg += e.owner_command().empty()
               ? fmt::format(" (pid {})", e.owner_pid())
               : fmt::format(" (pid {}, {})", e.owner_pid(), e.owner_command());
  }
  return msg;
}

std::string Style::wrap(std::string_view code, std::string_view s) const {
  if (!enabled_) return std::string(s);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

void Table::print(std::FILE* out, const Style& style) const {
  std::vector<std::size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (std::size_t i = 0; i < row.size(); ++i) {
      s += row[i];
      if (i + 1 < row.size()) s.append(width[i] - row[i].size() + 2, ' ');
    }
    return s;
  };
  fmt::print(out, "{}\n", style.bold(line(header_)));
  for (const auto& r : rows_) fmt::print(out, "{}\n", line(r));
}

std::string read_file_or_throw(const std::filesystem::path& path) {
  std::optional<std::string> text = portd::sys::read_file(path);
  if (!text) {
    throw std::runtime_error(
        fmt::format("failed to read '{}': {}", path.string(), std::strerror(errno)));
  }
  return std::move(*text);
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           std::optional<mode_t> wanted) {
  auto fail = [&](const char* step) {
    return std::runtime_error(
        fmt::format("failed to write '{}': {}: {}", path.string(), step, std::strerror(errno)));
  };
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw fail("create a temporary file");
  struct stat st {};
  mode_t mode;
  if (wanted) {
    mode = *wanted & 07777;
  } else if (::stat(path.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    mode_t mask = ::umask(0);  // read the umask: a new file gets 0666 & ~umask
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  auto cleanup = [&] {
    ::close(fd);
    ::unlink(tmpl.c_str());
  };
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto e = fail("write");
      cleanup();
      throw e;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    auto e = fail("sync");
    cleanup();
    throw e;
  }
  if (::close(fd) != 0) {
    auto e = fail("close");
    ::unlink(tmpl.c_str());
    throw e;
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    auto e = fail("rename");
    ::unlink(tmpl.c_str());
    throw e;
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace portctl
