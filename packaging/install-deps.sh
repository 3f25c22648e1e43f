#!/usr/bin/env bash
# Installs what portd needs to build (and, with --test, to run its tests) on
# Debian 12 or a recent Ubuntu. Idempotent: when everything is installed it
# only asks dpkg and exits, without apt-get update or root.
#
#   packaging/install-deps.sh            build dependencies
#   packaging/install-deps.sh --test     build + test dependencies
#   packaging/install-deps.sh --print    package lists (Debian, Fedora, macOS)
#   packaging/install-deps.sh --dry-run  show what would be installed
set -euo pipefail

build_pkgs=(
  meson ninja-build pkgconf g++
  libuv1-dev libmsgpack-cxx-dev liblmdb-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libsqlite3-dev
  libsystemd-dev
  scdoc bash-completion
)
# systemd: systemd-socket-activate. util-linux: setpriv, unshare.
# procps: pgrep, ps. clang + libclang-rt: libFuzzer and sanitizers.
# fiu-utils/libfiu-dev, strace, valgrind: fault injection and leak checks.
test_pkgs=(
  libgtest-dev libgmock-dev
  git jq lmdb-utils python3 systemd strace util-linux procps
  clang "libclang-rt-@CLANG@-dev"
  fiu-utils libfiu-dev valgrind
)

# Equivalents elsewhere, for --print. Not tested here (the build is tested on
# Debian); confirm with `dnf info` / `brew info` before relying on them.
fedora_build='meson ninja-build pkgconf gcc-c++ libuv-devel msgpack-cxx-devel lmdb-devel spdlog-devel fmt-devel tomlplusplus-devel json-devel cli11-devel yaml-cpp-devel sqlite-devel systemd-devel scdoc bash-completion'
fedora_test='gtest-devel gmock-devel git jq lmdb python3 systemd strace util-linux procps-ng clang compiler-rt libfiu libfiu-devel valgrind'
brew_build='meson ninja pkgconf libuv msgpack-cxx lmdb spdlog fmt tomlplusplus nlohmann-json cli11 yaml-cpp sqlite scdoc bash-completion@2'
brew_test='googletest git jq python llvm'

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

want_test=0
mode=install
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --print) mode=print ;;
    --dry-run|-n) mode=dry-run ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

# The compiler-rt package carries clang's major version (14 on Debian 12).
# Take it from the installed clang, else from apt's candidate.
clang_major() {
  local v
  v=$(dpkg-query -W -f='${Version}' clang 2>/dev/null || true)
  if [[ -z $v ]] && command -v apt-cache >/dev/null; then
    v=$(apt-cache policy clang 2>/dev/null | awk '/Candidate:/ { print $2 }')
  fi
  v=${v#*:}        # drop the epoch: 1:14.0-55.7 -> 14.0-55.7
  v=${v%%[.~-]*}   # keep the major version
  [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 14
}

wanted=("${build_pkgs[@]}")
if ((want_test)); then
  major=$(clang_major)
  wanted+=("${test_pkgs[@]/@CLANG@/$major}")
fi

if [[ $mode == print ]]; then
  echo "Debian/Ubuntu (apt-get install):"
  echo "  build: ${build_pkgs[*]}"
  echo "  test:  ${test_pkgs[*]/@CLANG@/N}  (N = clang's major version)"
  echo "Fedora (dnf install):"
  echo "  build: $fedora_build"
  echo "  test:  $fedora_test"
  echo "macOS (brew install; no systemd, strace, valgrind or libfiu there):"
  echo "  build: $brew_build"
  echo "  test:  $brew_test"
  exit 0
fi

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "install-deps.sh: this script handles Debian and Ubuntu only." >&2
  echo "Other systems: run '$0 --print' for the package names." >&2
  exit 1
fi

# One dpkg-query for all packages keeps the common case fast. Packages dpkg
# has never heard of are reported on stderr and simply stay missing.
declare -A installed=()
while read -r name status; do
  [[ $status == "install ok installed" ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)

missing=()
for p in "${wanted[@]}"; do
  [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#wanted[@]} packages are installed."
  exit 0
fi

echo "install-deps.sh: missing: ${missing[*]}"
if [[ $mode == dry-run ]]; then
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "install-deps.sh: not root and sudo is not installed; run as root." >&2
    exit 1
  fi
fi

apt_install() {
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Refresh the package lists first only when they look unusable: no lists
# at all, or a missing package apt has no candidate for. Otherwise try the
# install directly, and update once only if that fails (e.g. outdated lists
# naming versions the mirror no longer has).
needs_update=0
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  needs_update=1
else
  for p in "${missing[@]}"; do
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [[ -z $cand || $cand == "(none)" ]]; then
      needs_update=1
      break
    fi
  done
fi

if ((needs_update)); then
  "${sudo[@]}" apt-get update
  apt_install
elif ! apt_install; then
  echo "install-deps.sh: install failed; refreshing package lists and retrying once." >&2
  "${sudo[@]}" apt-get update
  apt_install
fi
