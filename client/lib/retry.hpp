// Retrying a daemon that refuses connections (portd-protocol(7) ERRORS,
// "busy"): the refusal is the only frame of its connection, sent with id 0.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "lib/transport.hpp"
#include "model/error.hpp"
#include "portd/client.hpp"
#include "proto/codec.hpp"

namespace portd::client::detail {

// Sends `frame` and reads one reply before `deadline`. A refused connection
// is closed with its reply already sent: when the send fails, a reply that is
// already buffered is returned rather than the broken pipe.
inline proto::Response exchange(Connection& c, const std::string& frame,
                                Clock::time_point deadline) {
  try {
    c.send_all(frame, deadline);
  } catch (const ConnectionLost&) {
    try {
      const auto now = Clock::now();
      return proto::decode_response(c.read_frame(&now));
    } catch (const std::exception&) {
    }
    throw;
  }
  return proto::decode_response(c.read_frame(&deadline));
}

// Waits between attempts while the daemon answers `busy`: a jittered,
// doubling backoff (so that many refused clients do not come back in step),
// for at most `budget` after the first refusal.
class BusyRetry {
 public:
  explicit BusyRetry(std::chrono::milliseconds budget) : budget_(budget) {}

  // Sleeps before the next attempt; throws Error(busy) once the budget is spent.
  void wait(const portd::Error& busy) {
    const auto now = Clock::now();
    if (!deadline_) {
      deadline_ = now + budget_;
      rng_.seed(static_cast<std::uint32_t>(now.time_since_epoch().count()) ^
                static_cast<std::uint32_t>(::getpid()));
    }
    if (now >= *deadline_) {
      const auto& limit = busy.limit();
      throw Error(ErrorCode::busy,
                  limit ? fmt::format("portd is busy ({} connections); try again", *limit)
                        : std::string("portd is busy; try again"));
    }
    std::uniform_int_distribution<std::int64_t> jitter(step_.count() / 2, step_.count());
    auto pause = std::chrono::milliseconds(jitter(rng_));
    pause = std::min(pause, std::chrono::duration_cast<std::chrono::milliseconds>(
                                *deadline_ - now + std::chrono::milliseconds(1)));
    std::this_thread::sleep_for(pause);
    step_ = std::min(step_ * 2, kMaxStep);
  }

 private:
  static constexpr std::chrono::milliseconds kMaxStep{250};
  std::chrono::milliseconds budget_;
  std::chrono::milliseconds step_{10};
  std::optional<Clock::time_point> deadline_;
  std::minstd_rand rng_;
};

}  // namespace portd::client::detail
