// The measuring loop the micro-floors share (lmdb_floor, probe_floor): their
// common options, a monotonic clock, and the one JSON line bench/run.sh
// reads from each measurement.
#pragma once

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace floor_loop {

/// Nanoseconds on CLOCK_MONOTONIC.
inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Options after the positional argument: `--<count_flag> N` (iterations),
/// `--duration S` (seconds), `--pin CPU` (applied at once, sched_setaffinity(2)).
struct Options {
  long count;
  double duration;
};

inline Options parse(int argc, char** argv, const std::string& count_flag, Options defaults) {
  Options o = defaults;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == count_flag) o.count = std::strtol(argv[i + 1], nullptr, 10);
    if (a == "--duration") o.duration = std::strtod(argv[i + 1], nullptr);
    if (a == "--pin") {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(std::atoi(argv[i + 1]), &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
  }
  return o;
}

/// Runs `step` (returns false to stop with exit status 1) until o.count
/// iterations or o.duration seconds, then prints to stderr
/// "<name>: N <what> in S s: p50 .. us p99 .. us" and to stdout the line
/// {"<what>":N,"rps":per second,"p50_us":..,"p99_us":..,"p999_us":..}.
/// Returns the process exit status.
template <class Step>
int run(const char* name, const char* what, const Options& o, Step&& step) {
  std::vector<std::uint64_t> lat;
  const std::uint64_t t0 = now_ns();
  const std::uint64_t end = t0 + static_cast<std::uint64_t>(o.duration * 1e9);
  for (long i = 0; i < o.count && now_ns() < end; ++i) {
    const std::uint64_t t = now_ns();
    if (!step(i)) return 1;
    lat.push_back(now_ns() - t);
  }
  if (lat.empty()) return 1;
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return static_cast<double>(
               lat[static_cast<std::size_t>(p / 100.0 * static_cast<double>(lat.size() - 1))]) /
           1000.0;
  };
  std::fprintf(stderr, "%s: %zu %s in %.2f s: p50 %.2f us p99 %.2f us\n", name, lat.size(), what,
               secs, pct(50), pct(99));
  std::printf("{\"%s\":%zu,\"rps\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f}\n", what,
              lat.size(), static_cast<double>(lat.size()) / secs, pct(50), pct(99), pct(99.9));
  return 0;
}

}  // namespace floor_loop
