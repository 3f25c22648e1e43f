"""Seed 000 (the portctl workflow) as acceptance tests: auto-detected
app/instance in worktrees, multi-service stacks, the .env capture, release
patterns and check exit codes."""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase, port_is_free  # noqa: E402

ENV_CAPTURE = r"""
set -e
PG_PORT=$("$PORTCTL" list --service postgres --json | jq '.[0].port')
REDIS_PORT=$("$PORTCTL" list --service redis --json | jq '.[0].port')
WEB_PORT=$("$PORTCTL" list --service web --json | jq '.[0].port')
cat > .env <<EOF
PG_PORT=${PG_PORT}
REDIS_PORT=${REDIS_PORT}
WEB_PORT=${WEB_PORT}
EOF
"""


class Seed000(PortctlTestCase):

    def test_multi_service_stack_gets_four_distinct_ports(self):
        repo = self.make_repo("myapp")
        ports = {}
        for service in ("postgres", "redis", "web", "api"):
            port, _id, app, instance, svc = self.allocate("--service", service, cwd=repo)
            self.assertEqual((app, instance, svc), ("myapp", "main", service))
            ports[service] = port
        self.assertEqual(len(set(ports.values())), 4, ports)
        for port in ports.values():
            self.assertTrue(3000 <= port <= 9999, port)

        out = self.ok("list", cwd=repo)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^ID\s+APP\s+INSTANCE\s+SERVICE\s+PORT\s+CREATED$")
        self.assertEqual(len(lines), 5, out)
        for service, port in ports.items():
            self.assertRegex(out, rf"\bmyapp\s+main\s+{service}\s+{port}\s+\d{{4}}-\d\d-\d\d ")

    def test_parallel_worktrees_get_distinct_ports(self):
        repo = self.make_repo("myapp")
        auth = self.add_worktree(repo, "feature-auth")
        payments = self.add_worktree(repo, "feature-payments")
        seen = {}
        for wt, name in ((auth, "feature-auth"), (payments, "feature-payments")):
            for service in ("postgres", "web"):
                port, _id, app, instance, _svc = self.allocate("--service", service, cwd=wt)
                self.assertEqual((app, instance), ("myapp", name))
                seen[(name, service)] = port
        self.assertEqual(len(set(seen.values())), 4, seen)

        # Override --instance explicitly inside a worktree.
        _port, _id, app, instance, svc = self.allocate(
            "--instance", "staging", "--service", "postgres", cwd=auth)
        self.assertEqual((app, instance, svc), ("myapp", "staging", "postgres"))

        everything = self.list_json(cwd=repo)
        self.assertEqual(len(everything), 5)
        self.assertEqual({a["instance"] for a in everything},
                         {"feature-auth", "feature-payments", "staging"})
        # The worktree is recorded only for allocations that belong to it.
        by_key = {(a["instance"], a["service"]): a for a in everything}
        self.assertEqual(by_key[("feature-auth", "web")]["worktree"], auth)
        self.assertEqual(by_key[("staging", "postgres")]["worktree"], "")

    def test_env_file_capture_with_jq(self):
        repo = self.make_repo("myapp")
        other = self.add_worktree(repo, "feature-payments")
        # Another worktree's postgres comes first in the registry.
        other_pg, *_ = self.allocate("--service", "postgres", cwd=other)
        pg, *_ = self.allocate("--service", "postgres", cwd=repo)
        redis, *_ = self.allocate("--service", "redis", cwd=repo)
        web, *_ = self.allocate("--service", "web", cwd=repo)
        self.assertNotEqual(pg, other_pg)

        if shutil.which("jq"):
            env = dict(self.env, PORTCTL=os.environ.get("PORTCTL", "portctl"))
            subprocess.run(["sh", "-c", ENV_CAPTURE], cwd=repo, env=env, check=True, timeout=60)
            with open(os.path.join(repo, ".env")) as f:
                self.assertEqual(f.read(), f"PG_PORT={pg}\nREDIS_PORT={redis}\nWEB_PORT={web}\n")
        # The same capture without jq.
        self.assertEqual(self.list_json("--service", "postgres", cwd=repo)[0]["port"], pg)
        self.assertEqual(self.list_json("--service", "postgres", cwd=other)[0]["port"], other_pg)
        self.assertEqual(len(self.list_json("--service", "postgres", cwd=repo)), 1)

    def test_register_existing_project_ports(self):
        repo = self.make_repo("myapp")
        for service, port in (("storybook", 6006), ("nodejs-dev", 3001)):
            if not port_is_free(port):
                self.skipTest(f"port {port} is in use on this machine")
            got, _id, _app, _inst, svc = self.allocate("--service", service, "--port", str(port),
                                                       cwd=repo)
            self.assertEqual((got, svc), (port, service))
        # Auto-assign never hands out a registered port.
        auto, *_ = self.allocate("--service", "web", cwd=repo)
        self.assertNotIn(auto, (6006, 3001))

    def test_release_patterns(self):
        repo = self.make_repo("myapp")
        wt = self.add_worktree(repo, "feature-auth")
        main_pg = self.allocate("--service", "postgres", cwd=repo)
        main_web = self.allocate("--service", "web", cwd=repo)
        wt_pg = self.allocate("--service", "postgres", cwd=wt)
        dev_pg = self.allocate("--instance", "dev", "--service", "postgres", cwd=repo)
        dev_web = self.allocate("--instance", "dev", "--service", "web", cwd=repo)
        other = self.allocate("--app", "otherapp", "--instance", "main", "--service", "postgres",
                              cwd=repo)

        def ids():
            return {a["id"] for a in self.list_json(cwd=repo)}

        # Release a specific instance (app auto-detected).
        out = self.ok("release", "--instance", "dev", cwd=repo)
        self.assertEqual(sorted(out.splitlines()),
                         sorted([f"released allocation {dev_pg[1]}",
                                 f"released allocation {dev_web[1]}"]))
        self.assertEqual(ids(), {main_pg[1], main_web[1], wt_pg[1], other[1]})

        # Release a single service: only this worktree's.
        out = self.ok("release", "--service", "postgres", cwd=wt)
        self.assertEqual(out, f"released allocation {wt_pg[1]}\n")
        self.assertEqual(ids(), {main_pg[1], main_web[1], other[1]})

        # Release by allocation id.
        out = self.ok("release", "--id", str(main_web[1]), cwd=repo)
        self.assertEqual(out, f"released allocation {main_web[1]}\n")

        # Release all ports of the project (every worktree); other apps stay.
        self.allocate("--service", "redis", cwd=wt)
        out = self.ok("release", cwd=repo)
        self.assertEqual(len(out.splitlines()), 2, out)
        self.assertEqual(ids(), {other[1]})

        # Nothing left to release for this app.
        r = self.portctl("release", cwd=repo)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no allocations matched", r.stderr)

        # Outside a repository a bare release is a usage error, never "all".
        r = self.portctl("release")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not inside a git repository", r.stderr)
        self.assertEqual(ids(), {other[1]})

        # Clean up an old project by name.
        out = self.ok("release", "--app", "otherapp", cwd=repo)
        self.assertEqual(out, f"released allocation {other[1]}\n")

    def test_check_before_hardcoding(self):
        repo = self.make_repo("myapp")
        port, alloc_id, *_ = self.allocate("--service", "postgres", cwd=repo)
        r = self.portctl("check", "--port", str(port))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout,
                         f"port {port} is allocated to myapp/main/postgres (id={alloc_id})\n")

        free = next(p for p in range(9990, 9000, -1) if port_is_free(p))
        r = self.portctl("check", "--port", str(free))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"port {free} is available\n")

    def test_list_json_is_an_array_of_allocations(self):
        repo = self.make_repo("myapp")
        self.allocate("--service", "postgres", cwd=repo)
        data = self.list_json(cwd=repo)
        self.assertIsInstance(data, list)
        a = data[0]
        self.assertEqual(list(a.keys()), ["id", "app", "instance", "service", "port", "pool",
                                          "description", "worktree", "pid", "allocated_by",
                                          "created_at", "expires_at"])
        self.assertRegex(a["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsNone(a["expires_at"])
        self.assertEqual(a["worktree"], repo)
        self.assertEqual(json.loads(self.ok("list", "--all", "--json", cwd=repo)), data)


if __name__ == "__main__":
    harness.main()
