#!/usr/bin/env bash
# Builds the Debian binary packages from a clean copy of the tree, lints
# them, installs them and uses them as an unprivileged user, then purges
# them. Run as root on Debian 12 (CI does, from .ci/run).
#
#   .ci/package.sh [OUT_DIR]     (default: a temporary directory, removed)
#
# It also checks the other packagings without building them: the RPM spec
# parses (rpmspec -P), the Homebrew formula is valid Ruby (ruby -c), and the
# spec's %files and the .debs name exactly the files `meson install` puts in
# debian/tmp (.ci/check_manifest.py).
#
# The copy holds the files git tracks (with their working-tree contents, or
# those of commit PORTD_PACKAGE_REF when set), so build directories and local
# junk never reach the package. packaging/debian
# becomes debian/ in the copy, as packaging/debian/rules expects.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

step() { printf '== package: %s\n' "$*"; }
fail() { printf 'package: FAILED: %s\n' "$*" >&2; exit 1; }

if ((EUID != 0)); then
  fail "run as root: it installs build dependencies and the built packages"
fi

# A fixed path, not mktemp: the build flags contain it (-ffile-prefix-map),
# and a path that changes every run would make every ccache lookup miss.
work=${PORTD_PACKAGE_DIR:-/tmp/portd-package}
rm -rf "$work"
mkdir -p "$work"
out=${1:-$work/out}
test_user=portd-pkgtest
cleanup() {
  local uid
  if uid=$(id -u "$test_user" 2>/dev/null); then
    # The daemon the test started through autostart (nothing else runs as
    # this freshly created user).
    pgrep -u "$uid" -x portd | xargs -r kill 2>/dev/null || true
    userdel -r "$test_user" 2>/dev/null || true
    rm -rf "/tmp/portd-pkgtest-run-$uid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
src="$work/portd-$version"
mkdir -p "$src" "$out"

if [[ -n ${PORTD_PACKAGE_REF:-} ]]; then
  step "exporting $PORTD_PACKAGE_REF to $src"
  git archive "$PORTD_PACKAGE_REF" | tar -xf - -C "$src"
else
  step "copying the tracked files to $src"
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a packaging/debian "$src/debian"

# debhelper (compat 13) points HOME at a directory inside the build tree, so
# ccache would start empty every time: name the real cache explicitly.
if command -v ccache >/dev/null; then
  CCACHE_DIR=${CCACHE_DIR:-$(ccache -k cache_dir)}
  export CCACHE_DIR
fi

# The binary build runs without tests (they run in tests/run.sh); the
# nocheck profile also drops the test-only Build-Depends.
export DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)"
export DEB_BUILD_PROFILES=nocheck

step "installing Build-Depends (apt-get build-dep)"
if ! apt-get build-dep -y -qq -P nocheck "$src" >/dev/null; then
  apt-get update -qq
  apt-get build-dep -y -qq -P nocheck "$src" >/dev/null
fi

step "dpkg-buildpackage -us -uc -b"
start=$SECONDS
(cd "$src" && dpkg-buildpackage -us -uc -b -Pnocheck) >"$work/build.log" 2>&1 ||
  { tail -n 60 "$work/build.log"; fail "dpkg-buildpackage"; }
grep -E '^dpkg-(gensymbols|shlibdeps): (warning|error)' "$work/build.log" || true
echo "built in $((SECONDS - start)) s:"
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/"
ls -1 "$out"

