#!/usr/bin/env bash
# Deletes every namespace whose name starts with <prefix> (what up.sh <prefix> made). Idempotent.
# Usage: down.sh <prefix>
set -uo pipefail
prefix=${1:?prefix}
[ "${#prefix}" -ge 4 ] || { echo "refusing a prefix shorter than 4 characters" >&2; exit 2; }
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${prefix}" || true); do
  # Processes still inside would keep the namespace's interfaces alive; the caller owns and ends them.
  ip netns del "$ns" 2>/dev/null || true
done
exit 0
