#!/usr/bin/env bash
# Run every test file (tests/*_test.ts, written with node:test + node:assert/strict)
# on Deno, Bun and Node 24, using only the runtimes installed by `npm install`
# into node_modules/.bin.
#
# Usage:
#   bash scripts/test_all.sh                 # all tests, all runtimes
#   RUNTIMES="deno node" bash scripts/test_all.sh
#   bash scripts/test_all.sh pool queue      # only test files whose path contains "pool" or "queue"
#   bash scripts/test_all.sh tests/pool_test.ts
#
# Environment:
#   RUNTIMES        space-separated subset of "deno bun node" (default: all three)
#   TEST_TIMEOUT    wall-clock limit in seconds per runtime (default: 600)
#   PER_TEST_TIMEOUT_MS  default per-test timeout for bun (--timeout; bun's own default is 5000)
#                   and node (--test-timeout; node's own default is none) (default: 30000).
#                   A test's own `{ timeout }` option overrides it on both; a `describe(..., { timeout })`
#                   does NOT raise it for the tests inside. Deno has no such flag.
#   DENO_NO_CHECK=1 skip the `deno check` of the test files that runs before `deno test --no-check`
#   NODE_FORCE_EXIT=0  don't pass --test-force-exit to node (then a leaked handle hangs the run)
#
# Prints each runtime's full output, then one line per runtime ("deno: X passed, Y failed")
# and, as the very last line, the total: "N passed, N failed".
# Exits non-zero if any runtime had failures, ran zero tests, crashed, timed out, or produced
# output that could not be parsed (each such runtime counts as at least 1 failed).

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
BIN="$ROOT/node_modules/.bin"
export PATH="$BIN:$PATH"

RUNTIMES="${RUNTIMES:-deno bun node}"
TEST_TIMEOUT="${TEST_TIMEOUT:-600}"
PER_TEST_TIMEOUT_MS="${PER_TEST_TIMEOUT_MS:-30000}"

# No ANSI colours when not writing to a terminal (CI logs); the parser strips them anyway.
if [ ! -t 1 ]; then
  export NO_COLOR=1
  unset FORCE_COLOR
fi

TMPDIR_T="$(mktemp -d "${TMPDIR:-/tmp}/test_all.XXXXXX")"
trap 'rm -rf "$TMPDIR_T"' EXIT

# ---- select test files ------------------------------------------------------------------------
shopt -s nullglob
all_files=(tests/*_test.ts)
shopt -u nullglob

files=()
if [ "$#" -eq 0 ]; then
  files=("${all_files[@]}")
else
  for f in "${all_files[@]}"; do
    for pat in "$@"; do
      if [[ "$f" == *"$pat"* || "./$f" == "$pat" ]]; then
        files+=("$f")
        break
      fi
    done
  done
fi

total_pass=0
total_fail=0
summaries=()
any_failed=0

add_result() { # name pass fail note
  local name="$1" p="$2" f="$3" note="${4:-}"
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  summaries+=("$name: $p passed, $f failed${note:+  ($note)}")
  if [ "$f" -ne 0 ]; then any_failed=1; fi
}

finish() {
  echo
  echo "==== test summary ===="
  local s
  for s in "${summaries[@]}"; do echo "$s"; done
  echo "$total_pass passed, $total_fail failed"
  if [ "$any_failed" -ne 0 ] || [ "$total_fail" -ne 0 ]; then exit 1; fi
  exit 0
}

if [ "${#files[@]}" -eq 0 ]; then
  echo "test_all: no test files matched (tests/*_test.ts${*:+ filtered by: $*})" >&2
  for rt in $RUNTIMES; do add_result "$rt" 0 1 "no test files"; done
  [ "${#summaries[@]}" -eq 0 ] && add_result "all" 0 1 "no test files"
  finish
fi

strip_ansi() { sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$1"; }

# Last integer captured by an extended regex's first group on matching lines, or "" if none.
last_num() { # file regex
  strip_ansi "$1" | sed -nE "s/$2/\\1/p" | tail -n 1
}

run_runtime() { # name cmd...
  local name="$1"
  shift
  local out="$TMPDIR_T/$name.out"
  echo
  echo "==================== $name ===================="
  echo "+ $*"
  local start end rc
  start=$(date +%s)
  timeout -k 15 "$TEST_TIMEOUT" "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  end=$(date +%s)
  # make sure the status line starts on its own line
  if [ -s "$out" ] && [ -n "$(tail -c 1 "$out")" ]; then echo; fi
  echo "---- $name exited with code $rc after $((end - start))s"

  local p="" f="" extra=0 note=""
  case "$name" in
    deno)
      # e.g. "ok | 2 passed (3 steps) | 0 failed (12ms)" / "FAILED | 1 passed | 1 failed (1 step) | 1 ignored"
      local line
      line="$(strip_ansi "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)"
      if [ -n "$line" ]; then
        p="$(sed -nE 's/^(ok|FAILED) \| ([0-9]+) passed.*/\2/p' <<<"$line")"
        f="$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$line")"
        # Deno reports a describe() as one test and the tests inside it as its "steps"; count
        # the steps, as Bun and Node count each test (every test file uses describe()).
        local steps fsteps
        steps="$(sed -nE 's/^(ok|FAILED) \| [0-9]+ passed \(([0-9]+) steps?\).*/\2/p' <<<"$line")"
        fsteps="$(sed -nE 's/.*\| [0-9]+ failed \(([0-9]+) steps?\).*/\1/p' <<<"$line")"
        [ -n "$steps" ] && p="$steps"
        [ -n "$fsteps" ] && f="$fsteps"
      fi
      ;;
    bun)
      # e.g. " 4 pass" / " 0 fail" / " 1 error"
      p="$(last_num "$out" '^[[:space:]]*([0-9]+) pass$')"
      f="$(last_num "$out" '^[[:space:]]*([0-9]+) fail$')"
      local e
      e="$(last_num "$out" '^[[:space:]]*([0-9]+) errors?$')"
      if [ -n "$f" ] && [ -n "$e" ] && [ "$f" -eq 0 ] && [ "$e" -gt 0 ]; then
        f="$e"
        note="unhandled errors"
      fi
      ;;
    node)
      # spec reporter: "ℹ pass 4" / tap reporter: "# pass 4"
      p="$(strip_ansi "$out" | sed -nE 's/^(ℹ|#) pass ([0-9]+)$/\2/p' | tail -n 1)"
      f="$(strip_ansi "$out" | sed -nE 's/^(ℹ|#) fail ([0-9]+)$/\2/p' | tail -n 1)"
      local c
      c="$(strip_ansi "$out" | sed -nE 's/^(ℹ|#) cancelled ([0-9]+)$/\2/p' | tail -n 1)"
      if [ -n "$f" ] && [ -n "$c" ]; then extra=$((extra + c)); fi
      ;;
  esac

  if [ -z "$p" ] || [ -z "$f" ]; then
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      note="timed out after ${TEST_TIMEOUT}s, no summary"
    else
      note="could not parse summary, exit code $rc"
    fi
    add_result "$name" "${p:-0}" 1 "$note"
    return
  fi
  f=$((f + extra))
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    note="timed out after ${TEST_TIMEOUT}s"
    [ "$f" -eq 0 ] && f=1
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    note="exit code $rc with no failed test"
    f=1
  elif [ "$((p + f))" -eq 0 ]; then
    note="ran zero tests"
    f=1
  fi
  add_result "$name" "$p" "$f" "$note"
}

