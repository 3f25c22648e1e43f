"""portctl who and portctl free against real server processes: who names
the pid, user, command and directory of what holds a port; free stops the
caller's own holders (SIGTERM, then SIGKILL) and refuses other users'."""

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase, port_is_free  # noqa: E402

# A TCP server on 127.0.0.1:PORT that ignores SIGTERM and only dies by SIGKILL.
STUBBORN = """
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    time.sleep(1)
"""


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WhoFree(PortctlTestCase):

    def start_server(self, argv, cwd=None):
        """Starts argv (a server on self.port); returns the Popen once it listens."""
        proc = subprocess.Popen(argv, cwd=cwd or self.tmp, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop, proc)
        deadline = time.monotonic() + 10
        while port_is_free(self.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.fail(f"server {argv} did not start (exit {proc.poll()})")
            time.sleep(0.05)
        return proc

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def http_server(self):
        self.port = unused_port()
        self.site = os.path.join(self.tmp, "site")
        os.makedirs(self.site)
        return self.start_server([sys.executable, "-m", "http.server", str(self.port),
                                  "--bind", "127.0.0.1"], cwd=self.site)

    def test_who_names_pid_user_command_and_directory(self):
        server = self.http_server()
        user = pwd.getpwuid(os.getuid()).pw_name
        out = self.ok("who", "--port", str(self.port))
        self.assertIn(f"port {self.port} is not allocated\n", out)
        self.assertIn(f"  pid {server.pid} (user {user}): {sys.executable} -m http.server "
                      f"{self.port} --bind 127.0.0.1\n", out)
        self.assertIn(f"    directory: {self.site}\n", out)
        self.assertIn(f"    sockets: tcp 127.0.0.1:{self.port} listen\n", out)

        data = json.loads(self.ok("who", "--port", str(self.port), "--json"))
        self.assertIsNone(data["allocation"])
        [sock] = data["sockets"]
        self.assertEqual((sock["pid"], sock["user"], sock["cwd"], sock["protocol"], sock["state"]),
                         (server.pid, user, self.site, "tcp", "listen"))
        self.assertIn("http.server", sock["command"])

        # Registered and bound: who and check name the allocation and the process.
        self.ok("allocate", "--app", "shop", "--instance", "dev", "--service", "web",
                "--port", str(self.port), "--force")
        out = self.ok("who", "--port", str(self.port))
        self.assertRegex(out, rf"^port {self.port} is allocated to shop/dev/web \(id=1\)\n")
        r = self.portctl("check", "--port", str(self.port))
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"port {self.port} is allocated to shop/dev/web (id=1)\n", r.stdout)
        self.assertIn(f"  pid {server.pid} (user {user}): ", r.stdout)
        self.assertIn(f"    directory: {self.site}\n", r.stdout)

    def test_who_on_a_free_port_exits_1(self):
        self.port = unused_port()
        r = self.portctl("who", "--port", str(self.port))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, f"port {self.port} is not allocated\n"
                                   f"port {self.port} is not bound by any process\n")

    def test_free_stops_the_server_and_releases(self):
        server = self.http_server()
        self.ok("allocate", "--app", "shop", "--instance", "dev", "--service", "web",
                "--port", str(self.port), "--force")
        out = self.ok("free", "--port", str(self.port), "--yes", "--release")
        self.assertIn(f"sent SIGTERM to pid {server.pid}\n", out)
        self.assertNotIn("SIGKILL", out)
        self.assertTrue(out.endswith(f"released allocation 1\nport {self.port} is free\n"), out)
        self.assertIsNotNone(server.wait(timeout=5))
        self.assertTrue(port_is_free(self.port))
        self.assertEqual(self.list_json(), [])

    def test_free_kills_a_server_that_ignores_sigterm(self):
        self.port = unused_port()
        server = self.start_server([sys.executable, "-c", STUBBORN, str(self.port)])
        out = self.ok("free", "--port", str(self.port), "--yes", "--timeout", "0.5")
        self.assertIn(f"sent SIGTERM to pid {server.pid}\nsent SIGKILL to pid {server.pid}\n",
                      out)
        self.assertEqual(server.wait(timeout=5), -9)
        self.assertTrue(port_is_free(self.port))

    def test_free_refuses_another_users_server(self):
        setpriv = shutil.which("setpriv")
        if os.geteuid() != 0 or setpriv is None:
            self.skipTest("SKIPPED LOUDLY: needs root and setpriv to run a server as uid 65534")
        self.port = unused_port()
        server = self.start_server([setpriv, "--reuid", "65534", "--regid", "65534",
                                    "--clear-groups", sys.executable, "-c", STUBBORN,
                                    str(self.port)])
        other = pwd.getpwuid(65534).pw_name if _has_uid(65534) else "65534"
        r = self.portctl("free", "--port", str(self.port), "--yes")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"port {self.port} is held by pid {server.pid} of user {other}", r.stderr)
        self.assertIn("only your own processes", r.stderr)
        self.assertNotIn("sent", r.stdout)
        self.assertIsNone(server.poll(), "the other user's server must still run")
        self.assertFalse(port_is_free(self.port))

    def test_free_of_a_free_port_succeeds(self):
        self.port = unused_port()
        self.assertEqual(self.ok("free", "--port", str(self.port), "--yes"),
                         f"port {self.port} is free\n")


def _has_uid(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


if __name__ == "__main__":
    harness.main()
