"""Invalid UTF-8 from a raw socket (portd-protocol(7) ERRORS): a request whose
strings are not UTF-8 is refused with invalid_request naming the field, the
reply never echoes the raw bytes, nothing is stored, and the connection and
the daemon keep serving. Stdlib only; PORTD_BIN is the daemon under test."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

# The framing helpers are the CLI harness's (stdlib only, like this test).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "integration", "cli"))
from harness import frame, read_frame  # noqa: E402

PORTD_BIN = os.environ.get("PORTD_BIN", "portd")


def mp_str(s):
    """A MessagePack str of the given bytes (fixstr or str8 only)."""
    if isinstance(s, str):
        s = s.encode()
    if len(s) < 32:
        return bytes([0xa0 | len(s)]) + s
    assert len(s) < 256
    return b"\xd9" + bytes([len(s)]) + s


def request(request_id, op, **fields):
    """A framed request map; field values are str/bytes or small ints."""
    entries = [(b"v", b"\x01"), (b"id", bytes([request_id])), (b"op", mp_str(op))]
    for k, v in fields.items():
        entries.append((k.encode(), bytes([v]) if isinstance(v, int) else mp_str(v)))
    return frame(bytes([0x80 | len(entries)]) + b"".join(mp_str(k) + v for k, v in entries))


class InvalidUtf8Test(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="portd-utf8-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "PORTD_"))}
        for name in ("run", "state", "config"):
            os.makedirs(os.path.join(self.tmp, name), mode=0o700)
            env["XDG_" + {"run": "RUNTIME_DIR", "state": "STATE_HOME",
                          "config": "CONFIG_HOME"}[name]] = os.path.join(self.tmp, name)
        self.socket = os.path.join(self.tmp, "run", "portd.sock")
        self.daemon = subprocess.Popen([PORTD_BIN, "--socket", self.socket], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self.stop)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):
            self.assertIsNone(self.daemon.poll(), "portd exited during start-up")
            self.assertLess(time.monotonic(), deadline, "portd did not create its socket")
            time.sleep(0.02)
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.settimeout(10)
        self.conn.connect(self.socket)
        self.addCleanup(self.conn.close)

    def stop(self):
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon.stderr.close()

    def call(self, frame):
        self.conn.sendall(frame)
        return read_frame(self.conn)

    def test_invalid_utf8_is_refused_by_field(self):
        bad = b"caf\xc3(\xff\xfe"
        cases = [
            ("description", dict(app="a", instance="b", service="c", description=bad)),
            ("worktree", dict(app="a", instance="b", service="c", worktree=b"/w/" + bad)),
            ("service", dict(app="a", instance="b", service=b"w" + bad)),
        ]
        for i, (field, fields) in enumerate(cases, start=1):
            reply = self.call(request(i, "allocate", **fields))
            self.assertIn(b"\xa2ok\xc2", reply, reply)  # "ok": false
            self.assertIn(b"invalid_request", reply)
            self.assertIn(f"field '{field}' is not valid UTF-8".encode(), reply)
            self.assertNotIn(b"\xff\xfe", reply)  # the peer's bytes are not echoed
            self.assertNotIn(b"caf\xc3", reply)

        # Nothing was stored, and the same connection is still served.
        reply = self.call(request(9, "list"))
        self.assertIn(b"\xa2ok\xc3", reply)
        self.assertIn(mp_str("allocations") + b"\x90", reply)  # an empty array
        self.assertIsNone(self.daemon.poll())

    def test_control_bytes_in_names_are_escaped(self):
        reply = self.call(request(1, "allocate", app="a", instance="b",
                                  service=b"w\x1b[2J"))
        self.assertIn(b"invalid_request", reply)
        self.assertIn(b"invalid service 'w\\x1b[2J'", reply)
        self.assertNotIn(b"\x1b", reply)


if __name__ == "__main__":
    unittest.main(verbosity=2)
