"""portctl up: every service of .portd.toml for this worktree, all or
nothing, plus the env file; worktrees of one repository get disjoint sets."""

import json
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase, port_is_free  # noqa: E402


def free_port(start):
    """A port from `start` up (inside the default pool) that nothing has bound."""
    for port in range(start, 9999):
        if port_is_free(port):
            return port
    raise RuntimeError("no free port")


def read_env(path):
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if line.strip())


class Up(PortctlTestCase):

    def setUp(self):
        super().setUp()
        self.repo = self.make_repo("myapp")
        self.db = free_port(7400)
        self.write_manifest(self.repo, f"""
[services.postgres]
port = {self.db}
description = "main database"

[services.web]

[services.redis]
""")

    def write_manifest(self, where, text, name=".portd.toml"):
        path = os.path.join(where, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def up(self, cwd, *args):
        return json.loads(self.ok("--json", "up", *args, cwd=cwd))

    def ports(self, result):
        return {a["service"]: a["port"] for a in result["allocations"]}

    def test_two_worktrees_get_disjoint_complete_sets(self):
        main = self.up(self.repo)
        self.assertEqual(sorted(self.ports(main)), ["postgres", "redis", "web"])
        self.assertEqual(self.ports(main)["postgres"], self.db)
        self.assertTrue(all(a["created"] for a in main["allocations"]))
        self.assertEqual(read_env(os.path.join(self.repo, ".ports.env")),
                         {f"{k.upper()}_PORT": str(v) for k, v in self.ports(main).items()})

        # The new worktree has no .portd.toml of its own (it is not committed):
        # it reads the main worktree's.
        wt = self.add_worktree(self.repo, "feature-auth")
        self.assertFalse(os.path.exists(os.path.join(wt, ".portd.toml")))
        feature = self.up(wt)
        self.assertEqual(sorted(self.ports(feature)), ["postgres", "redis", "web"])
        self.assertTrue(set(self.ports(main).values()).isdisjoint(self.ports(feature).values()))
        self.assertEqual({a["instance"] for a in feature["allocations"]}, {"feature-auth"})
        self.assertEqual(read_env(os.path.join(wt, ".ports.env"))["POSTGRES_PORT"],
                         str(self.ports(feature)["postgres"]))

        # Running it again changes nothing.
        again = self.up(self.repo)
        self.assertEqual(self.ports(again), self.ports(main))
        self.assertFalse(any(a["created"] for a in again["allocations"]))
        text = self.ok("up", cwd=self.repo)
        self.assertIn(f"kept port {self.db} (id=", text)
        self.assertIn("unchanged: " + os.path.join(self.repo, ".ports.env"), text)

    def test_strict_port_held_elsewhere_allocates_nothing(self):
        self.allocate("--app", "other", "--instance", "main", "--service", "pg",
                      "--port", str(self.db))
        strict = self.write_manifest(self.tmp, f"""
[services.web]
[services.postgres]
port = {self.db}
strict = true
""", name="strict.toml")
        r = self.portctl("up", "--manifest", strict, cwd=self.repo)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"port {self.db} is allocated to other/main/pg", r.stderr)
        self.assertEqual(self.list_json("--app", "myapp"), [])
        self.assertFalse(os.path.exists(os.path.join(self.repo, ".ports.env")))
        # Without strict the preferred port gives way.
        ports = self.ports(self.up(self.repo))
        self.assertNotEqual(ports["postgres"], self.db)

    def test_bad_manifest_is_reported_with_its_position(self):
        path = self.write_manifest(self.repo, "[services.web]\nport = 70000\n")
        r = self.portctl("up", cwd=self.repo)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{path}:2:8: port must be an integer from 1 to 65535", r.stderr)

    def test_no_manifest(self):
        os.unlink(os.path.join(self.repo, ".portd.toml"))
        r = self.portctl("up", cwd=self.repo)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no .portd.toml at", r.stderr)

    def test_env_file_options(self):
        self.ok("up", "--no-env-file", cwd=self.repo)
        self.assertFalse(os.path.exists(os.path.join(self.repo, ".ports.env")))
        self.ok("up", "--env-file", "custom.env", cwd=self.repo)
        self.assertIn("WEB_PORT", read_env(os.path.join(self.repo, "custom.env")))

    def test_env_file_keeps_the_users_lines(self):
        # The env file may be the project's .env: up changes only the
        # NAME_PORT lines it manages, as env --write does.
        env = os.path.join(self.repo, ".env")
        original = "# local settings\nSECRET=x\nexport WEB_PORT=1\n\nTAIL=y"
        with open(env, "w") as f:
            f.write(original)
        os.chmod(env, 0o600)
        ports = self.ports(self.up(self.repo, "--env-file", ".env"))
        with open(env) as f:
            text = f.read()
        self.assertEqual(
            text,
            f"# local settings\nSECRET=x\nexport WEB_PORT={ports['web']}\n\nTAIL=y\n"
            f"POSTGRES_PORT={ports['postgres']}\nREDIS_PORT={ports['redis']}\n")
        self.assertEqual(os.stat(env).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    harness.main()
