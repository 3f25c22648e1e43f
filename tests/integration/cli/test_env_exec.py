"""portctl env (NAME_PORT lines, --write) and exec (PORT and NAME_PORT in the
command's environment)."""

import json
import os
import stat
import sys
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortctlTestCase  # noqa: E402


class EnvExec(PortctlTestCase):

    def setUp(self):
        super().setUp()
        self.repo = self.make_repo("myapp")

    def test_env_prints_sorted_variables(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        pg, *_ = self.allocate("--service", "postgres", cwd=self.repo)
        nginx, *_ = self.allocate("--service", "proxy-nginx", cwd=self.repo)
        # Another instance's ports are not part of this worktree's env.
        self.allocate("--instance", "staging", "--service", "web", cwd=self.repo)
        out = self.ok("env", cwd=self.repo)
        self.assertEqual(out, f"POSTGRES_PORT={pg}\nPROXY_NGINX_PORT={nginx}\nWEB_PORT={web}\n")
        data = json.loads(self.ok("env", "--json", cwd=self.repo))
        self.assertEqual(data, {"POSTGRES_PORT": pg, "PROXY_NGINX_PORT": nginx, "WEB_PORT": web})
        staging = self.ok("env", "--instance", "staging", cwd=self.repo)
        self.assertRegex(staging, r"^WEB_PORT=\d+\n$")

    def test_env_write_keeps_the_users_lines(self):
        pg, *_ = self.allocate("--service", "postgres", cwd=self.repo)
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        path = os.path.join(self.repo, ".env")
        original = b"# local settings\r\nSECRET=x\r\n\r\nexport POSTGRES_PORT=1 # db\r\nFOO='a b'"
        with open(path, "wb") as f:
            f.write(original)
        os.chmod(path, 0o600)
        self.assertEqual(self.ok("env", "--write", ".env", cwd=self.repo), "")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), (
                "# local settings\r\nSECRET=x\r\n\r\n"
                f"export POSTGRES_PORT={pg} # db\r\nFOO='a b'\r\nWEB_PORT={web}\r\n").encode())
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # Rerunning changes nothing.
        before = os.stat(path)
        self.ok("env", "--write", ".env", cwd=self.repo)
        self.assertEqual(os.stat(path).st_ino, before.st_ino)
        leftovers = [n for n in os.listdir(self.repo) if n.startswith(".env.")]
        self.assertEqual(leftovers, [])

    def test_env_export_and_urls(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        self.assertEqual(self.ok("env", "--export", cwd=self.repo), f"export WEB_PORT={web}\n")
        self.assertEqual(self.ok("env", "--urls", cwd=self.repo),
                         f"WEB_PORT={web}\nWEB_URL=http://localhost:{web}\n")
        data = json.loads(self.ok("env", "--json", "--urls", cwd=self.repo))
        self.assertEqual(data, {"WEB_PORT": web, "WEB_URL": f"http://localhost:{web}"})
        r = self.portctl("env", "--replace", cwd=self.repo)
        self.assertEqual(r.returncode, 2)

    def test_env_write_replace_replaces_the_file_atomically(self):
        pg, *_ = self.allocate("--service", "postgres", cwd=self.repo)
        path = os.path.join(self.repo, ".env")
        with open(path, "w") as f:
            f.write("OLD=1\n")
        os.chmod(path, 0o640)
        self.assertEqual(self.ok("env", "--write", ".env", "--replace", cwd=self.repo), "")
        with open(path) as f:
            self.assertEqual(f.read(), f"POSTGRES_PORT={pg}\n")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        leftovers = [n for n in os.listdir(self.repo) if n.startswith(".env.")]
        self.assertEqual(leftovers, [])

    def test_env_without_allocations_fails(self):
        r = self.portctl("env", cwd=self.repo)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no allocations for myapp/main", r.stderr)

    def test_exec_with_one_allocation(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        out = self.ok("exec", "--", "sh", "-c", "echo $PORT $WEB_PORT", cwd=self.repo)
        self.assertEqual(out, f"{web} {web}\n")

    def test_exec_selects_port_by_service(self):
        web, *_ = self.allocate("--service", "web", cwd=self.repo)
        pg, *_ = self.allocate("--service", "postgres", cwd=self.repo)
        out = self.ok("exec", "--service", "postgres", "--", "sh", "-c",
                      "echo $PORT $WEB_PORT $POSTGRES_PORT", cwd=self.repo)
        self.assertEqual(out, f"{pg} {web} {pg}\n")
        # Several services and no --service: PORT is not set (not even inherited).
        out = self.ok("exec", "--", "sh", "-c", "echo \"[${PORT-unset}]\" $WEB_PORT",
                      cwd=self.repo, env={"PORT": "1"})
        self.assertEqual(out, f"[unset] {web}\n")

    def test_exec_passes_arguments_and_exit_status(self):
        self.allocate("--service", "web", cwd=self.repo)
        r = self.portctl("exec", "--", "sh", "-c", "echo \"$1|$2\"; exit 7", "sh", "a b", "--json",
                         cwd=self.repo)
        self.assertEqual((r.returncode, r.stdout), (7, "a b|--json\n"))
        r = self.portctl("exec", "--", "no-such-command-xyz", cwd=self.repo)
        self.assertEqual(r.returncode, 127)
        self.assertIn("failed to run 'no-such-command-xyz'", r.stderr)
        r = self.portctl("exec", "--service", "nope", "--", "true", cwd=self.repo)
        self.assertEqual(r.returncode, 1)

    def test_exec_in_a_linked_worktree(self):
        wt = self.add_worktree(self.repo, "feature-auth")
        main_web, *_ = self.allocate("--service", "web", cwd=self.repo)
        wt_web, *_ = self.allocate("--service", "web", cwd=wt)
        self.assertNotEqual(main_web, wt_web)
        sub = os.path.join(wt, "src")
        os.makedirs(sub)
        self.assertEqual(self.ok("exec", "--", "sh", "-c", "echo $PORT", cwd=sub), f"{wt_web}\n")


if __name__ == "__main__":
    harness.main()
