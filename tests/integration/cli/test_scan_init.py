"""portctl scan (read-only report of a project's host ports) and portctl init
(registers them and writes .ports.env), against the real daemon."""

import json
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase, port_is_free  # noqa: E402


def free_ports(count, preferred):
    """`count` distinct TCP ports free right now: the preferred ones when
    free, else free ones from 21000 up (below the usual ephemeral range;
    their number does not matter to the test, only that the files name
    them)."""
    ports = [p for p in preferred if port_is_free(p)][:count]
    candidate = 21000
    while len(ports) < count:
        if candidate not in ports and port_is_free(candidate):
            ports.append(candidate)
        candidate += 1
    return ports


class ScanInit(PortctlTestCase):

    def setUp(self):
        super().setUp()
        self.repo = self.make_repo("shop")
        self.pg, self.web, self.vite = free_ports(3, [5432, 3000, 5173])
        if (self.pg, self.web, self.vite) != (5432, 3000, 5173):
            print(f"note: 5432/3000/5173 not all free here; using {self.pg}, {self.web}, "
                  f"{self.vite}", file=sys.stderr)
        self.write("compose.yaml", f"""services:
  postgres:
    image: postgres:16
    ports:
      - "{self.pg}:5432"
  web:
    build: .
    ports:
      - "${{WEB_PORT:-{self.web}}}:3000"
  api:
    image: api
    ports:
      - "8080"
""")
        self.write("package.json", json.dumps(
            {"name": "shop", "scripts": {"dev": f"vite --port {self.vite}", "build": "vite build"}},
            indent=2))
        self.env_text = "# keep me\nSECRET=x\n"
        self.write(".env", self.env_text)

    def write(self, name, text):
        with open(os.path.join(self.repo, name), "w") as f:
            f.write(text)

    def read(self, name):
        with open(os.path.join(self.repo, name)) as f:
            return f.read()

    def test_scan_reports_and_changes_nothing(self):
        data = json.loads(self.ok("scan", "--json", cwd=self.repo))
        self.assertEqual(data["errors"], [])
        rows = {(f["service"], f["port"]): f for f in data["findings"]}
        self.assertEqual(rows[("postgres", self.pg)]["file"], "compose.yaml")
        self.assertEqual(rows[("postgres", self.pg)]["line"], 5)
        self.assertEqual(rows[("postgres", self.pg)]["status"]["state"], "free")
        self.assertEqual(rows[("web", self.web)]["status"]["state"], "free")
        self.assertEqual(rows[("dev", self.vite)]["file"], "package.json")
        api = rows[("api", 8080)]
        self.assertFalse(api["host_bound"])
        self.assertEqual(api["status"]["state"], "skipped")
        self.assertEqual(self.list_json(), [])
        self.assertFalse(os.path.exists(os.path.join(self.repo, ".ports.env")))

        # Table form; a port allocated elsewhere shows its holder.
        self.allocate("--app", "other", "--instance", "x", "--service", "db",
                      "--port", str(self.pg))
        out = self.ok("scan", cwd=self.repo)
        self.assertRegex(out, rf"compose\.yaml:5\s+postgres\s+{self.pg}\s+tcp\s+"
                              r"allocated to other/x/db")
        self.assertRegex(out, r"compose\.yaml:13\s+api\s+8080\s+tcp\s+skipped: container-only")

    def test_scan_reports_broken_files_and_goes_on(self):
        self.write("docker-compose.dev.yml", "services:\n  x:\n    ports: [\"1:1\"\n")
        r = self.portctl("scan", cwd=self.repo)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"skipped docker-compose\.dev\.yml:\d+: not valid YAML")
        self.assertIn(f"{self.vite}", r.stdout)

    def test_init_registers_writes_ports_env_and_is_idempotent(self):
        out = self.ok("init", cwd=self.repo)
        for port in (self.pg, self.web, self.vite):
            self.assertRegex(out, rf"allocated port {port} \(id=\d+\) for shop/main/")
        self.assertRegex(out, r"skipped compose\.yaml:13 api 8080: container-only")
        self.assertIn("wrote .ports.env", out)
        allocs = {(a["service"], a["port"]) for a in self.list_json()}
        self.assertEqual(allocs, {("postgres", self.pg), ("web", self.web), ("dev", self.vite)})
        self.assertEqual(self.read(".ports.env"),
                         f"DEV_PORT={self.vite}\nPOSTGRES_PORT={self.pg}\nWEB_PORT={self.web}\n")
        self.assertEqual(self.read(".env"), self.env_text)

        again = self.ok("init", cwd=self.repo)
        self.assertIn("nothing changed", again)
        self.assertNotIn("allocated port", again)
        self.assertEqual(len(self.list_json()), 3)

    def test_init_manifest_gives_a_second_worktree_its_own_set(self):
        out = self.ok("init", "--manifest", cwd=self.repo)
        self.assertIn("wrote .portd.toml", out)
        manifest = self.read(".portd.toml")
        self.assertIn("portd-manifest(5)", manifest)
        self.assertIn(f"[services.postgres]\ndescription = 'found in compose.yaml:5'\n"
                      f"port = {self.pg}\n", manifest)
        # The written manifest is what `up` reads: the main worktree keeps its
        # ports, a linked worktree gets a disjoint, complete set.
        main = json.loads(self.ok("--json", "up", cwd=self.repo))
        self.assertFalse(any(a["created"] for a in main["allocations"]))
        wt = self.add_worktree(self.repo, "feature-x")
        feature = json.loads(self.ok("--json", "up", cwd=wt))
        ports = {a["service"]: a["port"] for a in feature["allocations"]}
        self.assertEqual(sorted(ports), ["dev", "postgres", "web"])
        self.assertTrue(set(ports.values()).isdisjoint({self.pg, self.web, self.vite}))

        self.assertIn("nothing changed", self.ok("init", "--manifest", cwd=self.repo))
        # A manifest the user edited is theirs: never replaced.
        self.write(".portd.toml", "[services.web]\n")
        out = self.ok("init", "--manifest", cwd=self.repo)
        self.assertIn("kept .portd.toml (it exists", out)
        self.assertEqual(self.read(".portd.toml"), "[services.web]\n")

    def test_init_registers_a_port_named_twice_once(self):
        self.write(".env", self.env_text + f"DB_PORT={self.pg}\n")
        out = self.ok("init", cwd=self.repo)
        self.assertEqual(out.count(f"allocated port {self.pg} "), 1)
        services = {a["service"] for a in self.list_json() if a["port"] == self.pg}
        self.assertEqual(services, {"postgres"})

    def test_init_keeps_user_lines_in_ports_env(self):
        self.write(".ports.env", "# mine\nEXTRA=1\nWEB_PORT=1\n")
        self.ok("scan", "--register", cwd=self.repo)
        self.assertEqual(self.read(".ports.env"),
                         f"# mine\nEXTRA=1\nWEB_PORT={self.web}\n"
                         f"DEV_PORT={self.vite}\nPOSTGRES_PORT={self.pg}\n")

    def test_init_never_takes_a_port_held_by_another_key(self):
        self.allocate("--app", "other", "--instance", "x", "--service", "db",
                      "--port", str(self.pg))
        r = self.portctl("init", cwd=self.repo)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"not registered compose.yaml:5 postgres port {self.pg}", r.stderr)
        self.assertIn("other/x/db", r.stderr)
        holders = {a["port"]: (a["app"], a["service"]) for a in self.list_json()}
        self.assertEqual(holders[self.pg], ("other", "db"))
        self.assertNotIn("POSTGRES_PORT", self.read(".ports.env"))
        self.assertIn(f"WEB_PORT={self.web}", self.read(".ports.env"))


if __name__ == "__main__":
    harness.main()
