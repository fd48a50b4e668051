#!/usr/bin/env bash
# Pinned Node.js runtime. Portcullis supports the Node LTS lines 24 and 26. When the machine's
# `node` is one of them, it is used as it is; otherwise (Node 20, 22, an odd line, none at all
# but npm) the pinned 26.x is installed from the npm registry and put first on PATH.
#
#   source scripts/node.sh       # makes `node` (and so npm, npx) a supported Node in this shell
#   scripts/node.sh              # same, then prints the node binary's path
#
# Cache: ${PORTCULLIS_TOOLS_DIR:-$HOME/.cache/portcullis/tools}/node-<version>/ (outside the clone,
# so later clones reuse it). The npm registry serves official Node builds as the packages
# node-<os>-<arch>; npm verifies the tarball against the registry's integrity hash. Nothing is
# downloaded from anywhere else.
# PORTCULLIS_NODE=pinned uses the pinned version even when the machine's node is supported.

PORTCULLIS_NODE_VERSION=26.12.1
PORTCULLIS_NODE_LINES="24 26"
PORTCULLIS_TOOLS_DIR="${PORTCULLIS_TOOLS_DIR:-$HOME/.cache/portcullis/tools}"

_portcullis_node_log() { printf 'node.sh: %s\n' "$*" >&2; }

# The node-<os>-<arch> package that carries an official build for this machine.
_portcullis_node_package() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) _portcullis_node_log "no Node package for $(uname -s); install Node 24 or 26 yourself"; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) _portcullis_node_log "no Node package for $(uname -m); install Node 24 or 26 yourself"; return 1 ;;
  esac
  printf 'node-%s-%s\n' "$os" "$arch"
}

_portcullis_node_supported() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" || return 1
  case " $PORTCULLIS_NODE_LINES " in *" $major "*) return 0 ;; esac
  return 1
}

portcullis_node() {
  if [ "${PORTCULLIS_NODE:-}" != pinned ] && _portcullis_node_supported; then
    return 0
  fi
  local pkg dir bin
  pkg="$(_portcullis_node_package)" || return 1
  dir="$PORTCULLIS_TOOLS_DIR/node-$PORTCULLIS_NODE_VERSION"
  bin="$dir/node_modules/$pkg/bin"
  if [ ! -x "$bin/node" ]; then
    command -v npm >/dev/null 2>&1 || {
      _portcullis_node_log "npm is needed to install Node $PORTCULLIS_NODE_VERSION (or install Node 24 or 26 yourself)"
      return 1
    }
    _portcullis_node_log "installing Node $PORTCULLIS_NODE_VERSION ($pkg from the npm registry) into $dir, once"
    mkdir -p "$dir" || return 1
    local tmp
    tmp="$(mktemp -d "$dir/.install.XXXXXX")" || return 1
    if ! npm install --prefix "$tmp" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
      "$pkg@$PORTCULLIS_NODE_VERSION" >&2 || [ ! -x "$tmp/node_modules/$pkg/bin/node" ]; then
      rm -rf "$tmp"
      _portcullis_node_log "failed to install $pkg@$PORTCULLIS_NODE_VERSION"
      return 1
    fi
    # Rename into place: a concurrent installer never sees a half-written tree.
    rm -rf "$dir/node_modules" && mv "$tmp/node_modules" "$dir/node_modules" && rm -rf "$tmp"
  fi
  PATH="$bin:$PATH"
  export PATH
  hash -r 2>/dev/null || true
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  portcullis_node
  command -v node
else
  portcullis_node
fi
