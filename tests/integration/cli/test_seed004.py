"""Seed 004 (the port-server/portctl reference) quick start and CLI contract:
explicit app/instance, explicit ports, the list table, check and release
outputs and exit codes (0 ok/available, 1 taken/failed, 2 usage)."""

import os
import re
import socket
import sys
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase, port_is_free  # noqa: E402


class Seed004(PortctlTestCase):

    def test_quick_start(self):
        # Run outside any repository: app and instance are explicit.
        r = self.portctl("allocate", "--app", "myapp", "--instance", "dev", "--service", "postgres")
        self.assertEqual(r.returncode, 0, r.stderr + self.log_tail())
        m = re.fullmatch(r"allocated port (\d+) \(id=1\) for myapp/dev/postgres\n", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        pg = int(m.group(1))
        if port_is_free(3000) and pg != 3000:
            self.fail(f"auto-assign should start at 3000, got {pg}")

        if not port_is_free(8080):
            self.skipTest("port 8080 is in use on this machine")
        out = self.ok("allocate", "--app", "myapp", "--instance", "dev", "--service", "web",
                      "--port", "8080")
        self.assertEqual(out, "allocated port 8080 (id=2) for myapp/dev/web\n")

        lines = self.ok("list").splitlines()
        self.assertEqual(len(lines), 3)
        header = lines[0]
        self.assertRegex(header, r"^ID {2}APP {4}INSTANCE {2}SERVICE {3}PORT {2}CREATED$")
        self.assertRegex(lines[1], rf"^1 {{3}}myapp {{2}}dev {{7}}postgres {{2}}{pg} {{2}}"
                                   r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertRegex(lines[2], r"^2 {3}myapp {2}dev {7}web {7}8080 {2}"
                                   r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        # Columns line up: every column starts where its header does.
        starts = [header.index(h) for h in ("APP", "INSTANCE", "SERVICE", "PORT", "CREATED")]
        for line in lines[1:]:
            for s in starts:
                self.assertNotEqual(line[s], " ", line)
                self.assertEqual(line[s - 1], " ", line)

        r = self.portctl("check", "--port", str(pg))
        self.assertEqual((r.returncode, r.stdout),
                         (1, f"port {pg} is allocated to myapp/dev/postgres (id=1)\n"))

        self.assertEqual(self.ok("release", "--id", "1"), "released allocation 1\n")
        r = self.portctl("check", "--port", str(pg))
        self.assertEqual((r.returncode, r.stdout), (0, f"port {pg} is available\n"))

    def test_allocate_is_idempotent(self):
        args = ("allocate", "--app", "myapp", "--instance", "dev", "--service", "postgres")
        first = self.ok(*args)
        m = re.fullmatch(r"allocated port (\d+) \(id=(\d+)\) for myapp/dev/postgres\n", first)
        self.assertIsNotNone(m, first)
        second = self.ok(*args)
        self.assertEqual(second, f"port {m.group(1)} (id={m.group(2)}) is already allocated to "
                                 "myapp/dev/postgres\n")
        self.assertEqual(self.ok(*args, "-q"), f"{m.group(1)}\n")
        self.assertEqual(len(self.list_json()), 1)

    def test_explicit_port_conflict_names_the_holder(self):
        port = int(self.ok("allocate", "--app", "other", "--instance", "dev", "--service", "db",
                           "-q").strip())
        r = self.portctl("allocate", "--app", "myapp", "--instance", "dev", "--service", "pg",
                         "--port", str(port))
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("portctl: "), r.stderr)
        self.assertIn("other/dev/db", r.stderr)

    def test_check_reports_a_process_that_has_the_port(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", 0))
            s.listen()
            port = s.getsockname()[1]
            r = self.portctl("check", "--port", str(port))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertRegex(r.stdout, rf"^port {port} is in use by ")
            if "pid" in r.stdout:
                self.assertIn(f"pid {os.getpid()}", r.stdout)

    def test_check_json(self):
        port = int(self.ok("allocate", "--app", "a", "--instance", "b", "--service", "c",
                           "-q").strip())
        r = self.portctl("check", "--port", str(port), "--json")
        self.assertEqual(r.returncode, 1)
        import json
        data = json.loads(r.stdout)
        self.assertEqual(data["port"], port)
        self.assertFalse(data["available"])
        self.assertEqual(data["holder"]["service"], "c")

    def test_release_errors(self):
        r = self.portctl("release", "--id", "999")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("portctl: "), r.stderr)
        r = self.portctl("release", "--app", "nosuchapp")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no allocations matched", r.stderr)

    def test_usage_errors_exit_2(self):
        for args in (("allocate",),                       # --service missing
                     ("check",),                          # --port missing
                     ("list", "--bogus"),
                     ("frobnicate",),
                     ()):
            r = self.portctl(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout}{r.stderr}")
        r = self.portctl("allocate", "--service", "web")  # outside a repository
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "portctl: not inside a git repository: pass --app and "
                                   "--instance (or set PORTCTL_APP/PORTCTL_INSTANCE)\n")
        r = self.portctl("allocate", "--service", "web",
                         env={"PORTCTL_APP": "envapp", "PORTCTL_INSTANCE": "envinst"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"for envapp/envinst/web\n$")

    def test_validation_failures_exit_1(self):
        # The seed's contract: a value that fails validation is an error (1),
        # not a usage error (2); the message names the option and the rule.
        for args in (("allocate", "--app", "a", "--instance", "b", "--service", "web",
                      "--port", "70000"),
                     ("check", "--port", "70000"),
                     ("check", "--port", "0"),
                     ("check", "--port", "abc"),
                     ("release", "--port", "65536"),
                     ("list", "--port", "99999")):
            r = self.portctl(*args)
            self.assertEqual(r.returncode, 1, f"{args}: {r.stdout}{r.stderr}")
            self.assertTrue(r.stderr.startswith("portctl: "), r.stderr)
            self.assertIn("--port", r.stderr)
            self.assertIn(args[-1], r.stderr)
            self.assertEqual(r.stdout, "")
        # The daemon's own validation exits 1 as well.
        r = self.portctl("allocate", "--app", "bad/app", "--instance", "b", "--service", "web")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("invalid app 'bad/app'", r.stderr)

    def test_help_and_version_exit_0(self):
        r = self.portctl("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("allocate", r.stdout)
        r = self.portctl("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^portctl \d+\.\d+\.\d+")

    def test_health(self):
        out = self.ok("health")
        self.assertRegex(out, r"^portd \S+ is healthy \(pid \d+")
        self.ok("version")


if __name__ == "__main__":
    harness.main()
