"""Autostart: portctl starts exactly one detached portd when nothing answers
at the socket, and --no-autostart / PORTD_NO_AUTOSTART turn that off."""

import os
import stat
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PORTCTL, PortctlTestCase, daemon_pids  # noqa: E402


class Autostart(PortctlTestCase):

    def test_allocate_starts_the_daemon(self):
        self.assertEqual(daemon_pids(self.socket), [])
        self.assertFalse(os.path.exists(self.socket))
        out = self.ok("allocate", "--app", "myapp", "--instance", "dev", "--service", "web")
        self.assertRegex(out, r"^allocated port \d+ \(id=1\) for myapp/dev/web\n$")

        pids = daemon_pids(self.socket)
        self.assertEqual(len(pids), 1)
        with open(f"/proc/{pids[0]}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        self.assertEqual(argv[1:], ["--socket", self.socket, "--idle-exit", "900"])
        # Detached: a session of its own (double fork: it is not the session
        # leader, so it can never acquire a terminal), stdin is /dev/null.
        self.assertNotEqual(os.getsid(pids[0]), os.getsid(0))
        self.assertNotEqual(os.getsid(pids[0]), pids[0])
        self.assertEqual(os.getpgid(pids[0]), os.getsid(pids[0]))
        self.assertEqual(os.readlink(f"/proc/{pids[0]}/fd/0"), "/dev/null")
        self.assertEqual(os.path.realpath(f"/proc/{pids[0]}/fd/2"), self.log)
        self.assertTrue(os.path.isfile(self.log))
        mode = stat.S_IMODE(os.stat(os.path.dirname(self.socket)).st_mode)
        self.assertEqual(mode, 0o700)

        # The next call uses the running daemon.
        self.ok("list")
        self.assertEqual(daemon_pids(self.socket), pids)

    def test_racing_clients_start_exactly_one_daemon(self):
        env = dict(self.env)
        procs = [subprocess.Popen([PORTCTL, "allocate", "--app", "race", "--instance", "x",
                                   "--service", f"svc{i}", "-q"],
                                  env=env, cwd=self.tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for i in range(8)]
        ports = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err + self.log_tail())
            ports.append(int(out.strip()))
        self.assertEqual(len(set(ports)), 8, ports)
        self.assertEqual(len(daemon_pids(self.socket)), 1)
        self.assertEqual(len(self.list_json("--all")), 8)

    def test_no_autostart_flag(self):
        r = self.portctl("--no-autostart", "list")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"failed to connect to portd at '{self.socket}'", r.stderr)
        self.assertIn("autostart is off; start portd first", r.stderr)
        self.assertEqual(daemon_pids(self.socket), [])
        # The flag is accepted after the subcommand too.
        r = self.portctl("list", "--no-autostart")
        self.assertEqual(r.returncode, 1)

    def test_no_autostart_environment(self):
        r = self.portctl("health", env={"PORTD_NO_AUTOSTART": "1"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("autostart is off by PORTD_NO_AUTOSTART", r.stderr)
        self.assertEqual(daemon_pids(self.socket), [])

    def test_failing_daemon_names_socket_and_log(self):
        fake = os.path.join(self.tmp, "broken-portd")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'error: database is corrupt' >&2\nexit 1\n")
        os.chmod(fake, 0o755)
        start = time.monotonic()
        r = self.portctl("list", env={"PORTD_BIN": fake})
        self.assertEqual(r.returncode, 1)
        self.assertIn("failed to start portd", r.stderr)
        self.assertIn("error: database is corrupt", r.stderr)
        self.assertIn(self.socket, r.stderr)
        self.assertIn(self.log, r.stderr)
        # A daemon that exits is noticed without waiting for the timeout.
        self.assertLess(time.monotonic() - start, 4.5)

    def test_missing_daemon_binary(self):
        r = self.portctl("list", env={"PORTD_BIN": os.path.join(self.tmp, "nope")})
        self.assertEqual(r.returncode, 1)
        self.assertIn("PORTD_BIN", r.stderr)

    def test_stale_socket_file_is_replaced(self):
        # A socket file without a listener (a daemon killed with SIGKILL).
        import socket as pysocket
        os.makedirs(os.path.dirname(self.socket), mode=0o700, exist_ok=True)
        s = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
        s.bind(self.socket)
        s.close()
        self.ok("allocate", "--app", "a", "--instance", "b", "--service", "c")
        self.assertEqual(len(daemon_pids(self.socket)), 1)

    def test_explicit_socket_flag(self):
        sock = os.path.join(self.tmp, "run", "custom", "my.sock")
        self.addCleanup(lambda: [os.kill(pid, 15) for pid in daemon_pids(sock)])
        out = self.ok("--socket", sock, "allocate", "--app", "a", "--instance", "b",
                      "--service", "c", "-q")
        self.assertTrue(out.strip().isdigit())
        self.assertEqual(len(daemon_pids(sock)), 1)
        self.assertEqual(daemon_pids(self.socket), [])
        r = self.portctl("list", "--json", "--socket", sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"service": "c"', r.stdout)
        r = self.portctl("--no-autostart", "list")  # the default socket has no daemon
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    harness.main()
