#!/usr/bin/env bash
# Installs what the tests need (idempotent, quiet: iptables, iproute2, python3-zmq, chromium), runs every test, prints "N passed, N failed, N skipped".
# Usage: bash tools/test.sh [extra dotnet test args, e.g. --filter Category!=Integration]
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
dotnet test Tests/Multicast.Tests.csproj -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
line=$(grep -E "^(Passed|Failed)!|Total tests:" "$out" | tail -1)
passed=$(grep -oE "Passed: *[0-9]+" "$out" | tail -1 | grep -oE "[0-9]+")
failed=$(grep -oE "Failed: *[0-9]+" "$out" | tail -1 | grep -oE "[0-9]+")
skipped=$(grep -oE "Skipped: *[0-9]+" "$out" | tail -1 | grep -oE "[0-9]+")
rm -f "$out"
if [ -z "$passed$failed" ]; then
  echo "0 passed, 1 failed (the test run did not complete: $line)"
  exit 1
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit $rc
