#!/usr/bin/env bash
# Pinned toolchain: OPA and Regal (policy), Jaeger (the tracing e2e test), built with `go install`
# into a cache outside the clone.
#
#   source scripts/tools.sh          # installs what is missing, exports OPA_BIN, REGAL_BIN, ...
#   scripts/tools.sh                 # same, then prints KEY=value lines (eval-able)
#   scripts/tools.sh opa|regal       # prints one binary's path
#   scripts/tools.sh jaeger          # installs Jaeger too (minutes and a few GB the first time), prints its path
#
# Jaeger is not part of the default set: only test/e2e/jaeger.test.ts needs it, and its first
# build is long. `portcullis_jaeger` (sourced) or `scripts/tools.sh jaeger` installs it and sets
# JAEGER_BIN; .ci/run does so.
#
# Cache: ${PORTCULLIS_TOOLS_DIR:-$HOME/.cache/portcullis/tools}/<name>-<version>/<name>
# Every Portcullis script uses these binaries, never whatever `opa`/`regal` is on PATH.
# Installing needs Go (PATH, else /usr/local/go/bin) and module proxy access, once per version;
# afterwards this is a couple of file tests.
#
# Also cached beside the OPA binary: builtin_metadata.json from the same OPA module version. Its
# "wasm": true entries are the builtins OPA's WASM compiler implements natively, which
# scripts/bundle.ts needs to write the capabilities file.

PORTCULLIS_OPA_VERSION=v1.22.2
PORTCULLIS_REGAL_VERSION=v0.42.0
# The v2 line (built on the OpenTelemetry Collector); its module tags are v1.x.
PORTCULLIS_JAEGER_VERSION=v1.76.0
PORTCULLIS_TOOLS_DIR="${PORTCULLIS_TOOLS_DIR:-$HOME/.cache/portcullis/tools}"

_portcullis_log() { printf 'tools.sh: %s\n' "$*" >&2; }

_portcullis_go() {
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then
      PATH="$PATH:/usr/local/go/bin"
      export PATH
    else
      _portcullis_log "Go is required to install the pinned tools (not on PATH, not in /usr/local/go/bin)"
      return 1
    fi
  fi
}

