// Example: allocate a port with libportd-client and print it.
//
//   c++ -std=c++17 allocate.cpp $(pkg-config --cflags --libs portd-client)
//   ./a.out myapp dev web      -> 3042
//
// Uses only the installed header <portd/client.hpp>. The daemon is started on
// demand if it is not running (set PORTD_NO_AUTOSTART=1 to forbid that).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <portd/client.hpp>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s APP INSTANCE SERVICE\n", argv[0]);
    return 2;
  }
  try {
    portd::client::Client client;  // default socket, autostart on
    portd::client::AllocateRequest request;
    request.app = argv[1];
    request.instance = argv[2];
    request.service = argv[3];
    portd::client::AllocateResult result = client.allocate(request);
    std::printf("%u\n", static_cast<unsigned>(result.allocation.port));
    return 0;
  } catch (const portd::client::Error& e) {
    // e.code() is the protocol error code; e.holder() names who holds a port.
    std::fprintf(stderr, "allocate failed (%s): %s\n", std::string(to_string(e.code())).c_str(),
                 e.what());
    return 1;
  }
}
