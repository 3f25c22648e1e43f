"""The remaining portctl commands against a real daemon: status, stats, gc,
export/import, watch, version."""

import json
import os
import shutil
import socket
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PORTCTL, PortctlTestCase  # noqa: E402


class Commands(PortctlTestCase):

    def test_status_shows_what_listens(self):
        repo = self.make_repo("myapp")
        web, web_id, *_ = self.allocate("--service", "web", cwd=repo)
        pg, pg_id, *_ = self.allocate("--service", "postgres", cwd=repo)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", web))
            s.listen()
            out = self.ok("status", cwd=repo)
            data = json.loads(self.ok("status", "--json", cwd=repo))
        lines = out.splitlines()
        self.assertEqual(lines[0], "myapp/main")
        self.assertRegex(lines[1], r"^ID\s+SERVICE\s+PORT\s+STATE$")
        self.assertRegex(out, rf"\n{web_id}\s+web\s+{web}\s+listening")
        self.assertRegex(out, rf"\n{pg_id}\s+postgres\s+{pg}\s+not listening")
        state = {d["allocation"]["service"]: d["listening"] for d in data}
        self.assertEqual(state, {"web": True, "postgres": False})

    def test_stats(self):
        self.ok("allocate", "--app", "a", "--instance", "b", "--service", "c")
        out = self.ok("stats")
        self.assertRegex(out.splitlines()[0], r"^POOL\s+RANGE\s+SIZE\s+ALLOCATED\s+FREE\s+USED$")
        self.assertRegex(out, r"\ndefault\s+3000-9999\s+\d+\s+1\s+\d+\s+0%\n")
        self.assertNotIn("warning", out)
        data = json.loads(self.ok("stats", "--json"))
        self.assertEqual(data["allocations"], 1)
        self.assertEqual(data["pools"][0]["name"], "default")

    def test_stats_warns_about_a_nearly_full_pool(self):
        os.makedirs(os.path.join(self.tmp, "config", "portd"))
        with open(os.path.join(self.tmp, "config", "portd", "portd.toml"), "w") as f:
            f.write('default_pool = "default"\n\n'
                    '[[pool]]\nname = "default"\nrange = "3000-8999"\n\n'
                    '[[pool]]\nname = "tiny"\nrange = "9400-9409"\nservices = ["tinysvc"]\n')
        for i in range(9):
            r = self.portctl("allocate", "--app", "a", "--instance", f"i{i}", "--service",
                             "tinysvc")
            self.assertEqual(r.returncode, 0, r.stderr + self.log_tail())
            self.assertRegex(r.stdout, r"allocated port 940\d ")
        out = self.ok("stats")
        self.assertRegex(out, r"\ntiny\s+9400-9409\s+10\s+9\s+1\s+90%\n")
        self.assertIn("warning: pool tiny is 90% full\n", out)
        self.assertNotIn("pool default is", out)

    def test_gc_removes_allocations_of_deleted_worktrees(self):
        repo = self.make_repo("myapp")
        wt = self.add_worktree(repo, "feature-old")
        port, alloc_id, *_ = self.allocate("--service", "web", cwd=wt)
        self.allocate("--service", "web", cwd=repo)
        self.assertEqual(self.ok("gc"), "nothing to clean up\n")
        shutil.rmtree(wt)

        out = self.ok("gc", "--dry-run")
        self.assertEqual(out, f"would release allocation {alloc_id} (myapp/feature-old/web, "
                              f"port {port}): worktree is gone\n")
        self.assertEqual(len(self.list_json()), 2)

        data = json.loads(self.ok("gc", "--json"))
        self.assertFalse(data["dry_run"])
        self.assertEqual([(e["allocation"]["id"], e["reason"]) for e in data["removed"]],
                         [(alloc_id, "worktree_missing")])
        self.assertEqual([a["instance"] for a in self.list_json()], ["main"])

    def test_export_and_import_round_trip(self):
        repo = self.make_repo("myapp")
        self.allocate("--service", "web", cwd=repo)
        self.allocate("--service", "postgres", cwd=repo)
        before = self.list_json()

        path = os.path.join(self.tmp, "backup.json")
        r = self.portctl("export", "-o", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["version"], 1)
        self.assertRegex(doc["exported_at"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(doc["allocations"], before)
        self.assertEqual(json.loads(self.ok("export"))["allocations"], before)  # stdout

        self.ok("release", cwd=repo)
        self.assertEqual(self.list_json(), [])
        self.assertEqual(self.ok("import", path), "imported 2 allocations\n")
        after = self.list_json()
        # Keys and ports survive; the daemon hands out fresh ids (never reused).
        self.assertEqual([(a["app"], a["instance"], a["service"], a["port"]) for a in after],
                         [(a["app"], a["instance"], a["service"], a["port"]) for a in before])

        # A key that already holds another port conflicts unless --replace.
        moved = dict(doc, allocations=[dict(doc["allocations"][0], port=9123)])
        with open(path, "w") as f:
            json.dump(moved, f)
        r = self.portctl("import", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(r.stderr.startswith("portctl: "), r.stderr)
        self.assertEqual(self.ok("import", "--replace", path), "imported 1 allocation\n")
        self.assertIn(9123, [a["port"] for a in self.list_json()])
        # A bare array from `list --json` is accepted too, from stdin.
        self.ok("release", cwd=repo)
        out = self.ok("import", "-", input=json.dumps(before))
        self.assertEqual(out, "imported 2 allocations\n")

        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        r = self.portctl("import", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not valid JSON", r.stderr)

    def test_watch_prints_events(self):
        self.ok("health")  # start the daemon first
        watcher = subprocess.Popen([PORTCTL, "watch", "--json"], env=self.env, cwd=self.tmp,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Give the watcher time to subscribe: events before that are not replayed.
            import time
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                h = json.loads(self.ok("health", "--json"))
                if h["connections"] >= 2:
                    break
                time.sleep(0.02)
            port = int(self.ok("allocate", "--app", "a", "--instance", "b", "--service", "c",
                               "-q"))
            self.ok("release", "--app", "a")
            first = json.loads(watcher.stdout.readline())
            second = json.loads(watcher.stdout.readline())
        finally:
            watcher.terminate()
            watcher.communicate(timeout=10)
        self.assertEqual((first["event"], first["allocation"]["port"]), ("allocated", port))
        self.assertEqual((second["event"], second["allocation"]["port"]), ("released", port))

    def test_version_does_not_start_a_daemon(self):
        out = self.ok("version")
        self.assertRegex(out, r"^portctl \d+\.\d+\.\d+\nportd not running")
        self.ok("health")
        out = self.ok("version")
        self.assertRegex(out, r"\nportd \S+ \(protocol 1, pid \d+\)\n$")

    def test_command_line_shapes(self):
        # portctl declares only the subcommand it finds on the command line;
        # global options before it, and a value that names a command, must
        # parse exactly as with every subcommand declared.
        data = json.loads(self.ok("--json", "--no-color", "check", "--port", "45999"))
        self.assertEqual(data["port"], 45999)
        r = self.portctl("--no-autostart", "--socket", "check", "health")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"'[^']*/check'")
        r = self.portctl("bogus")
        self.assertEqual(r.returncode, 2)
        r = self.portctl("--help")
        self.assertEqual(r.returncode, 0)
        for name in ("allocate", "check", "release", "watch"):
            self.assertRegex(r.stdout, rf"\n  {name} ")
        r = self.portctl("check", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: portctl check", r.stdout)
        r = self.portctl("check", "--port", "70000")
        self.assertEqual(r.returncode, 1)  # a validation failure, not a usage error
        self.assertIn("70000", r.stderr)


if __name__ == "__main__":
    harness.main()
