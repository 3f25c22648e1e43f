// portctl watch: one line per allocation event until interrupted.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "model/time.hpp"
#include "portctl/commands.hpp"
#include "portctl/output.hpp"

namespace portctl {
namespace {

int run_watch(Context& ctx) {
  bool json = ctx.flags.json;
  ctx.client().watch([json](const portd::client::WatchEvent& ev) {
    const auto& a = ev.allocation;
    if (ev.event == "overflow") {
      // Like `tail -F` after a truncation: say so on stderr and go on; the
      // client library watches again on a new connection.
      fmt::print(stderr,
                 "portctl: portd dropped this watch: it fell behind and events were lost; "
                 "watching again\n");
      if (json) print_json(Json{{"event", "overflow"}}, true);
      std::fflush(stdout);
      return true;
    }
    if (json) {
      Json j = Json::object();
      j["event"] = ev.event;
      j["allocation"] = to_json(a);
      print_json(j, true);
    } else if (ev.event == "allocated") {
      fmt::print("{} allocated port {} (id={}) for {}\n", local_time(portd::unix_now()), a.port,
                 a.id, key_of(a));
    } else if (ev.event == "released") {
      fmt::print("{} released port {} (id={}) of {}\n", local_time(portd::unix_now()), a.port, a.id,
                 key_of(a));
    } else {
      fmt::print("{} {} port {} (id={}) {}\n", local_time(portd::unix_now()), ev.event, a.port,
                 a.id, key_of(a));
    }
    std::fflush(stdout);  // a pipe reader should see each event at once
    return true;
  });
  return 1;  // watch() returns only when the daemon ends the stream
}

}  // namespace

Runner setup_watch(CLI::App&) {
  return [](Context& ctx) { return run_watch(ctx); };
}

}  // namespace portctl
