"""What check, stats, auto-assign and release say about a port, against the
real daemon: a reserved port is reported as reserved; stats FREE leaves out
ports the OS holds; an ended lease stops holding its port before gc runs;
release --port finds the holder whatever app the current directory is."""

import json
import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase, port_is_free  # noqa: E402


def free_run(length, start=24000, stop=32000):
    """The first port of `length` consecutive ports that nothing has bound."""
    port = start
    while port + length <= stop:
        if all(port_is_free(p) for p in range(port, port + length)):
            return port
        port += length
    raise unittest.SkipTest(f"no {length} free consecutive ports in {start}-{stop}")


class PortState(PortctlTestCase):

    def write_config(self, text):
        os.makedirs(os.path.join(self.tmp, "config", "portd"), exist_ok=True)
        with open(os.path.join(self.tmp, "config", "portd", "portd.toml"), "w") as f:
            f.write(text)

    def test_check_reports_a_reserved_port(self):
        port = free_run(1)
        self.write_config(f"reserved = [{port}]\n")
        r = self.portctl("check", "--port", str(port))
        self.assertEqual((r.returncode, r.stdout), (1, f"port {port} is reserved\n"),
                         r.stderr + self.log_tail())
        data = json.loads(self.portctl("check", "--port", str(port), "--json").stdout)
        self.assertEqual((data["available"], data["reserved"]), (False, True))

    def test_stats_free_leaves_out_ports_the_os_holds(self):
        first = free_run(3)
        self.write_config(f'[[pool]]\nname = "default"\nrange = "{first}-{first + 2}"\n')
        held = []
        for port in (first, first + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.bind(("127.0.0.1", port))
            s.listen()
            held.append(s)
        pool = json.loads(self.ok("stats", "--json"))["pools"][0]
        self.assertEqual((pool["size"], pool["allocated"], pool["free"]), (3, 0, 1), pool)
        out = self.ok("stats")
        self.assertRegex(out, rf"\ndefault\s+{first}-{first + 2}\s+3\s+0\s+1\s+67%\n")
        # What stats calls free, allocate hands out; then nothing is left.
        self.assertEqual(self.ok("allocate", "--app", "a", "--instance", "i", "--service", "s",
                                 "-q"), f"{first + 2}\n")
        r = self.portctl("allocate", "--app", "a", "--instance", "i", "--service", "t")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("no free port", r.stderr)

    def test_an_ended_lease_stops_holding_its_port_before_gc(self):
        port = free_run(1)
        self.write_config(f'[[pool]]\nname = "default"\nrange = "{port}-{port}"\n')
        self.assertEqual(self.ok("allocate", "--app", "a", "--instance", "i", "--service", "s",
                                 "--ttl", "5", "-q"), f"{port}\n")
        # 5 s, not 1: on a loaded machine two portctl runs can take a second.
        r = self.portctl("check", "--port", str(port))
        self.assertEqual(r.returncode, 1, r.stdout)
        time.sleep(6.1)  # the lease ends after 5 s; timestamps are whole seconds
        r = self.portctl("check", "--port", str(port))
        self.assertEqual((r.returncode, r.stdout), (0, f"port {port} is available\n"))
        # The pool's only port goes to another key by auto-assign, without gc.
        self.assertEqual(self.ok("allocate", "--app", "b", "--instance", "i", "--service", "s",
                                 "-q"), f"{port}\n")
        rows = self.list_json()
        self.assertEqual([(a["app"], a["port"]) for a in rows], [("b", port)])

    def test_release_by_port_ignores_the_app_of_the_current_directory(self):
        repo = self.make_repo("alpha")
        port = int(self.ok("allocate", "--app", "beta", "--instance", "dev", "--service", "web",
                           "-q").strip())
        r = self.portctl("release", "--port", str(port), cwd=repo)
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stdout)
        self.assertRegex(r.stdout, r"^released allocation \d+\n$")
        self.assertEqual(self.list_json(), [])
        # An explicit --app still narrows the match.
        port = int(self.ok("allocate", "--app", "beta", "--instance", "dev", "--service", "web",
                           "-q").strip())
        r = self.portctl("release", "--port", str(port), "--app", "alpha", cwd=repo)
        self.assertEqual((r.returncode, r.stderr), (1, "no allocations matched\n"))
        self.assertEqual(len(self.list_json()), 1)


if __name__ == "__main__":
    harness.main()
