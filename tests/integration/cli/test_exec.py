"""portctl exec: the port flag for dev servers that ignore PORT, and --listen
(listening sockets passed as sd_listen_fds(3) describes)."""

import json
import os
import socket
import stat
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PORTCTL, PortctlTestCase  # noqa: E402

# A stand-in for npx: prints each argument it got on its own line.
FAKE_NPX = "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n"


class ExecPortFlag(PortctlTestCase):

    def setUp(self):
        super().setUp()
        self.repo = self.make_repo("myapp")
        bin_dir = os.path.join(self.tmp, "bin")
        os.makedirs(bin_dir)
        npx = os.path.join(bin_dir, "npx")
        with open(npx, "w") as f:
            f.write(FAKE_NPX)
        os.chmod(npx, stat.S_IRWXU)
        self.path_env = {"PATH": bin_dir + os.pathsep + self.env.get("PATH", "/usr/bin:/bin")}

    def npx(self, *args):
        out = self.ok("exec", *args, cwd=self.repo, env=self.path_env)
        return out.splitlines()

    def test_vite_through_npx_gets_port_and_strict_port(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        self.allocate("--service", "postgres", cwd=self.repo)
        self.assertEqual(self.npx("--service", "web", "--", "npx", "vite"),
                         ["vite", "--port", str(web), "--strictPort"])

    def test_ng_serve_gets_port(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        self.assertEqual(self.npx("--", "npx", "ng", "serve", "--open"),
                         ["ng", "serve", "--open", "--port", str(web)])

    def test_command_naming_a_port_is_left_alone(self):
        self.allocate("--service", "web", cwd=self.repo)
        self.assertEqual(self.npx("--", "npx", "vite", "--port", "5173"),
                         ["vite", "--port", "5173"])
        self.assertEqual(self.npx("--", "npx", "vite", "-p", "5173"), ["vite", "-p", "5173"])

    def test_no_port_flag(self):
        self.allocate("--service", "web", cwd=self.repo)
        self.assertEqual(self.npx("--no-port-flag", "--", "npx", "vite"), ["vite"])

    def test_unknown_tool_is_left_alone(self):
        self.allocate("--service", "web", cwd=self.repo)
        self.assertEqual(self.npx("--", "npx", "serve"), ["serve"])

    def test_several_services_without_service_warns(self):
        self.allocate("--service", "web", cwd=self.repo)
        self.allocate("--service", "postgres", cwd=self.repo)
        r = self.portctl("exec", "--", "npx", "vite", cwd=self.repo, env=self.path_env)
        self.assertEqual((r.returncode, r.stdout), (0, "vite\n"))
        self.assertIn("pass --service", r.stderr)

    def test_help_lists_the_table(self):
        out = self.ok("exec", "--help")
        self.assertIn("--no-port-flag", out)
        self.assertRegex(out, r"vite +--port N --strictPort")
        self.assertRegex(out, r"ng serve +--port N")

# The served child: reports what sd_listen_fds(3) would see, then answers one
# connection on each passed socket with the service name.
SERVER = r"""
import json, os, socket, sys
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
# Descriptors pointing at sockets other than the passed ones leak portctl's.
others = []
for f in fds:
    if f >= 3 + n:
        try:
            if os.readlink(f"/proc/self/fd/{f}").startswith("socket:"):
                others.append(f)
        except OSError:
            pass
print(json.dumps({"pid": os.getpid(), "listen_pid": int(os.environ["LISTEN_PID"]),
                  "fds": n, "names": names, "port": os.environ.get("PORT"),
                  "leaked_sockets": others}), flush=True)
for i in range(n):
    s = socket.socket(fileno=3 + i)
    c, _ = s.accept()
    c.sendall(names[i].encode())
    c.close()
"""


class ExecListen(PortctlTestCase):

    def setUp(self):
        super().setUp()
        self.repo = self.make_repo("myapp")

    def start(self, *args):
        env = dict(self.env)
        proc = subprocess.Popen([PORTCTL, "exec", *args, "--", sys.executable, "-c", SERVER],
                                cwd=self.repo, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        def stop():
            proc.kill()
            proc.communicate()  # closes the pipes
        self.addCleanup(stop)
        line = proc.stdout.readline()
        if not line:
            self.fail(f"server printed nothing: {proc.stderr.read()}")
        return proc, json.loads(line)

    def fetch(self, port, family=socket.AF_INET):
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
        with socket.create_connection((host, port), timeout=10) as c:
            return c.recv(100).decode()

    def test_serves_on_fd_3(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        proc, info = self.start("--listen")
        self.assertEqual(info["listen_pid"], info["pid"])
        self.assertEqual(proc.pid, info["pid"])  # portctl ran the command in place
        self.assertEqual((info["fds"], info["names"], info["port"]), (1, ["web"], str(web)))
        self.assertEqual(info["leaked_sockets"], [])
        self.assertEqual(self.fetch(web), "web")
        self.assertEqual(proc.wait(timeout=30), 0)

    def test_several_services_in_the_order_given(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        api, *_ = self.allocate("--service", "api", cwd=self.repo)
        self.allocate("--service", "postgres", cwd=self.repo)
        proc, info = self.start("--listen", "--service", "web", "--service", "api")
        self.assertEqual((info["fds"], info["names"], info["port"]), (2, ["web", "api"], str(web)))
        self.assertEqual(info["leaked_sockets"], [])
        self.assertEqual(self.fetch(web), "web")
        family = socket.AF_INET6 if socket.has_ipv6 and self.ipv6_loopback() else socket.AF_INET
        self.assertEqual(self.fetch(api, family), "api")
        self.assertEqual(proc.wait(timeout=30), 0)

    def ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
            return True
        except OSError:
            return False

    def test_port_bound_elsewhere_fails_before_running(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind(("0.0.0.0", web))
            blocker.listen()
            r = self.portctl("exec", "--listen", "--", "sh", "-c", "echo ran", cwd=self.repo)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn(f"failed to listen on port {web}", r.stderr)

    def test_without_listen_inherited_variables_are_dropped(self):
        self.allocate("--service", "web", cwd=self.repo)
        out = self.ok("exec", "--", "sh", "-c", "echo \"[${LISTEN_FDS-unset}]\"", cwd=self.repo,
                      env={"LISTEN_FDS": "3", "LISTEN_PID": "1"})
        self.assertEqual(out, "[unset]\n")


if __name__ == "__main__":
    harness.main()