# Node 22, for the consumer tests (tests/installed_test.ts) that run the installed library on
# it from Node's run: installed from the npm registry into scripts/node22 when missing.
if [[ " $RUNTIMES " == *" node "* ]] && [ ! -x scripts/node22/node_modules/.bin/node ]; then
  echo "+ npm ci --prefix scripts/node22 (Node 22 for the consumer tests)"
  npm ci --prefix scripts/node22 --no-audit --no-fund >"$TMPDIR_T/node22.log" 2>&1 ||
    tail -n 20 "$TMPDIR_T/node22.log"
fi

# redis-server, for the cluster tests (tests/cluster_*_test.ts, a real broker each): Debian's
# package, installed when missing and this user can (root with apt-get, as on CI).
if [[ " ${files[*]} " == *cluster_* ]] && ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "+ apt-get install -y redis-server (for the cluster tests)"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; } \
      >"$TMPDIR_T/redis.log" 2>&1 || tail -n 20 "$TMPDIR_T/redis.log"
  else
    echo "test_all: redis-server is missing: install it (apt-get install redis-server) for the cluster tests" >&2
  fi
fi

for rt in $RUNTIMES; do
  case "$rt" in
    deno)
      # Type-check the test files (and everything they import) up front, then run the tests with
      # --no-check: with checking on, `deno test` also type-checks every module that a test starts
      # as a Worker, at each spawn, which made the suite ~5x slower (134s vs 26s).
      if [ "${DENO_NO_CHECK:-0}" = "1" ]; then
        run_runtime deno "$BIN/deno" test -A --no-check "${files[@]}"
      else
        run_runtime deno bash -c '"$0" check "$@" && exec "$0" test -A --no-check "$@"' \
          "$BIN/deno" "${files[@]}"
      fi
      ;;
    bun)
      # bun treats arguments without "./" as name filters, so pass explicit paths.
      bun_files=()
      for f in "${files[@]}"; do bun_files+=("./$f"); done
      run_runtime bun "$BIN/bun" test --timeout "$PER_TEST_TIMEOUT_MS" "${bun_files[@]}"
      ;;
    node)
      node_args=(--test "--test-timeout=$PER_TEST_TIMEOUT_MS")
      [ "${NODE_FORCE_EXIT:-1}" = "1" ] && node_args+=(--test-force-exit)
      run_runtime node "$BIN/node" "${node_args[@]}" "${files[@]}"
      ;;
    *)
      echo "test_all: unknown runtime '$rt' (expected deno, bun or node)" >&2
      add_result "$rt" 0 1 "unknown runtime"
      ;;
  esac
done

[ "${#summaries[@]}" -eq 0 ] && add_result "none" 0 1 "RUNTIMES is empty"
finish
