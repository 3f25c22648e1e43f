#!/usr/bin/env python3
"""Runs the console examples of README.md and the man pages as tests.

A console example is a fenced block (``` in Markdown and scdoc alike) whose
first line starts with "$ ". Each one must be preceded by a directive that
says what the example needs, so a reader can reproduce it too:

  README.md:   <!-- example: repo=myapp worktree=myapp:myapp-feature-auth -->
  man/*.scd:   ; example: repo=myapp cwd=~/src/myapp

Keys (shell-quoted words; keys may repeat):
  repo=NAME[@BRANCH]   a git repository ~/src/NAME with one commit on BRANCH
                       (default main)
  worktree=REPO:DIR    a linked worktree ~/src/DIR of ~/src/REPO, on branch DIR
  copy=SRC:DEST        copies SRC (a directory of this source tree, e.g.
                       tests/docs/projects/shop) into DEST (~/src/shop), after
                       the repositories are made
  cwd=PATH             where the first command runs (default ~)
  config=previous      the fenced block just before this one is
                       ~/.config/portd/portd.toml
  continue             run in the previous example's home and daemon (its
                       files, allocations and current directory carry over)
  hexdump=request      the block is a hexdump of the health request as
                       the codec encodes it (protocol_frames request)
  hexdump=response     the block is a hexdump of the daemon's health reply
                       after allocating `allocations=N` ports, with the
                       values of `set=KEY:UINT,...` put in (pid, uptime)
  skip=REASON          not run; the reason is printed

Every example runs in a fresh temporary HOME (with XDG_* directories below
it) against a real portd that portctl autostarts, inside a new network
namespace when unshare(1) can make one, so that ports such as 3000 are free
whatever the machine runs. Commands run in one bash session per example (cd
carries over); stdout and stderr are compared with the lines shown after
each command. Volatile parts are normalised on both sides: the temporary
home becomes ~, timestamps (RFC 3339, and the tables' YYYY-MM-DD
HH:MM:SS) become <time>.

Usage: examples.py SOURCE_ROOT [FILE...]   (default: README.md, man/*.scd)
Environment: PORTCTL (the built portctl), PROTOCOL_FRAMES (the built
tests/docs/protocol_frames). Exit status 0 when every example matches, 1
otherwise; each difference is reported as FILE:LINE with a diff.
"""

import difflib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

def default_pages(root):
    """README.md and every man page, so a new page is covered by default."""
    man = sorted(f for f in os.listdir(os.path.join(root, "man")) if f.endswith(".scd"))
    return ["README.md"] + [os.path.join("man", f) for f in man]

DIRECTIVE_RE = re.compile(r"^\s*(?:<!--\s*example:(.*?)-->|;\s*example:(.*))\s*$")
# RFC 3339 (JSON, logs) and the tables' local "YYYY-MM-DD HH:MM:SS".
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
MARK = "\x1eportd-example-step"


@dataclass
class Step:
    line: int            # 1-based line of the "$ " command in the page
    command: str
    expected: list


@dataclass
class Example:
    path: str
    line: int            # 1-based line of the opening fence
    directive: dict
    body: list           # the block's lines
    previous_block: list  # the fenced block before this one, if any
    steps: list = field(default_factory=list)


def parse_directive(text):
    """'repo=a worktree=a:b continue' -> {'repo': ['a'], 'worktree': ['a:b'], 'continue': ['']}"""
    out = {}
    for word in shlex.split(text):
        key, _, value = word.partition("=")
        out.setdefault(key, []).append(value)
    return out


def find_examples(root, rel):
    """Yields the examples of one page, or raises ValueError for a console
    block without a directive (so new examples cannot escape the tests)."""
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        lines = f.read().split("\n")
    examples = []
    previous_block = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("```"):
            i += 1
            continue
        start = i
        end = i + 1
        while end < len(lines) and not lines[end].lstrip().startswith("```"):
            end += 1
        body = lines[start + 1:end]
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        m = DIRECTIVE_RE.match(lines[k]) if k >= 0 else None
        directive = parse_directive(m.group(1) or m.group(2)) if m else None
        is_console = bool(body) and body[0].startswith("$ ")
        if directive is not None or is_console:
            if directive is None:
                raise ValueError(f"{rel}:{start + 1}: console example without an "
                                 "'example:' directive before it")
            ex = Example(rel, start + 1, directive, body, previous_block)
            if is_console:
                ex.steps = parse_steps(body, start + 2)
            examples.append(ex)
        previous_block = body
        i = end + 1
    return examples


