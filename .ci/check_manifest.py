#!/usr/bin/env python3
"""Checks that the packages ship exactly what `meson install` produces.

    check_manifest.py --destdir DIR --spec EXPANDED_SPEC [--deb FILE]...

DIR is a `meson install --destdir` tree (dh_auto_install's debian/tmp).
EXPANDED_SPEC is the output of `rpmspec -P`, with %{_libdir} and the other
directory macros set to the paths DIR uses. Every installed file must be
named by some %files entry and lie in some .deb, and every %files entry and
every file of the .debs must exist in DIR. Exit 0 when all agree, 1 with
one line per difference otherwise.
"""

import argparse
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

# Files the Debian tools add on top of the meson install.
DEB_EXTRA = re.compile(r"^/usr/share/(doc|lintian)/")
# Debian's rules passes -Dzsh_completions_dir=/usr/share/zsh/vendor-completions
# (Debian's zsh has no /usr/share/zsh/site-functions in $fpath); the spec
# keeps meson's default.
ZSH_DEBIAN = "/usr/share/zsh/vendor-completions/"
ZSH_DEFAULT = "/usr/share/zsh/site-functions/"


def installed_files(destdir: Path) -> set[str]:
    """Absolute paths of the regular files and symlinks under destdir."""
    return {
        "/" + str(p.relative_to(destdir))
        for p in destdir.rglob("*")
        if p.is_file() or p.is_symlink()
    }


def spec_entries(spec_text: str) -> list[str]:
    """File patterns of every %files section of an expanded spec."""
    entries, in_files = [], False
    for raw in spec_text.splitlines():
        line = raw.strip()
        if line.startswith("%"):
            word = line.split()[0]
            if word == "%files":
                in_files = True
                continue
            if word in ("%license", "%doc"):
                continue  # taken from the source tree, not the install
            if word in ("%dir", "%config", "%config(noreplace)", "%ghost"):
                line = line.split(None, 1)[1]
            else:
                in_files = False
                continue
        if in_files and line and not line.startswith("#"):
            entries.append(line)
    return entries


def spec_matches(entry: str, path: str) -> bool:
    if entry.endswith("/"):
        return path.startswith(entry)
    return fnmatch.fnmatchcase(path, entry) or path.startswith(entry + "/")


def deb_files(deb: str) -> set[str]:
    """Files and symlinks a .deb ships, with compressed man pages named as
    meson installs them."""
    listing = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", deb], check=True, capture_output=True
    ).stdout
    names = subprocess.run(
        ["tar", "-tvf", "-"], input=listing, check=True, capture_output=True
    ).stdout.decode()
    files = set()
    for line in names.splitlines():
        if line.startswith("d"):
            continue
        name = line.split(None, 5)[5].split(" -> ")[0]
        name = "/" + name.removeprefix("./")
        if name.startswith("/usr/share/man/") and name.endswith(".gz"):
            name = name[: -len(".gz")]
        files.add(name)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--destdir", required=True, type=Path)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--deb", action="append", default=[])
    args = parser.parse_args()

    installed = installed_files(args.destdir)
    if not installed:
        print(f"check_manifest: {args.destdir} holds no files")
        return 1
    problems = []

    entries = spec_entries(args.spec.read_text())
    as_spec = {p.replace(ZSH_DEBIAN, ZSH_DEFAULT) for p in installed}
    for path in sorted(as_spec):
        if not any(spec_matches(e, path) for e in entries):
            problems.append(f"rpm: {path} is installed but in no %files")
    for entry in entries:
        if not any(spec_matches(entry, p) for p in as_spec):
            problems.append(f"rpm: %files entry {entry} matches nothing installed")

    if args.deb:
        shipped = set()
        for deb in args.deb:
            shipped |= deb_files(deb)
        shipped = {p for p in shipped if not DEB_EXTRA.match(p)}
        for path in sorted(installed - shipped):
            problems.append(f"deb: {path} is installed but in no .deb")
        for path in sorted(shipped - installed):
            problems.append(f"deb: {path} is in a .deb but not installed by meson")

    for line in problems:
        print(line)
    print(
        f"check_manifest: {len(installed)} installed files, "
        f"{len(entries)} %files entries, {len(args.deb)} .debs: "
        + ("agree" if not problems else f"{len(problems)} differences")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
