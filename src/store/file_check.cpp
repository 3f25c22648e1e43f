#include "store/file_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "model/error.hpp"

namespace portd::store::detail {

// LMDB creates a store by writing its two meta pages in one pwrite. If that
// write came back short (a full disk, a crash during the very first start)
// the file is shorter than two pages, holds no commit, and every later open
// fails with MDB_INVALID: portd could never start again (reliability T07).
// Such a file holds nothing, so move it aside and let LMDB start afresh; an
// empty file is left for LMDB to initialise. Either way the registry starts
// empty, which the user must hear about: the reason goes into `warnings`.
void set_aside_partial_file(const std::filesystem::path& dir, std::vector<std::string>& warnings) {
  const std::filesystem::path data = dir / "data.mdb";
  struct stat st {};
  if (::lstat(data.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (st.st_size == 0) {
    warnings.push_back(
        fmt::format("the store file '{}' was empty (0 bytes): starting with an "
                    "empty registry; restore a backup with 'portctl import' if "
                    "allocations are missing",
                    data.string()));
    return;
  }
  if (st.st_size >= 2 * ::sysconf(_SC_PAGESIZE)) return;
  const std::filesystem::path aside = dir / "data.mdb.partial";
  if (::rename(data.c_str(), aside.c_str()) != 0) {
    throw Error(ErrorCode::internal, fmt::format("failed to move the partial store file '{}' "
                                                 "aside: {}",
                                                 data.string(), std::strerror(errno)));
  }
  warnings.push_back(
      fmt::format("the store file '{}' was only {} bytes, less than its two "
                  "header pages: moved it to '{}' and started with an empty "
                  "registry; restore a backup with 'portctl import' if "
                  "allocations are missing",
                  data.string(), st.st_size, aside.string()));
}

// LMDB maps the file and trusts its meta page: a page past the end of a
// truncated file is touched only when a cursor reaches it, and then the
// process dies of SIGBUS with nothing said. Compare the file's size with
// the last page the newest commit uses before anything reads the data.
void check_file_size(MDB_env* env, const std::filesystem::path& dir) {
  MDB_envinfo info{};
  MDB_stat stat{};
  if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0) return;
  if (info.me_last_txnid == 0) return;  // new store: nothing to read yet
  const std::filesystem::path data = dir / "data.mdb";
  struct stat st {};
  if (::stat(data.c_str(), &st) != 0) return;
  const auto needed = (static_cast<std::uintmax_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  if (static_cast<std::uintmax_t>(st.st_size) >= needed) return;
  throw Error(ErrorCode::internal,
              fmt::format("the store file '{}' is truncated: it has {} bytes but its last "
                          "commit uses {} bytes ({} pages of {}); the file was left as it is. "
                          "Restore it from a backup, or stop portd, move the state directory "
                          "'{}' aside and start again with an empty registry",
                          data.string(), st.st_size, needed, info.me_last_pgno + 1, stat.ms_psize,
                          dir.string()));
}

}  // namespace portd::store::detail
