"""portctl doctor (portctl(1) "doctor"): a healthy setup exits 0; each check,
broken on purpose, prints its warn/fail line with a fix and exits 1; doctor
never starts the daemon."""

import json
import os
import socket
import subprocess
import time

import harness


class DoctorTest(harness.PortctlTestCase):

    def doctor(self, *args, env=None):
        return self.portctl("doctor", *args, env=env)

    def start_daemon(self):
        self.ok("health")

    def assert_line(self, result, level, name, text=""):
        """Asserts exit 1 and a `<level> <name>: ...text...` line followed by a fix."""
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        lines = result.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"{level:<4} {name}: ") and text in line:
                self.assertTrue(i + 1 < len(lines) and lines[i + 1].startswith("     fix: "),
                                f"no fix under {line!r}:\n{result.stdout}")
                return lines[i + 1]
        self.fail(f"no '{level} {name}: ...{text}...' line in:\n{result.stdout}")

    def write_config(self, text):
        path = os.path.join(self.tmp, "config", "portd", "portd.toml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def test_healthy_setup_exits_0(self):
        self.start_daemon()
        r = self.doctor()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok   versions: portctl ", r.stdout)
        self.assertIn("ok   store: ", r.stdout)
        self.assertNotIn("fix:", r.stdout)
        self.assertTrue(r.stdout.endswith("no problems found\n"), r.stdout)

    def test_daemon_down_is_a_failure_and_doctor_does_not_start_it(self):
        r = self.doctor()
        fix = self.assert_line(r, "fail", "daemon", "portd is not running")
        self.assertIn("portctl health (autostarts)", fix)
        self.assertIn("systemctl --user start portd.socket", fix)
        self.assertFalse(os.path.exists(self.socket), "doctor started a daemon")
        self.assertEqual(harness.daemon_pids(self.socket), [])

    def test_socket_dir_open_to_others(self):
        self.start_daemon()
        os.chmod(os.path.dirname(self.socket), 0o755)
        fix = self.assert_line(self.doctor(), "fail", "socket-dir", "mode 0755")
        self.assertIn("chmod 700", fix)

    def test_stale_socket_file(self):
        os.makedirs(os.path.dirname(self.socket), mode=0o700)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.socket)
        s.close()  # the file stays; nobody listens
        r = self.doctor()
        self.assert_line(r, "warn", "socket", "stale socket")
        self.assert_line(r, "fail", "daemon", "portd is not running")
        self.assertTrue(os.path.exists(self.socket), "doctor removed the socket")

    def test_state_dir_mode_0777(self):
        state = os.path.join(self.tmp, "state", "portd")
        os.makedirs(state)
        os.chmod(state, 0o777)
        fix = self.assert_line(self.doctor(), "fail", "state-dir", "mode 0777")
        self.assertEqual(fix, f"     fix: chmod 700 '{state}'")

    def test_config_parse_error(self):
        self.write_config("[[pool]\nname = 'web'\n")
        fix = self.assert_line(self.doctor(), "fail", "config", "portd.toml:1:")
        self.assertIn("portd.toml(5)", fix)

    def test_pool_in_ephemeral_range(self):
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                first, last = (int(x) for x in f.read().split())
        except OSError:
            self.skipTest("no /proc/sys/net/ipv4/ip_local_port_range")
        end = min(first + 100, 65535)
        self.write_config(f'default_pool = "eph"\n[[pool]]\nname = "eph"\n'
                          f'range = "{first - 10}-{end}"\n')
        self.assert_line(self.doctor(), "warn", "pool eph",
                         f"ephemeral port range {first}-{last}")

    def test_pool_with_browser_unsafe_port(self):
        self.write_config('default_pool = "x11"\n[[pool]]\nname = "x11"\nrange = "5990-6010"\n')
        fix = self.assert_line(self.doctor(), "warn", "pool x11", "browser-unsafe port 6000")
        self.assertIn("reserved", fix)
        # Listed under reserved, the port is a deliberate choice: no warning.
        self.write_config('default_pool = "x11"\nreserved = [6000]\n'
                          '[[pool]]\nname = "x11"\nrange = "5990-6010"\n')
        self.assertIn("ok   pool x11: 5990-6010: 20 of 21 ports", self.doctor().stdout)

    def test_xdg_runtime_dir_unset(self):
        env = dict(self.env)
        del env["XDG_RUNTIME_DIR"]
        r = subprocess.run([harness.PORTCTL, "doctor"], env=env, capture_output=True,
                           text=True, timeout=60)
        fix = self.assert_line(r, "warn", "runtime-dir", f"/tmp/portd-{os.geteuid()}")
        self.assertIn("XDG_RUNTIME_DIR", fix)

    def test_second_daemon_holding_the_state_dir(self):
        other = os.path.join(self.tmp, "other", "portd.sock")
        daemon = subprocess.Popen([harness.PORTD_BIN, "--socket", other], env=self.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(daemon.wait, 10)
        self.addCleanup(daemon.terminate)
        deadline = time.monotonic() + 10
        while not os.path.exists(other) and time.monotonic() < deadline:
            time.sleep(0.02)
        fix = self.assert_line(self.doctor(), "fail", "second-daemon", f"pid {daemon.pid}")
        self.assertIn(f"kill {daemon.pid}", fix)

    def test_json(self):
        r = self.doctor("--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        report = json.loads(r.stdout)
        self.assertFalse(report["healthy"])
        daemon = [c for c in report["checks"] if c["name"] == "daemon"]
        self.assertEqual(daemon[0]["status"], "fail")
        self.assertIn("portctl health", daemon[0]["fix"])
        self.start_daemon()
        report = json.loads(self.ok("doctor", "--json"))
        self.assertTrue(report["healthy"])
        self.assertEqual({c["status"] for c in report["checks"]}, {"ok"})
        self.assertTrue(all(c["fix"] is None for c in report["checks"]))


harness.main()