def parse_steps(body, first_line):
    steps = []
    for n, text in enumerate(body):
        if text.startswith("$ "):
            steps.append(Step(first_line + n, text[2:], []))
        elif steps and steps[-1].command.endswith("\\"):
            steps[-1].command += "\n" + text
        elif steps:
            steps[-1].expected.append(text)
    return steps


def normalise(lines, home):
    out = []
    for text in lines:
        if home:
            text = text.replace(home, "~")
        text = TIME_RE.sub("<time>", text)
        out.append(text.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def netns_prefix():
    """The command that runs a shell in a fresh network namespace with
    loopback up, or [] when this machine cannot make one."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    for flags in (["-n"], ["-rn"]):
        probe = ["unshare", *flags, "sh", "-c", f"{ip} link set lo up"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                return ["unshare", *flags, "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return []


class Sandbox:
    """A temporary home with XDG directories, git repositories, and the
    daemon portctl starts there."""

    def __init__(self, portctl, root):
        self.root = root
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="portd-doc-"))
        self.home = os.path.join(self.tmp, "home")
        self.cwd = self.home
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "PORTD_", "PORTCTL_", "GIT_"))}
        env.update({
            "HOME": self.home,
            "XDG_RUNTIME_DIR": os.path.join(self.tmp, "run"),
            "XDG_STATE_HOME": os.path.join(self.home, ".local", "state"),
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
            "PATH": os.path.dirname(os.path.realpath(portctl)) + os.pathsep + env.get("PATH", ""),
            "NO_COLOR": "1", "LC_ALL": "C.UTF-8", "TZ": "UTC",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        })
        self.env = env
        for d in (env["XDG_RUNTIME_DIR"], env["XDG_STATE_HOME"], env["XDG_CONFIG_HOME"]):
            os.makedirs(d, mode=0o700)
        self.socket = os.path.join(env["XDG_RUNTIME_DIR"], "portd", "portd.sock")

    def git(self, *args, cwd):
        subprocess.run(["git", *args], cwd=cwd, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def prepare(self, directive, previous_block):
        for spec in directive.get("repo", []):
            name, _, branch = spec.partition("@")
            path = os.path.join(self.home, "src", name)
            os.makedirs(path)
            self.git("init", "-q", "-b", branch or "main", cwd=path)
            with open(os.path.join(path, "README"), "w") as f:
                f.write("x\n")
            self.git("add", "README", cwd=path)
            self.git("commit", "-q", "-m", "init", cwd=path)
        for spec in directive.get("worktree", []):
            repo, _, name = spec.partition(":")
            self.git("worktree", "add", "-q", "-b", name, os.path.join(self.home, "src", name),
                     cwd=os.path.join(self.home, "src", repo))
        for spec in directive.get("copy", []):
            src, _, dest = spec.partition(":")
            shutil.copytree(os.path.join(self.root, src), self.expand(dest), dirs_exist_ok=True)
        if "previous" in directive.get("config", []):
            path = os.path.join(self.env["XDG_CONFIG_HOME"], "portd", "portd.toml")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("\n".join(previous_block) + "\n")
        for cwd in directive.get("cwd", []):
            self.cwd = self.expand(cwd)

    def expand(self, path):
        return self.home + path[1:] if path.startswith("~") else path

    def run(self, steps, netns):
        """Runs the steps in one bash; returns each step's output lines."""
        script = ["exec 2>&1", f"cd {shlex.quote(self.cwd)}", "__status=0"]
        for n, step in enumerate(steps):
            # `echo $?` in an example means the previous command's status,
            # not the marker's.
            script.append(f"printf '\\n{MARK} %d\\n' {n}; (exit $__status)")
            script.append(step.command)
            script.append("__status=$?")
        # Where the next example continuing this one starts.
        script.append(f"printf '\\n{MARK} end %s\\n' \"$PWD\"")
        r = subprocess.run([*netns, "bash", "--noprofile", "--norc", "-c", "\n".join(script)],
                           env=self.env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           text=True, errors="replace", timeout=120)
        outputs = [[] for _ in steps]
        current = None
        for text in r.stdout.split("\n"):
            if text.startswith(MARK):
                word = text[len(MARK) + 1:]
                if word.startswith("end "):
                    self.cwd = word[4:]
                    current = None
                else:
                    current = int(word)
                continue
            if current is not None:
                outputs[current].append(text)
        # Each marker starts with a newline so that a command's last line
        # without one is kept whole; drop the empty line it leaves.
        for out in outputs:
            if out and out[-1] == "":
                out.pop()
        return outputs

    def daemon_pid(self):
        r = subprocess.run(["portctl", "--no-autostart", "health", "--json"], env=self.env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        try:
            return int(json.loads(r.stdout)["pid"])
        except (ValueError, KeyError):
            return None

    def close(self):
        pid = self.daemon_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                    time.sleep(0.02)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def hexdump(data):
    """hexdump -C's lines for data, without the closing offset line."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8])
        if len(chunk) > 8:
            hexes += "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in chunk)
        lines.append(f"{off:08x}  {hexes:<49} |{text}|")
    return lines


def frames_for(ex, frames_bin, portctl, netns, root):
    kind = ex.directive["hexdump"][0]
    if kind == "request":
        return subprocess.run([frames_bin, "request"], capture_output=True, check=True).stdout
    sandbox = Sandbox(portctl, root)
    try:
        count = int(ex.directive.get("allocations", ["0"])[0])
        steps = [Step(0, f"portctl allocate --app app --instance i --service s{n} -q", [])
                 for n in range(count)]
        steps.append(Step(0, f"{shlex.quote(frames_bin)} response {shlex.quote(sandbox.socket)} "
                          + " ".join(s.replace(":", "=") for v in ex.directive.get("set", [])
                                     for s in v.split(",")) + " | od -An -v -tx1", []))
        out = sandbox.run(steps, netns)[-1]
        try:
            return bytes.fromhex("".join(out))
        except ValueError:
            raise RuntimeError("protocol_frames failed:\n" + "\n".join(out)) from None
    finally:
        sandbox.close()


def report(ex_path, line, title, expected, actual):
    diff = difflib.unified_diff(expected, actual, "page", "actual", lineterm="")
    print(f"{ex_path}:{line}: {title}")
    for d in diff:
        print(f"    {d}")


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().split("\n\n")[-2], file=sys.stderr)
        return 2
    root = sys.argv[1]
    pages = sys.argv[2:] or default_pages(root)
    portctl = os.environ.get("PORTCTL", "portctl")
    frames_bin = os.path.realpath(os.environ.get("PROTOCOL_FRAMES", "protocol_frames"))
    netns = netns_prefix()
    if not netns:
        print("note: unshare(1) cannot make a network namespace here; examples run in the "
              "machine's own, so a port they show may be taken by something else")

    failures = checked = 0
    for rel in pages:
        try:
            examples = find_examples(root, rel)
        except ValueError as e:
            print(e)
            failures += 1
            continue
        sandbox = None
        for ex in examples:
            if "skip" in ex.directive:
                print(f"{rel}:{ex.line}: skipped: {' '.join(ex.directive['skip'])}")
                continue
            if "hexdump" in ex.directive:
                actual = hexdump(frames_for(ex, frames_bin, portctl, netns, root))
                expected = [t.rstrip() for t in ex.body]
                checked += 1
                if expected != [t.rstrip() for t in actual]:
                    failures += 1
                    report(rel, ex.line, "hexdump differs from the codec's bytes", expected, actual)
                continue
            if sandbox is None or "continue" not in ex.directive:
                if sandbox:
                    sandbox.close()
                sandbox = Sandbox(portctl, root)
            sandbox.prepare(ex.directive, ex.previous_block)
            outputs = sandbox.run(ex.steps, netns)
            for step, out in zip(ex.steps, outputs):
                checked += 1
                expected = normalise(step.expected, None)
                actual = normalise(out, sandbox.home)
                if expected != actual:
                    failures += 1
                    report(rel, step.line, f"$ {step.command}", expected, actual)
        if sandbox:
            sandbox.close()
    print(f"{checked} example commands checked, {failures} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
