// One machine-readable line per reliability test run, for the figures table
// in README.md: tests/reliability/figures.py collects these lines from
// meson's test log (docs/testing.md, "Reliability figures").
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace portd::reliability {

/// The tier this run measures: "long" when PORTD_LONG is set and not "0"
/// (the long tier's loop counts), otherwise "quick".
inline std::string_view figure_tier() {
  const char* v = std::getenv("PORTD_LONG");
  return v && *v && std::string_view(v) != "0" ? "long" : "quick";
}

/// `n` with thousands separators, as the README writes counts: 480587 ->
/// "480,587".
inline std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/// `x` with `decimals` digits after the point: fixed(0.2141, 2) -> "0.21".
inline std::string fixed(double x, int decimals) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << x;
  return out.str();
}

/// Prints "FIGURE <test> <tier>: <text>" as one line on stdout (flushed, so
/// that a later crash cannot lose it). `test` is the docs/testing.md id
/// ("T01"); `text` is the README cell built from what the run measured and
/// must not contain a newline. Call it once per run, after measuring and
/// before asserting, so that a failing run still shows its figure.
inline void report_figure(std::string_view test, std::string_view text) {
  std::cout << "FIGURE " << test << ' ' << figure_tier() << ": " << text << std::endl;
}

}  // namespace portd::reliability
