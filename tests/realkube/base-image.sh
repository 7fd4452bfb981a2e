#!/usr/bin/env bash
# Build a Python 3.11 base image for the Dockerfile's BASE argument without Docker Hub:
# a Debian bookworm root filesystem (debootstrap --variant=minbase) with python3,
# python3-pip, python3-venv and ca-certificates, plus this machine's extra CA
# certificates (/usr/local/share/ca-certificates/*.crt: a TLS-intercepting egress proxy
# is trusted only through them, and pip inside `docker build` goes through it).
#
#   ${XDG_CACHE_HOME:-~/.cache}/b2tui/base-python3.11-bookworm-<hash>.tar
#
# <hash> covers this script and the CA certificates: a second run finds the tarball and
# exits at once. Prints the tarball's path on its last line; load it with
# `docker import TARBALL b2tui-base/python:3.11-slim` (tests/realkube/test_image.py does).
# Needs root and the Debian package `debootstrap`. Usage: tests/realkube/base-image.sh
set -euo pipefail

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/b2tui"
shopt -s nullglob
CERTS=(/usr/local/share/ca-certificates/*.crt)
HASH="$(cat "$0" "${CERTS[@]}" | sha256sum | cut -c1-12)"
OUT="$CACHE/base-python3.11-bookworm-$HASH.tar"

if [ -s "$OUT" ]; then
  echo "$OUT"
  exit 0
fi

log() { echo "[base-image $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$CACHE"
ROOT="$(mktemp -d "$CACHE/base-rootfs.XXXXXX")"
# debootstrap mounts /proc and /sys in the target while it runs; never delete through them.
cleanup() {
  umount -R "$ROOT/proc" "$ROOT/sys" 2>/dev/null || true
  rm -rf --one-file-system "$ROOT" "$OUT.part"
}
trap cleanup EXIT

log "debootstrap bookworm (minbase + python3) from $MIRROR into $ROOT"
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
  bookworm "$ROOT" "$MIRROR" >&2

for crt in "${CERTS[@]}"; do
  cp "$crt" "$ROOT/usr/local/share/ca-certificates/"
done
chroot "$ROOT" update-ca-certificates >&2

# The python:3.11-slim conventions the Dockerfile relies on: `python` on PATH, pip may
# install into the system interpreter (Debian marks it externally managed, PEP 668).
ln -sf python3 "$ROOT/usr/bin/python"
rm -f "$ROOT"/usr/lib/python3.*/EXTERNALLY-MANAGED
# An image needs no package lists, caches or documentation.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*

log "packing $OUT"
chmod 755 "$ROOT"  # mktemp made it 0700: the image's / must let every user in
tar --numeric-owner --xattrs -C "$ROOT" -cf "$OUT.part" .
mv "$OUT.part" "$OUT"
# Tarballs of earlier versions of this script are of no further use.
find "$CACHE" -maxdepth 1 -name 'base-python3.11-bookworm-*.tar' ! -name "${OUT##*/}" -delete
log "done: $(du -h "$OUT" | cut -f1)"
echo "$OUT"
