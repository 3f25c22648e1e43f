#include "sys/read_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "sys/unique_fd.hpp"

namespace portd::sys {

std::optional<std::string> read_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  // /proc files report size 0, so read in chunks instead of trusting fstat.
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace portd::sys
