"""portctl import --from: the reference registries' own examples (Atlas
ports.json, port-manager registry.json and .ports.env, port-server's SQLite
database and GET /v1/allocations JSON) import with a report of imported and
skipped rows, and `portctl list --json` then shows every imported row."""

import json
import os
import shutil
import sqlite3
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures",
                        "import")


def fixture(name):
    return os.path.join(FIXTURES, name)


class ImportFrom(PortctlTestCase):

    def rows(self):
        return sorted((a["app"], a["instance"], a["service"], a["port"])
                      for a in self.list_json())

    def make_db(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(fixture("port-server.sql")) as f, sqlite3.connect(path) as db:
            db.executescript(f.read())
        return path

    def test_atlas_ports_json(self):
        repo = os.path.join(self.tmp, "src", "myproject", "design", "worktrees")
        os.makedirs(repo)
        path = shutil.copy(fixture("atlas-ports.json"), os.path.join(repo, "ports.json"))
        out = self.ok("import", "--from", "atlas", "--dry-run", path)
        self.assertIn("would import myproject/review-GH-42/web port 8080", out)
        self.assertTrue(out.endswith("would import 2 allocations, skipped 0\n"), out)
        self.assertEqual(self.list_json(), [])

        out = self.ok("import", "--from", "atlas", path)
        self.assertIn('[[pool]]\nname = "web"\nrange = "8080-8099"\nservices = ["web"]\n', out)
        self.assertIn("imported myproject/review-GH-42/database port 5432", out)
        self.assertTrue(out.endswith("imported 2 allocations, skipped 0\n"), out)
        self.assertEqual(self.rows(), [("myproject", "review-GH-42", "database", 5432),
                                       ("myproject", "review-GH-42", "web", 8080)])
        db = [a for a in self.list_json() if a["service"] == "database"][0]
        self.assertEqual((db["pid"], db["allocated_by"], db["created_at"]),
                         (12345, "user@hostname", "2025-12-31T10:01:00Z"))

    def test_atlas_needs_an_app_outside_its_repository(self):
        r = self.portctl("import", "--from", "atlas", fixture("atlas-ports.json"))
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("pass --app", r.stderr)
        self.ok("import", "--from", "atlas", "--app", "shop", fixture("atlas-ports.json"))
        self.assertEqual([row[0] for row in self.rows()], ["shop", "shop"])

    def test_port_manager_registry_and_ports_env(self):
        out = self.ok("import", "--from", "port-manager", fixture("port-manager-registry.json"))
        self.assertTrue(out.endswith("imported 6 allocations, skipped 0\n"), out)
        self.assertIn(("other-project", "main", "temporal", 7230), self.rows())

        project = os.path.join(self.tmp, "src", "my-project")
        os.makedirs(project)
        env = shutil.copy(fixture("ports.env"), os.path.join(project, ".ports.env"))
        r = self.portctl("import", "--from", "port-manager", env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"skipped {env} line 1: already allocated: my-project/main/web has port "
                      "8000", r.stdout)
        self.assertIn(f"skipped {env} line 4: conflicting port: 6300 is allocated to "
                      "my-project/main/cache", r.stdout)
        self.assertTrue(r.stdout.endswith("imported 0 allocations, skipped 4\n"), r.stdout)
        self.assertEqual(len(self.rows()), 6)

    def test_ports_env_files_name_their_project(self):
        for name, text in (("alpha", "WEB_PORT=8000\nAPI_PORT=8100\n"),
                           ("beta", "WEB_PORT=8001\nBAD_PORT=99999\n")):
            os.makedirs(os.path.join(self.tmp, name))
            with open(os.path.join(self.tmp, name, ".ports.env"), "w") as f:
                f.write(text)
        r = self.portctl("import", "--from", "port-manager",
                         os.path.join(self.tmp, "alpha", ".ports.env"),
                         os.path.join(self.tmp, "beta", ".ports.env"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 2: port out of range: 99999 is not in 1-65535", r.stdout)
        self.assertEqual(self.rows(), [("alpha", "main", "api", 8100),
                                       ("alpha", "main", "web", 8000),
                                       ("beta", "main", "web", 8001)])

    def test_port_server_database_and_api_json(self):
        self.make_db(os.path.join(self.tmp, "home", ".port_server", "ports.db"))
        r = self.portctl("import", "--from", "port-server")  # the default database
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("id 3: invalid name: service 'bad name'", r.stdout)
        self.assertIn("id 4: port out of range: 70000 is not in 1-65535", r.stdout)
        self.assertTrue(r.stdout.endswith("imported 2 allocations, skipped 2\n"), r.stdout)
        self.assertEqual(self.rows(), [("myapp", "dev", "postgres", 5432),
                                       ("myapp", "dev", "web", 8080)])
        pg = [a for a in self.list_json() if a["port"] == 5432][0]
        self.assertEqual(pg["created_at"], "2025-02-08T15:04:05Z")

        # The API's JSON of the same allocation is already there.
        r = self.portctl("import", "--from", "port-server", "--json",
                         fixture("port-server-allocations.json"))
        data = json.loads(r.stdout)
        self.assertEqual(data["imported"], [])
        self.assertEqual(data["skipped"][0]["reason"][:17], "already allocated")

    def test_port_server_api_json(self):
        out = self.ok("import", "--from", "port-server", fixture("port-server-allocations.json"))
        self.assertEqual(out, "imported myapp/dev/postgres port 5432 "
                              f"({fixture('port-server-allocations.json')} allocation #1)\n"
                              "imported 1 allocation, skipped 0\n")
        self.assertEqual(self.rows(), [("myapp", "dev", "postgres", 5432)])

    def test_a_missing_database_is_a_clear_error(self):
        r = self.portctl("import", "--from", "port-server")
        self.assertEqual(r.returncode, 1)
        self.assertIn(".port_server/ports.db", r.stderr)


if __name__ == "__main__":
    harness.main()
