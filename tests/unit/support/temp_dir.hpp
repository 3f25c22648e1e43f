// A private temporary directory removed with its contents at scope exit.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace portd::testing {

class TempDir {
 public:
  /// Creates a directory under $TMPDIR (default /tmp); on `prefer_memory`,
  /// under /dev/shm when it exists, so fsync-heavy tests cost no disk I/O.
  explicit TempDir(bool prefer_memory = false) {
    std::filesystem::path base = std::filesystem::temp_directory_path();
    if (prefer_memory && std::filesystem::is_directory("/dev/shm")) base = "/dev/shm";
    std::string tmpl = (base / "portd-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed in " + base.string());
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace portd::testing
