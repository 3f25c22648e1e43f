// Checks of the store file made before LMDB reads any of it: a file too
// short to hold a commit is set aside, a truncated one is refused.
#pragma once

#include <lmdb.h>

#include <filesystem>
#include <string>
#include <vector>

namespace portd::store::detail {

/// Before mdb_env_open: an empty <dir>/data.mdb is left for LMDB to
/// initialise, one shorter than two pages (no complete header, so never
/// a commit) is renamed data.mdb.partial. Both start an empty registry; a
/// sentence saying so is appended to `warnings`. Throws Error(internal)
/// when the rename fails.
void set_aside_partial_file(const std::filesystem::path& dir, std::vector<std::string>& warnings);

/// After mdb_env_open, before any read: throws Error(internal) naming the
/// file and what to do when <dir>/data.mdb is shorter than the pages its
/// newest commit uses (me_last_pgno + 1 pages of ms_psize bytes), which
/// LMDB would otherwise meet as SIGBUS in the middle of a read. The file
/// is not touched.
void check_file_size(MDB_env* env, const std::filesystem::path& dir);

}  // namespace portd::store::detail