# The packages proper; the -dbgsym ones hold only detached debug symbols.
debs=()
for deb in "$out"/*.deb; do
  [[ $deb == *-dbgsym_* ]] || debs+=("$deb")
done

step "rpmspec -P, ruby -c, and the file lists against meson install"
# Directory macros as the Debian build used them, so that the expanded
# %files can be compared with debian/tmp; systemd-rpm-macros (which defines
# %_userunitdir) is not on Debian.
multiarch=$(dpkg-architecture -q DEB_HOST_MULTIARCH)
rpmspec -P packaging/rpm/portd.spec \
  -D "_libdir /usr/lib/$multiarch" -D "_userunitdir /usr/lib/systemd/user" \
  >"$work/portd.spec.expanded" || fail "rpmspec -P packaging/rpm/portd.spec"
echo "rpmspec -P: parsed"
ruby -c packaging/homebrew/portd.rb || fail "ruby -c packaging/homebrew/portd.rb"
python3 .ci/check_manifest.py --destdir "$src/debian/tmp" \
  --spec "$work/portd.spec.expanded" $(printf -- '--deb %s ' "${debs[@]}") ||
  fail "packages and meson install disagree"

step "lintian"
# --fail-on error: warnings that remain are overridden, with a reason, in
# debian/*.lintian-overrides.
lintian --fail-on error --display-info "$out"/*.changes ||
  fail "lintian reported errors"
echo "lintian: no errors"

step "apt-get install ./*.deb"
apt-get install -y -qq "${debs[@]}" >/dev/null || fail "installing the packages"
dpkg-query -W portd libportd-client0 libportd-client-dev

step "using the installed portctl as an unprivileged user"
userdel -r "$test_user" 2>/dev/null || true
useradd --create-home --shell /bin/bash "$test_user"
uid=$(id -u "$test_user")
home=$(getent passwd "$test_user" | cut -d: -f6)
# No systemd user manager here: the runtime directory is made by hand, as
# pam_systemd would, and portctl starts the daemon itself.
run_dir="/tmp/portd-pkgtest-run-$uid"
install -d -m 0700 -o "$test_user" -g "$test_user" "$run_dir"
as_user() {
  runuser -u "$test_user" -- env -i HOME="$home" USER="$test_user" \
    PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$run_dir" "$@"
}
as_user mkdir -p "$home/myapp"
# Not a git repository: app and instance come from the environment.
port=$(cd "$home/myapp" && as_user PORTCTL_APP=myapp PORTCTL_INSTANCE=main \
  /usr/bin/portctl allocate --service web -q) ||
  fail "portctl allocate --service web"
[[ $port =~ ^[0-9]+$ ]] || fail "portctl allocate printed '$port', not a port"
echo "installed portctl allocated port $port for myapp/web (daemon autostarted)"
(cd "$home/myapp" && as_user /usr/bin/portctl list --all) || fail "portctl list"
[[ -S $run_dir/portd/portd.sock ]] || fail "no socket at $run_dir/portd/portd.sock"

step "systemd-analyze verify (user units)"
units=(/usr/lib/systemd/user/portd.socket /usr/lib/systemd/user/portd.service)
if ! command -v systemd-analyze >/dev/null; then
  echo "skipped: systemd-analyze is not installed"
else
  # --man=no: man page references are checked by `man -w` below instead.
  if ! verify_out=$(as_user systemd-analyze --user --man=no verify "${units[@]}" 2>&1); then
    printf '%s\n' "$verify_out"
    fail "systemd-analyze verify"
  fi
  [[ -n $verify_out ]] && printf '%s\n' "$verify_out"
  echo "systemd-analyze verify: clean"
fi

step "man pages"
for page in portctl portd portd.toml portd-protocol; do
  man -w "$page" || fail "man -w $page found nothing"
done

step "completion files where the shells look"
bash_dir=$(pkg-config --variable=completionsdir bash-completion 2>/dev/null ||
  echo /usr/share/bash-completion/completions)
[[ -f $bash_dir/portctl ]] || fail "no $bash_dir/portctl"
echo "bash: $bash_dir/portctl"
# check_completion SHELL DEBIAN_PATH CMD...: CMD prints where SHELL itself
# finds the file; without SHELL installed, the file must be at DEBIAN_PATH.
check_completion() {
  local shell=$1 debian_path=$2 found
  shift 2
  if command -v "$shell" >/dev/null; then
    found=$("$@")
    [[ -n $found ]] || fail "$(basename "$debian_path") is in no directory $shell searches"
    echo "$shell: $found"
  else
    [[ -f $debian_path ]] || fail "no $shell completion at $debian_path"
    echo "$shell (not installed, path checked): $debian_path"
  fi
}
check_completion zsh /usr/share/zsh/vendor-completions/_portctl \
  zsh -fc 'for d in $fpath; do [[ -f $d/_portctl ]] && print $d/_portctl; done; true'
check_completion fish /usr/share/fish/vendor_completions.d/portctl.fish \
  fish -c 'for d in $fish_complete_path; test -f $d/portctl.fish; and echo $d/portctl.fish; end; true'

step "apt-get purge keeps the user's state"
pgrep -u "$uid" -x portd | xargs -r kill
# Hash the state only after the daemon has finished its shutdown writes.
for _ in $(seq 100); do pgrep -u "$uid" -x portd >/dev/null || break; sleep 0.1; done
state="$home/.local/state/portd"
[[ -d $state ]] || fail "no state directory $state after allocating"
before=$(cd "$state" && find . -type f -exec sha256sum {} + | sort)
apt-get purge -y -qq portd libportd-client0 libportd-client-dev >/dev/null ||
  fail "apt-get purge"
for p in portd libportd-client0 libportd-client-dev; do
  if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed'; then
    fail "$p is still installed"
  fi
done
[[ ! -e /usr/bin/portctl && ! -e /usr/bin/portd ]] || fail "binaries left after purge"
after=$(cd "$state" && find . -type f -exec sha256sum {} + | sort)
[[ $before == "$after" ]] || fail "purge changed $state"
echo "purged; $state unchanged ($(wc -l <<<"$after") files)"

echo "package: all checks passed"
