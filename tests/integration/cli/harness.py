"""Shared fixture for the portctl integration tests (stdlib only).

Every test gets fresh XDG_RUNTIME_DIR / XDG_STATE_HOME / XDG_CONFIG_HOME and
HOME directories, so the daemon that portctl autostarts (PORTD_BIN) is private
to the test; tearDown kills it. Environment: PORTCTL (the portctl binary) and
PORTD_BIN (the daemon binary).

Each script ends with `harness.main()`, which reports every test method as
one TAP line (meson's `protocol: 'tap'`), so that a skipped scenario counts
as skipped, not passed, in meson's summary and its JUnit log.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

PORTCTL = os.environ.get("PORTCTL", "portctl")
PORTD_BIN = os.environ.get("PORTD_BIN", "portd")

ALLOCATED_RE = re.compile(
    r"^allocated port (\d+) \(id=(\d+)\) for ([^/\s]+)/([^/\s]+)/([^/\s]+)$")


def daemon_pids(socket_path):
    """pids of portd processes (running PORTD_BIN) that serve socket_path."""
    pids = []
    binary = os.path.realpath(PORTD_BIN)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            exe = os.path.realpath(f"/proc/{entry}/exe")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if exe != binary and os.path.realpath(argv[0].decode(errors="replace")) != binary:
            continue
        if socket_path.encode() in argv:
            # A zombie has no cmdline, so anything here is alive.
            pids.append(int(entry))
    return pids


def frame(payload):
    """`payload` with portd's 4-byte big-endian length prefix
    (portd-protocol(7) FRAMING)."""
    return struct.pack(">I", len(payload)) + payload


def read_frame(sock):
    """The payload of the next frame on `sock`; EOFError when portd closes
    the connection first."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("portd closed the connection")
            buf += chunk
        return buf
    (length,) = struct.unpack(">I", exactly(4))
    return exactly(length)


def port_is_free(port):
    """True when nothing on this machine has TCP `port` bound (IPv4 wildcard)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


class PortctlTestCase(unittest.TestCase):
    """Base class: private directories, a portctl runner, daemon cleanup."""

    def setUp(self):
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="portctl-it-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "PORTD_", "PORTCTL_", "GIT_"))}
        for name in ("run", "state", "config", "home"):
            os.makedirs(os.path.join(self.tmp, name), mode=0o700)
        env.update({
            "XDG_RUNTIME_DIR": os.path.join(self.tmp, "run"),
            "XDG_STATE_HOME": os.path.join(self.tmp, "state"),
            "XDG_CONFIG_HOME": os.path.join(self.tmp, "config"),
            "HOME": os.path.join(self.tmp, "home"),
            "PORTD_BIN": PORTD_BIN,
            "NO_COLOR": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        })
        self.env = env
        self.socket = os.path.join(self.tmp, "run", "portd", "portd.sock")
        self.log = os.path.join(self.tmp, "state", "portd", "portd.log")
        self.addCleanup(self.kill_daemons)

    # --- running things -------------------------------------------------

    def portctl(self, *args, cwd=None, env=None, input=None, timeout=60):
        """Runs portctl; returns CompletedProcess with text stdout/stderr."""
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        return subprocess.run([PORTCTL, *args], cwd=cwd or self.tmp, env=full_env,
                              input=input, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args, **kw):
        """Runs portctl, asserts exit status 0, returns stdout."""
        r = self.portctl(*args, **kw)
        self.assertEqual(r.returncode, 0,
                         f"portctl {' '.join(args)} failed: {r.stdout}{r.stderr}{self.log_tail()}")
        return r.stdout

    def allocate(self, *args, cwd=None):
        """portctl allocate ...; returns (port, id, app, instance, service)."""
        out = self.ok("allocate", *args, cwd=cwd).strip()
        m = ALLOCATED_RE.match(out)
        self.assertIsNotNone(m, f"unexpected allocate output: {out!r}")
        return int(m.group(1)), int(m.group(2)), m.group(3), m.group(4), m.group(5)

    def list_json(self, *args, cwd=None):
        return json.loads(self.ok("list", "--json", *args, cwd=cwd))

    def git(self, *args, cwd):
        subprocess.run(["git", *args], cwd=cwd, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def make_repo(self, name, branch="main"):
        """A git repository with one commit at <tmp>/src/<name>."""
        path = os.path.join(self.tmp, "src", name)
        os.makedirs(path)
        self.git("init", "-q", "-b", branch, cwd=path)
        with open(os.path.join(path, "README"), "w") as f:
            f.write("x\n")
        self.git("add", "README", cwd=path)
        self.git("commit", "-q", "-m", "init", cwd=path)
        return path

    def add_worktree(self, repo, name):
        path = os.path.join(os.path.dirname(repo), name)
        self.git("worktree", "add", "-q", "-b", name, path, cwd=repo)
        return path

    # --- daemon handling ------------------------------------------------

    def log_tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return "\n--- portd.log ---\n" + "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def kill_daemons(self):
        pids = set(daemon_pids(self.socket))
        r = subprocess.run([PORTCTL, "--no-autostart", "health", "--json"], env=self.env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            try:
                pids.add(int(json.loads(r.stdout)["pid"]))
            except (ValueError, KeyError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if os.path.exists(f"/proc/{p}") and not _is_zombie(p)}
            time.sleep(0.02)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # portd is not our child, so its exit status is out of reach; but
        # a sanitizer build (tests/sanitize.sh) writes its reports, leaks
        # found at the SIGTERM exit included, to the daemon's log.
        try:
            with open(self.log, errors="replace") as f:
                log = f.read()
        except OSError:
            log = ""
        for marker in ("ERROR: LeakSanitizer", "ERROR: AddressSanitizer", "runtime error:"):
            if marker in log:
                self.fail(f"portd's log has a sanitizer report ({marker}):\n{log[-4000:]}")
        if pids:
            self.fail(f"portd {sorted(pids)} did not exit within 5 s of SIGTERM"
                      f"{self.log_tail()}")


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class _TapResult(unittest.TestResult):
    """Prints one TAP line per test; details go to stderr (meson's log)."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.number = 0

    def _line(self, ok, test, directive=""):
        self.number += 1
        name = test.id().rsplit(".", 2)[-2:]
        print(f"{'ok' if ok else 'not ok'} {self.number} {'.'.join(name)}{directive}",
              file=self.out, flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        traceback.print_exception(*err, file=sys.stderr)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        traceback.print_exception(*err, file=sys.stderr)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        # TAP's directive: meson records the test as skipped, with the reason.
        self._line(True, test, f" # SKIP {reason}")
        print(f"SKIPPED {test.id()}: {reason}", file=sys.stderr)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(True, test, " # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(False, test, " # unexpected success")


def main():
    """Runs the calling script's tests, reporting them in TAP version 13.

    See https://testanything.org/tap-version-13-specification.html. Exits 0
    when no test failed (skips included), 1 otherwise.
    """
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    # The TAP stream keeps the real stdout; anything else written to fd 1
    # (a print, a child process) goes to stderr so it cannot break it.
    sys.stdout.flush()
    tap = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    print("TAP version 13", file=tap)
    print(f"1..{suite.countTestCases()}", file=tap, flush=True)
    result = _TapResult(tap)
    suite.run(result)
    tap.flush()
    sys.exit(0 if result.wasSuccessful() else 1)
