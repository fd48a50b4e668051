#!/usr/bin/env bash
# Interop clients for test/e2e/interop.test.ts, installed into a cache outside the clone:
#
#   bash scripts/interop.sh        # installs what is missing, then prints KEY=value lines:
#     PORTCULLIS_INTEROP_PYTHON=<venv python with the pinned `mcp` SDK>
#     PORTCULLIS_INTEROP_GO=<the Go SDK client, built from test/interop/go>
#
# Cache: ${PORTCULLIS_INTEROP_DIR:-$HOME/.cache/portcullis/interop}/
#   python-<python version>-<sha of test/interop/python/requirements.txt>/   (a venv)
#   go-<sha of test/interop/go/{go.sum,go.mod,main.go}>/interop-go
# Keys change when the pins (or the client's sources) change, so a stale install is never used;
# a finished install is marked `.complete`, an interrupted one is redone. When everything is
# cached this is a few hashes and file tests. Needs python3 (>= 3.10) with venv and pip access to
# PyPI, and Go (PATH, else /usr/local/go/bin) with the module proxy, once per key.
# Logs go to stderr; stdout carries only the KEY=value lines. Exit status non-zero on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${PORTCULLIS_INTEROP_DIR:-$HOME/.cache/portcullis/interop}"
PY_DIR="$ROOT/test/interop/python"
GO_DIR="$ROOT/test/interop/go"

log() { printf 'interop.sh: %s\n' "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

mkdir -p "$CACHE"

# --- Python: a venv with exactly the pinned packages -------------------------------------------
PYTHON="${PORTCULLIS_PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  log "python3 is required for the Python SDK client (set PORTCULLIS_PYTHON to another interpreter)"
  exit 1
fi
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  log "the mcp SDK needs Python >= 3.10; $PYTHON is $PY_VERSION"
  exit 1
fi
VENV="$CACHE/python-$PY_VERSION-$(hash_of "$PY_DIR/requirements.txt")"
if [ ! -f "$VENV/.complete" ]; then
  log "creating $VENV (mcp and its pinned dependencies from PyPI)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --requirement "$PY_DIR/requirements.txt" >&2
  "$VENV/bin/python" -c 'import mcp, importlib.metadata as m; print("mcp", m.version("mcp"))' >&2
  touch "$VENV/.complete"
fi

# --- Go: the client built with the module pinned in go.mod/go.sum ------------------------------
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    PATH="$PATH:/usr/local/go/bin"
  else
    log "Go is required to build the Go SDK client (not on PATH, not in /usr/local/go/bin)"
    exit 1
  fi
fi
GO_OUT="$CACHE/go-$(hash_of "$GO_DIR/go.sum" "$GO_DIR/go.mod" "$GO_DIR/main.go")"
if [ ! -f "$GO_OUT/.complete" ]; then
  log "building $GO_OUT/interop-go"
  rm -rf "$GO_OUT"
  mkdir -p "$GO_OUT"
  # -mod=readonly: go.mod and go.sum are used as committed, never rewritten.
  (cd "$GO_DIR" && GOFLAGS=-mod=readonly go build -trimpath -o "$GO_OUT/interop-go" .) >&2
  touch "$GO_OUT/.complete"
fi

printf 'PORTCULLIS_INTEROP_PYTHON=%s\n' "$VENV/bin/python"
printf 'PORTCULLIS_INTEROP_GO=%s\n' "$GO_OUT/interop-go"
