#!/usr/bin/env bash
# Checks Portcullis policy bundles (npm run policy:check):
#
#   scripts/policy-check.sh                      every bundle directory under rego/
#   scripts/policy-check.sh DIR...               these directories instead (e.g. test fixtures)
#
# For each directory, with the pinned OPA and Regal (scripts/tools.sh):
#   1. opa fmt --list --fail         every file formatted as `opa fmt` writes it
#   2. opa check --strict            policies and tests compile in strict mode
#   3. opa check --strict --capabilities <gateway capabilities>   (tests excluded)
#                                    the policy uses only builtins the gateway can run
#   4. regal lint                    with rego/.regal/config.yaml, whatever the directory
#   5. opa test                      all tests pass
#   6. opa test --coverage           policy lines (tests excluded) covered >= POLICY_COVERAGE_MIN%
#                                    (default and minimum 90)
# Directories are checked in parallel; every step runs for every directory, and the exit status
# is non-zero if any failed.
# opa test runs with --timeout (OPA_TEST_TIMEOUT, default 60s): its 5 s default fails on a loaded shared machine.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/node.sh
source "$here/node.sh" || exit 1
# shellcheck source=scripts/tools.sh
source "$here/tools.sh" || exit 1

# opa test gives each test 5 s by default; a loaded 2-core machine (other checks run in parallel)
# has gone past that, so failures here mean a failing test, not a slow machine.
opa_test_timeout="${OPA_TEST_TIMEOUT:-60s}"
min_coverage="${POLICY_COVERAGE_MIN:-90}"
if ! awk -v v="$min_coverage" 'BEGIN { exit !(v + 0 == v && v >= 90 && v <= 100) }'; then
  echo "policy-check: POLICY_COVERAGE_MIN must be a number from 90 to 100 (got '$min_coverage')" >&2
  exit 2
fi
regal_config="$root/rego/.regal/config.yaml"

if [ "$#" -gt 0 ]; then
  dirs=("$@")
else
  dirs=()
  for dir in "$root"/rego/*/; do
    dirs+=("${dir%/}")
  done
fi
if [ "${#dirs[@]}" -eq 0 ]; then
  echo "policy-check: no bundle directories under rego/" >&2
  exit 2
fi

# The capabilities file `npm run bundle` builds with (written by scripts/bundle.ts).
capabilities="$(cd "$root" && node scripts/bundle.ts --print-capabilities-file)" || {
  echo "policy-check: could not generate the gateway capabilities (scripts/bundle.ts)" >&2
  exit 1
}

if [ -t 1 ]; then ok=$'\e[32m✓\e[0m' bad=$'\e[31m✗\e[0m'; else ok='ok  ' bad='FAIL'; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# coverage DIR: runs the tests with coverage and checks the policy files' line coverage.
coverage() {
  local json
  json="$("$OPA_BIN" test --timeout "$opa_test_timeout" --coverage --format json "$1")" || {
    echo "opa test --coverage failed (see opa test above)"
    return 1
  }
  printf '%s' "$json" | node -e '
    const [min, dir] = process.argv.slice(1);
    let text = "";
    process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const report = JSON.parse(text);
      let covered = 0, total = 0;
      const gaps = [];
      for (const [file, f] of Object.entries(report.files ?? {})) {
        if (file.endsWith("_test.rego")) continue;
        covered += f.covered_lines ?? 0;
        total += (f.covered_lines ?? 0) + (f.not_covered_lines ?? 0);
        // Uncovered rows as merged ranges: file:10-13,20
        const rows = new Set();
        for (const r of f.not_covered ?? []) for (let row = r.start.row; row <= r.end.row; row++) rows.add(row);
        const ranges = [];
        for (const row of [...rows].sort((a, b) => a - b)) {
          const last = ranges[ranges.length - 1];
          if (last && row === last[1] + 1) last[1] = row; else ranges.push([row, row]);
        }
        if (ranges.length > 0) gaps.push(`${file}:${ranges.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(",")}`);
      }
      if (total === 0) {
        console.log(`no policy lines to cover in ${dir}`);
        process.exit(1);
      }
      const pct = (100 * covered) / total;
      const summary = `coverage ${pct.toFixed(1)}% of policy lines (${covered}/${total}), minimum ${min}%`;
      if (pct < Number(min)) {
        console.log(`${summary}: BELOW THE MINIMUM`);
        console.log(`not covered: ${gaps.join(" ")}`);
        process.exit(1);
      }
      console.log(summary);
    });
  ' "$min_coverage" "$1"
}

# check_dir DIR REPORT: runs every step for DIR, writes the report, returns the failure count.
check_dir() {
  local dir="$1" report="$2" failed=0 out="$2.step"
  # step NAME COMMAND...: runs COMMAND quietly; its output is shown only when it fails, and the
  # last line of a passing step's output is shown when SHOW_LAST is set.
  step() {
    local name="$1"
    shift
    if "$@" >"$out" 2>&1; then
      if [ -n "${SHOW_LAST:-}" ]; then name="$(tail -n 1 "$out")"; fi
      printf '  %s %s\n' "$ok" "$name"
    else
      printf '  %s %s\n' "$bad" "$name"
      sed 's/^/      /' "$out"
      failed=$((failed + 1))
    fi
  }
  {
    printf '%s\n' "${dir#"$root"/}"
    if [ ! -d "$dir" ]; then
      printf '  %s not a directory\n' "$bad"
      failed=1
    else
      step "opa fmt" "$OPA_BIN" fmt --list --fail "$dir"
      step "opa check --strict" "$OPA_BIN" check --strict "$dir"
      step "only builtins the gateway can run" \
        "$OPA_BIN" check --strict --capabilities "$capabilities" --ignore '*_test.rego' --ignore '.*' "$dir"
      step "regal lint" "$REGAL_BIN" lint --no-color --config-file "$regal_config" "$dir"
      step "opa test" "$OPA_BIN" test --timeout "$opa_test_timeout" "$dir"
      SHOW_LAST=1 step "coverage" coverage "$dir"
    fi
  } >"$report"
  return "$failed"
}

started=$SECONDS
pids=()
for i in "${!dirs[@]}"; do
  check_dir "${dirs[$i]}" "$work/$i" &
  pids+=("$!")
done
failures=0
for i in "${!dirs[@]}"; do
  wait "${pids[$i]}"
  failures=$((failures + $?))
  cat "$work/$i"
done

elapsed=$((SECONDS - started))
if [ "$failures" -gt 0 ]; then
  printf '\npolicy-check: %d check(s) failed (%ds)\n' "$failures" "$elapsed" >&2
  exit 1
fi
printf '\npolicy-check: all checks passed for %d bundle(s) (%ds)\n' "${#dirs[@]}" "$elapsed"
