// One place that decides what an exception thrown while running a batch
// means for the batch (batch.cpp): exit, redo with refusals, or
// answer just the one request.
#pragma once

#include <optional>
#include <string>

#include "model/error.hpp"

namespace portd::daemon {

enum class FailureKind {
  fatal,       ///< store::StoreFatal: EIO or MDB_PANIC; the process must exit
  disk_full,   ///< store::DiskFull: growing the map cannot help
  map_full,    ///< Error(store_full): grow the map and run the batch again
  request,     ///< another portd::Error: the request's own error reply
  unexpected,  ///< any other std::exception (std::bad_alloc, or a bug)
};

struct Failure {
  FailureKind kind;
  std::string message;
  std::optional<Error> error;  ///< set for FailureKind::request
};

/// Classifies the exception being handled. Call only inside a catch block;
/// an exception not derived from std::exception propagates unchanged.
Failure classify_current_exception();

}  // namespace portd::daemon