# Directory of a module version in the Go module cache (downloaded and checksum-verified first).
_portcullis_module_dir() {
  local json
  json="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "$1@$2")" || return 1
  printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

# _portcullis_install NAME VERSION MODULE [LDFLAGS] [PACKAGE]: builds the main package PACKAGE
# (a directory of the module, default its root) of MODULE@VERSION into
# $PORTCULLIS_TOOLS_DIR/NAME-VERSION/NAME unless it is already there.
_portcullis_install() {
  local name="$1" version="$2" module="$3" ldflags="${4:-}" package="${5:-.}"
  local spec="$module"
  [ "$package" != "." ] && spec="$module/${package#./}"
  local dir="$PORTCULLIS_TOOLS_DIR/$name-$version"
  [ -x "$dir/$name" ] && return 0
  _portcullis_go || return 1
  mkdir -p "$dir" || return 1
  local tmp log
  tmp="$(mktemp -d "$dir/.install.XXXXXX")" || return 1
  log="$tmp/install.log"
  _portcullis_log "installing $name $version into $dir (go install; takes a minute, once)"
  if ! (cd "${TMPDIR:-/tmp}" && GOBIN="$tmp" go install -ldflags="$ldflags" "$spec@$version") >"$log" 2>&1; then
    # `go install mod@version` also asks the proxy for the module's version list (deprecation
    # check); proxy.golang.org answers 403 for regal's list. Jaeger's go.mod has replace
    # directives, which `go install mod@version` refuses. Build the same, checksum-verified
    # module version from its own directory in the module cache instead.
    local src
    if src="$(_portcullis_module_dir "$module" "$version" 2>>"$log")" && [ -n "$src" ] &&
      (cd "$src" && GOBIN="$tmp" GOFLAGS=-mod=readonly go install -ldflags="$ldflags" "$package") >>"$log" 2>&1; then
      :
    else
      cat "$log" >&2
      rm -rf "$tmp"
      _portcullis_log "failed to install $name $version"
      return 1
    fi
  fi
  # Rename into place: concurrent installers never expose a half-written binary.
  mv -f "$tmp/$name" "$dir/$name" && rm -rf "$tmp"
}

_portcullis_opa_metadata() {
  local file="$PORTCULLIS_TOOLS_DIR/opa-$PORTCULLIS_OPA_VERSION/builtin_metadata.json"
  [ -s "$file" ] && return 0
  _portcullis_go || return 1
  local src
  src="$(_portcullis_module_dir github.com/open-policy-agent/opa "$PORTCULLIS_OPA_VERSION")" && [ -n "$src" ] || {
    _portcullis_log "cannot download the OPA $PORTCULLIS_OPA_VERSION module for builtin_metadata.json"
    return 1
  }
  cp "$src/builtin_metadata.json" "$file.tmp.$$" && chmod 644 "$file.tmp.$$" && mv -f "$file.tmp.$$" "$file"
}

portcullis_tools() {
  _portcullis_install opa "$PORTCULLIS_OPA_VERSION" github.com/open-policy-agent/opa &&
    _portcullis_opa_metadata &&
    _portcullis_install regal "$PORTCULLIS_REGAL_VERSION" github.com/open-policy-agent/regal \
      "-X github.com/open-policy-agent/regal/pkg/version.Version=$PORTCULLIS_REGAL_VERSION" || return 1
  OPA_BIN="$PORTCULLIS_TOOLS_DIR/opa-$PORTCULLIS_OPA_VERSION/opa"
  REGAL_BIN="$PORTCULLIS_TOOLS_DIR/regal-$PORTCULLIS_REGAL_VERSION/regal"
  OPA_BUILTIN_METADATA="$PORTCULLIS_TOOLS_DIR/opa-$PORTCULLIS_OPA_VERSION/builtin_metadata.json"
  export OPA_BIN REGAL_BIN OPA_BUILTIN_METADATA PORTCULLIS_OPA_VERSION PORTCULLIS_REGAL_VERSION PORTCULLIS_TOOLS_DIR
}

# Jaeger for the tracing e2e test (test/e2e/jaeger.test.ts finds it through JAEGER_BIN).
portcullis_jaeger() {
  _portcullis_install jaeger "$PORTCULLIS_JAEGER_VERSION" github.com/jaegertracing/jaeger "" ./cmd/jaeger || return 1
  JAEGER_BIN="$PORTCULLIS_TOOLS_DIR/jaeger-$PORTCULLIS_JAEGER_VERSION/jaeger"
  export JAEGER_BIN PORTCULLIS_JAEGER_VERSION
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Executed, not sourced.
  set -euo pipefail
  # Jaeger alone needs neither OPA nor Regal: CI builds it beside them.
  [ "${1:-}" = jaeger ] || portcullis_tools
  case "${1:-}" in
    opa) printf '%s\n' "$OPA_BIN" ;;
    regal) printf '%s\n' "$REGAL_BIN" ;;
    jaeger)
      portcullis_jaeger
      printf '%s\n' "$JAEGER_BIN"
      ;;
    '')
      printf 'OPA_BIN=%s\nREGAL_BIN=%s\nOPA_BUILTIN_METADATA=%s\nPORTCULLIS_OPA_VERSION=%s\nPORTCULLIS_REGAL_VERSION=%s\n' \
        "$OPA_BIN" "$REGAL_BIN" "$OPA_BUILTIN_METADATA" "$PORTCULLIS_OPA_VERSION" "$PORTCULLIS_REGAL_VERSION"
      ;;
    *)
      printf 'usage: %s [opa|regal|jaeger]\n' "$0" >&2
      exit 2
      ;;
  esac
else
  portcullis_tools
fi
