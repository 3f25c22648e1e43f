"""Shell completion: `portctl __complete` lists verbs, options and the
registry's names without starting a daemon, and the scripts printed by
`portctl completion SHELL`, loaded in their real shells, complete
`portctl release --service ` to the registry's services (portctl(1),
"SHELL COMPLETION")."""

import os
import pty
import select
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PORTCTL, PortctlTestCase, daemon_pids  # noqa: E402

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


class Complete(PortctlTestCase):

    def lines(self, *args):
        return self.ok("__complete", *args).splitlines()

    def test_verbs_come_from_the_command_table(self):
        verbs = self.lines("verbs")
        for verb in ("allocate", "completion", "list", "release", "version"):
            self.assertIn(verb, verbs)
        self.assertNotIn("__complete", verbs)
        self.assertNotIn("__complete", self.ok("--help"))

    def test_options_of_a_verb_include_the_global_ones(self):
        opts = self.lines("options", "release")
        for opt in ("--id", "--service", "--app", "--json", "--socket"):
            self.assertIn(opt, opts)
        self.assertNotIn("--ttl", opts)  # allocate's, not release's

    def test_unknown_kind_is_rejected(self):
        # A value CLI11 rejects is a validation failure: exit 1 (portctl(1)).
        r = self.portctl("__complete", "colours")
        self.assertEqual(r.returncode, 1)
        self.assertIn("colours", r.stderr)

    def test_names_without_a_daemon_print_nothing_and_start_nothing(self):
        for what in ("services", "apps", "instances", "pools", "ports"):
            self.assertEqual(self.lines(what), [])
        self.assertEqual(daemon_pids(self.socket), [])
        self.assertFalse(os.path.exists(self.socket))

    def test_names_come_from_the_running_daemon(self):
        _port_web = self.allocate("--app", "shop", "--instance", "main", "--service", "web")[0]
        self.allocate("--app", "blog", "--instance", "dev", "--service", "api")
        self.assertEqual(self.lines("services"), ["api", "web"])
        self.assertEqual(self.lines("apps"), ["blog", "shop"])
        self.assertEqual(self.lines("instances"), ["dev", "main"])
        self.assertIn(str(_port_web), self.lines("ports"))
        self.assertIn("default", self.lines("pools"))


class Shells(PortctlTestCase):
    """Each shell loads `portctl completion SHELL` and completes
    `portctl release --service ` to the services allocated here."""

    def setUp(self):
        super().setUp()
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        os.symlink(PORTCTL, os.path.join(bindir, "portctl"))
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "/usr/bin:/bin")
        self.allocate("--app", "shop", "--instance", "main", "--service", "web")
        self.allocate("--app", "shop", "--instance", "main", "--service", "api")
        self.script = os.path.join(self.tmp, "script")

    def write_script(self, shell):
        with open(self.script, "w") as f:
            f.write(self.ok("completion", shell))

    def run_shell(self, argv, timeout=30):
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                           timeout=timeout, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    @unittest.skipUnless(shutil.which("bash") and os.path.exists(BASH_COMPLETION),
                         "bash or bash-completion not installed")
    def test_bash(self):
        self.write_script("bash")
        probe = (
            f'source {BASH_COMPLETION}; source "$1"; '
            'complete -p portctl >/dev/null || exit 3; '
            'complete_line() { COMP_LINE=$1; COMP_POINT=${#1}; '
            'read -ra COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=(""); '
            'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _portctl; '
            'printf "%s\\n" "${COMPREPLY[@]}" | sort; }; '
            'complete_line "portctl release --service "; echo ---; '
            'complete_line "portctl rel"; echo ---; '
            'complete_line "portctl release --se"'
        )
        out = self.run_shell(["bash", "-ic", probe, "bash", self.script])
        services, verbs, options = out.split("---\n")
        self.assertEqual(services.split(), ["api", "web"])
        self.assertEqual(verbs.split(), ["release"])
        self.assertEqual(options.split(), ["--service"])

    @unittest.skipUnless(shutil.which("fish"), "fish not installed")
    def test_fish(self):
        self.write_script("fish")
        probe = ('source $argv[1]; complete -C "portctl release --service "; echo ---; '
                 'complete -C "portctl rel"')
        out = self.run_shell(["fish", "--no-config", "-c", probe, self.script])
        services, verbs = out.split("---\n")
        self.assertEqual(sorted(l.split("\t")[0] for l in services.splitlines()),
                         ["api", "web"])
        self.assertIn("release", [l.split("\t")[0] for l in verbs.splitlines()])

    @unittest.skipUnless(shutil.which("zsh"), "zsh not installed")
    def test_zsh(self):
        # An interactive zsh on a pty with compinit; compadd is wrapped to
        # write every match it is given to a file, then TAB is pressed.
        fdir = os.path.join(self.tmp, "zfunc")
        os.makedirs(fdir)
        with open(os.path.join(fdir, "_portctl"), "w") as f:
            f.write(self.ok("completion", "zsh"))
        matches = os.path.join(self.tmp, "matches")
        zdot = os.path.join(self.tmp, "zdot")
        os.makedirs(zdot)
        with open(os.path.join(zdot, ".zshrc"), "w") as f:
            f.write(
                f"fpath=({fdir} $fpath)\n"
                "autoload -U compinit && compinit -u -D\n"
                "compadd() { local -a _m; builtin compadd -O _m \"$@\"; "
                f"print -l -- $_m >> {matches}; builtin compadd \"$@\"; }}\n"
                "PS1='> '\n")
        env = dict(self.env, ZDOTDIR=zdot, TERM="dumb")
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe("zsh", ["zsh", "-i"], env)
        try:
            os.write(fd, b"portctl release --service \t")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not os.path.exists(matches):
                if select.select([fd], [], [], 0.1)[0]:
                    try:
                        os.read(fd, 4096)
                    except OSError:
                        break
            time.sleep(0.2)  # let the completion finish writing
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(fd)
        with open(matches) as f:
            self.assertEqual(sorted(set(f.read().split())), ["api", "web"])


if __name__ == "__main__":
    harness.main()
