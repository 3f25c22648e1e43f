"""portctl against a daemon at its connection limit (portctl(1) EXIT STATUS,
portd-protocol(7) ERRORS "busy"): the refusal reaches the user as "portd is
busy", with exit status 1, after portctl has retried for its connect timeout;
a call made while a slot frees up succeeds."""

import os
import socket
import subprocess
import time

import harness  # noqa: E402
from harness import PORTCTL, PortctlTestCase, frame, read_frame

LIMIT = 2
# {"v": 1, "id": 1, "op": "health"} in MessagePack.
HEALTH = b"\x83\xa1v\x01\xa2id\x01\xa2op\xa6health"


class BusyTest(PortctlTestCase):
    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.tmp, "config", "portd"))
        with open(os.path.join(self.tmp, "config", "portd", "portd.toml"), "w") as f:
            f.write(f"[limits]\nmax_connections = {LIMIT}\n")
        self.ok("health")  # autostarts the daemon with that config
        self.held = []
        self.addCleanup(self.release_all)

    def release_all(self):
        for s in self.held:
            s.close()

    def hold_slot(self):
        """Opens a connection and proves it holds a slot: a health request
        on it is answered (a refused one gets busy and is closed). The
        previous portctl's connection may still be closing, so retry."""
        deadline = time.monotonic() + 10
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(self.socket)
            s.sendall(frame(HEALTH))
            try:
                reply = read_frame(s)
            except (EOFError, ConnectionResetError):
                reply = b""
            if b"\xa2ok\xc3" in reply:
                self.held.append(s)
                return
            s.close()
            self.assertIn(b"busy", reply)
            self.assertLess(time.monotonic(), deadline, "no connection slot came free")
            time.sleep(0.05)

    def test_full_daemon_is_reported_as_busy(self):
        for _ in range(LIMIT):
            self.hold_slot()
        r = self.portctl("list")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stderr, f"portctl: portd is busy ({LIMIT} connections); try again\n")
        self.assertEqual(r.stdout, "")

        # JSON output reports the same failure; the code stays on stderr.
        r = self.portctl("--json", "check", "--port", "45999")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("portd is busy", r.stderr)

    def test_retry_succeeds_once_a_slot_frees(self):
        for _ in range(LIMIT):
            self.hold_slot()
        env = dict(self.env)
        p = subprocess.Popen([PORTCTL, "list", "--json"], env=env, cwd=self.tmp,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)
        # portctl retries for its 2 s connect timeout; free a slot well inside it.
        time.sleep(0.3)
        self.held.pop().close()
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err + self.log_tail())
        self.assertEqual(out.strip(), "[]")


if __name__ == "__main__":
    harness.main()
