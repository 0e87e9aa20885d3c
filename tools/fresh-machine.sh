#!/usr/bin/env bash
# How we verify that `make test` passes on a fresh machine (issue 13): a clean Debian bookworm
# (debootstrap, variant minbase) with nothing but git, make, Python 3.11 and the CA
# certificates; a git clone of the repository at its current HEAD; `make test` as root. Every
# other program the tests drive (sshd, Chromium, poppler, LibreOffice, Dovecot...) must come
# from `make test` itself (.ci/install-system), and every Python package from `make test`'s
# venv: what a new developer's machine would do.
#
#   sudo tools/fresh-machine.sh [REPO]        REPO defaults to this checkout's repository
#
# Environment: FRESH_ROOT (the chroot, default /tmp/fresh-root; reused when it exists, so a
# second run skips debootstrap), FRESH_CLEAN=1 (remove FRESH_ROOT first: a truly fresh run),
# FRESH_LOG (default /tmp/fresh.log), PYTEST_ARGS (default "-n 1 -x -q"), FRESH_COMMIT (a commit
# or branch of REPO to test instead of its HEAD, e.g. a branch not merged yet).
#
# The host's apt sources and settings, its CA bundle and its pip configuration are copied in,
# so that apt and pip reach the same registries (and through the same proxy) as the host. The
# chroot shares the host's network: the tests start their own sshd, dovecot and SMTP servers
# on loopback ports. PostgreSQL is not needed (`make test` runs on SQLite).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
REPO=${1:-$HERE}
ROOT=${FRESH_ROOT:-/tmp/fresh-root}
LOG=${FRESH_LOG:-/tmp/fresh.log}
PYTEST_ARGS=${PYTEST_ARGS:-"-n 1 -x -q"}
MIRROR=${FRESH_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 1; }
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
started=$(date +%s)
say() { echo "[fresh $(date -u +%H:%M:%S)] $*"; }

COMMIT=$(git -C "$REPO" rev-parse "${FRESH_COMMIT:-HEAD}^{commit}")
say "repository $REPO at $COMMIT; chroot $ROOT"

command -v debootstrap >/dev/null || { say "installing debootstrap on the host"; apt-get install -y -q -o DPkg::Lock::Timeout=600 debootstrap >/dev/null; }

mounted=()
cleanup() {
  local i
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_in() {  # mount_in TARGET ARGS...: mount and remember it for the cleanup
  local target=$1; shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounted+=("$target")
}

if [ "${FRESH_CLEAN:-}" = 1 ] && [ -d "$ROOT" ]; then
  # Never remove through a mount left by an interrupted run (/dev, the repository).
  if findmnt -rn -o TARGET | grep -q "^$ROOT/"; then echo "mounts remain under $ROOT; unmount them first" >&2; exit 1; fi
  say "removing $ROOT"
  rm -rf --one-file-system "$ROOT"
fi

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  say "debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$LOG.debootstrap" 2>&1 \
    || { tail -20 "$LOG.debootstrap"; exit 1; }
fi

# The host's apt sources and settings (mirror, proxy, snapshot validity).
rm -f "$ROOT/etc/apt/sources.list"
cp -a /etc/apt/sources.list.d/. "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$ROOT/etc/apt/sources.list"
for conf in /etc/apt/apt.conf.d/*; do
  case $(basename "$conf") in docker-*|20packagekit|50appstream) ;; *) cp "$conf" "$ROOT/etc/apt/apt.conf.d/" ;; esac
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

# The chroot's / as a mount point of its own, as / always is on a real machine (the agent's
# disk collector, and its test, look for the filesystem mounted at /).
mount_in "$ROOT" --bind "$ROOT"
mount_in "$ROOT/proc" -t proc proc
mount_in "$ROOT/sys" -t sysfs sysfs
mount_in "$ROOT/dev" --bind /dev
mount_in "$ROOT/dev/pts" --bind /dev/pts
mount_in "$ROOT/dev/shm" --bind /dev/shm   # Chromium's shared memory
mount_in "$ROOT/mnt/source" --bind -o ro "$REPO"

in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=60 "$@"
}

say "installing git, make, python3 (3.11), python3-venv, ca-certificates"
in_root apt-get update -q > /dev/null
in_root apt-get install -y -q --no-install-recommends git make python3 python3-venv ca-certificates > /dev/null
in_root python3 --version

# The host's CA bundle (it may hold a proxy's CA) and pip configuration, after
# ca-certificates, which would otherwise write its own bundle over it.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
if [ -f /root/.config/pip/pip.conf ]; then
  mkdir -p "$ROOT/root/.config/pip" && cp /root/.config/pip/pip.conf "$ROOT/root/.config/pip/pip.conf"
fi

say "cloning $COMMIT"
rm -rf "$ROOT/root/councildesk"
in_root git -c safe.directory='*' clone -q /mnt/source /root/councildesk
in_root git -C /root/councildesk -c advice.detachedHead=false checkout -q "$COMMIT"

say "make test PYTEST_ARGS=\"$PYTEST_ARGS\""
test_started=$(date +%s)
status=0
in_root bash -c "cd /root/councildesk && make test PYTEST_ARGS='$PYTEST_ARGS'" || status=$?
ended=$(date +%s)
say "commit $COMMIT: make test exited $status after $(( (ended - test_started) / 60 )) min $(( (ended - test_started) % 60 )) s" \
    "(whole run $(( (ended - started) / 60 )) min)"
exit $status
