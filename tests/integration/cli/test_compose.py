"""portctl compose: the .env beside a compose file gets COMPOSE_PROJECT_NAME
and NAME_PORT lines (other lines kept); the ports: edits are printed and,
with --apply --yes, made with a .bak."""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase  # noqa: E402

COMPOSE = """services:
  postgres:
    image: postgres:16
    ports:
      - "5432:5432"
  web:
    ports:
      - "${WEB_PORT:-3000}:3000"
  api:
    ports:
      - "8080"
"""


class Compose(PortctlTestCase):

    def setUp(self):
        super().setUp()
        self.repo = self.make_repo("shop")
        self.write("compose.yaml", COMPOSE)
        self.write(".env", "SECRET=x\n")

    def write(self, name, text):
        with open(os.path.join(self.repo, name), "w") as f:
            f.write(text)

    def read(self, name):
        with open(os.path.join(self.repo, name)) as f:
            return f.read()

    def test_writes_env_and_suggests_edits(self):
        pg, *_ = self.allocate("--service", "postgres", cwd=self.repo)
        out = self.ok("compose", cwd=self.repo)
        self.assertIn('compose.yaml:5: "5432:5432" -> "${POSTGRES_PORT:-5432}:5432"', out)
        self.assertNotIn("WEB_PORT:-3000}:3000\" ->", out)  # already a variable
        self.assertEqual(self.read(".env"),
                         f"SECRET=x\nCOMPOSE_PROJECT_NAME=shop-main\nPOSTGRES_PORT={pg}\n"
                         "WEB_PORT=3000\n")
        self.assertEqual(self.read("compose.yaml"), COMPOSE)
        again = self.ok("compose", cwd=self.repo)
        self.assertIn("unchanged: .env", again)

    def test_apply_needs_yes_and_keeps_a_backup(self):
        r = self.portctl("compose", "--apply", cwd=self.repo)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(self.read("compose.yaml"), COMPOSE)
        # A compose file kept private stays private in its backup too.
        os.chmod(os.path.join(self.repo, "compose.yaml"), 0o600)
        self.ok("compose", "--apply", "--yes", cwd=self.repo)
        self.assertEqual(self.read("compose.yaml.bak"), COMPOSE)
        for name in ("compose.yaml", "compose.yaml.bak"):
            self.assertEqual(os.stat(os.path.join(self.repo, name)).st_mode & 0o777, 0o600, name)
        self.assertEqual(self.read("compose.yaml"),
                         COMPOSE.replace('"5432:5432"', '"${POSTGRES_PORT:-5432}:5432"'))
        out = self.ok("compose", "--apply", "--yes", cwd=self.repo)
        self.assertIn("already uses the variables", out)

    def test_long_syntax_published_ports_get_variables(self):
        self.write("compose.yaml", """services:
  cache:
    ports:
      - target: 6379
        published: 6379
        protocol: tcp
  mail:
    ports:
      - { target: 1025, published: "1025" }
      - target: 8025
        published: 18025
""")
        self.ok("compose", "--apply", "--yes", cwd=self.repo)
        out = self.ok("compose", cwd=self.repo)
        self.assertIn("already", self.ok("compose", "--apply", "--yes", cwd=self.repo))
        self.assertEqual(self.read("compose.yaml"), """services:
  cache:
    ports:
      - target: 6379
        published: "${CACHE_PORT:-6379}"
        protocol: tcp
  mail:
    ports:
      - { target: 1025, published: "${MAIL_PORT:-1025}" }
      - target: 8025
        published: "${MAIL_18025_PORT:-18025}"
""")
        self.assertNotIn("->", out)  # nothing left to change


if __name__ == "__main__":
    harness.main()
