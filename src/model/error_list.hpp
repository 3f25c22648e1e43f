// The one list of portd's wire error codes (portd-protocol(7) "ERRORS").
//
// The daemon's ErrorCode, the codec's wire spellings, the client library's
// public ErrorCode and portctl's exit status all come from this list, so a
// new code is added here and nowhere else. Each row is
//   X(code, exit_status, retryable)
// where `code` is both the enumerator and the wire spelling, `exit_status` is
// what portctl(1) exits with when the daemon answers with it ("EXIT STATUS")
// and `retryable` says whether the same request, sent again unchanged on a
// new connection, may succeed without anything else changing (only `busy`).
// The order numbers the daemon's internal enum only; the client library's
// public enum matches these codes by name and appends new ones at its end.
#pragma once

#define PORTD_ERROR_LIST(X)        \
  X(invalid_request, 1, false)     \
  X(unsupported_version, 1, false) \
  X(unknown_op, 1, false)          \
  X(port_taken, 1, false)          \
  X(port_in_use, 1, false)         \
  X(port_reserved, 1, false)       \
  X(key_exists, 1, false)          \
  X(not_found, 1, false)           \
  X(pool_exhausted, 1, false)      \
  X(frame_too_large, 1, false)     \
  X(permission_denied, 1, false)   \
  X(store_full, 1, false)          \
  X(internal, 1, false)            \
  X(busy, 1, true)
