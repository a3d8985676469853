#!/usr/bin/env bash
# Installs what the tests need (idempotent, quiet: iptables, iproute2, python3-zmq, chromium), runs every test, prints "N passed, N failed, N skipped".
# Usage: bash tools/test.sh [extra dotnet test args, e.g. --filter Category!=Integration]
# A handful of failures are run once more (tools/trx.py reads the results): one that passes then is listed as flaky.
# A test that runs longer than MULTICAST_HANG_TIMEOUT (default 10m) is a hang: the run is aborted, the hung test named
# and counted as failed (the tests after it do not run), so a hang fails the run in minutes, not at CI's time limit.
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
# The ZeroMQ transport is NetMQ (managed, from NuGet): nothing to install. Only the libzmq interop tests need Debian's
# python3-zmq (it brings libzmq5, which tools/Bench's libzmq peers use too); without it they are skipped, saying so.
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
/usr/bin/python3 -c 'import zmq' >/dev/null 2>&1 || need+=(python3-zmq)
[ -x /usr/bin/chromium ] || need+=(chromium)   # the cluster page's browser test (Playwright drives Debian's chromium)
# The Redis-backed session apps of tools/Bench (Tests/Tools/Bench/RedisBaselineAppTests.cs) run on a private redis-server.
[ -x /usr/bin/redis-server ] || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || echo "warning: could not install ${need[*]}; the tests that need them will say so"
  else
    echo "warning: missing ${need[*]} (run as root with apt-get to install); the tests that need them will say so"
  fi
fi

out=$(mktemp)
trx=$(mktemp -d)
hang=(--blame-hang-timeout "${MULTICAST_HANG_TIMEOUT:-10m}" --blame-hang-dump-type none)
dotnet test Tests/Multicast.Tests.csproj -c Release --logger "console;verbosity=normal" \
  --logger "trx;LogFileName=first.trx" --results-directory "$trx" "${hang[@]}" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# The blame collector kills a hung test host: "The test running when the crash occurred:" and the test's name next.
hung=$(grep -A1 "The test running when the crash occurred" "$out" | tail -n +2 | grep -v "^--$" | sed 's/^ *//' | grep . | sort -u)
aborted=$(grep -c "^Test Run Aborted" "$out")
discovered=$(grep -oE "discovered [0-9]+ of [0-9]+ NUnit test cases" "$out" | tail -1 | grep -oE "[0-9]+" | head -1)
line=$(grep -E "^(Passed|Failed)!|Total tests:" "$out" | tail -1)
passed=$(grep -oE "Passed: *[0-9]+" "$out" | tail -1 | grep -oE "[0-9]+")
failed=$(grep -oE "Failed: *[0-9]+" "$out" | tail -1 | grep -oE "[0-9]+")
skipped=$(grep -oE "Skipped: *[0-9]+" "$out" | tail -1 | grep -oE "[0-9]+")
rm -f "$out"
if [ -z "$passed$failed" ] && [ "$aborted" -eq 0 ]; then
  rm -rf "$trx"
  echo "0 passed, 1 failed (the test run did not complete: $line)"
  exit 1
fi
passed=${passed:-0} failed=${failed:-0} skipped=${skipped:-0}
finished_failed=$failed
# An aborted run (a hang, or a test host that crashed) reports only the tests that finished: the test it was running
# counts as failed (one, if none is named), and the tests after it did not run. Such a test is not run again.
if [ "$aborted" -gt 0 ]; then
  n=$(printf '%s' "$hung" | grep -c .)
  [ "$n" -eq 0 ] && n=1
  failed=$((failed + n))
  notrun=$(( ${discovered:-0} - passed - failed - skipped ))
  echo
  echo "the test run was aborted (a test ran longer than ${MULTICAST_HANG_TIMEOUT:-10m}, or the test host crashed); $(( notrun > 0 ? notrun : 0 )) tests after it did not run; counted as failed:"
  printf '%s\n' "${hung:-(not named)}" | sed 's/^/  /'
fi

# A few failures are run once more, alone: a test that fails under the machine's load and passes when run again is
# reported as flaky, by name, and counted as passed; one that fails twice counts as failed. Many failures mean a real
# break: no second run.
if [ "$failed" -gt 0 ] && [ "$aborted" -eq 0 ] && [ -f "$trx/first.trx" ] && command -v python3 >/dev/null 2>&1; then
  list=$(python3 tools/trx.py failed "$trx/first.trx")
  echo
  echo "failed in the first run:"
  printf '%s\n' "$list" | cut -f2 | sed 's/^/  /'
  if [ "$failed" -le "${MULTICAST_RERUN_LIMIT:-25}" ]; then
    filter=$(printf '%s\n' "$list" | cut -f1 | sort -u | paste -sd'|')
    echo "running them once more: $filter"
    dotnet test Tests/Multicast.Tests.csproj -c Release --no-build --logger "console;verbosity=normal" \
      --logger "trx;LogFileName=again.trx" --results-directory "$trx" "${hang[@]}" --filter "$filter" -- NUnit.ExplicitMode=Strict > "$trx/again.log" 2>&1
    if [ -f "$trx/again.trx" ]; then
      recovered=$(python3 tools/trx.py recovered "$trx/first.trx" "$trx/again.trx")
      n=$(printf '%s' "$recovered" | grep -c .)
      if [ "$n" -gt 0 ]; then
        echo "flaky (failed under load, passed when run again; $n):"
        printf '%s\n' "$recovered" | sed 's/^/  /'
      fi
      passed=$((passed + n)) failed=$((failed - n))
      [ "$failed" -gt 0 ] && { echo "failed twice:"; grep -E "^\s+Failed " "$trx/again.log" | sed 's/^ */  /'; }
    else
      echo "the second run did not complete:"; tail -5 "$trx/again.log"
    fi
  fi
elif [ "$finished_failed" -gt 0 ] && [ -f "$trx/first.trx" ] && command -v python3 >/dev/null 2>&1; then
  echo "failed before the abort (not run again):"
  python3 tools/trx.py failed "$trx/first.trx" | cut -f2 | sed 's/^/  /'
fi
rm -rf "$trx"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && exit 0
exit $(( rc == 0 ? 1 : rc ))
