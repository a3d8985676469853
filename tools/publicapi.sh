#!/usr/bin/env bash
# Brings PublicAPI.Unshipped.txt of the shipped libraries up to date with their code (the command-line stand-in for
# the IDE's "add to public API" fix): adds what RS0016 reports as missing, drops what RS0017 reports as gone.
# Review the diff: it is the public API change.
#   bash tools/publicapi.sh                 # Core, Transports, Host/AspNetCore
#   bash tools/publicapi.sh Core            # one project folder
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=("$@"); [ ${#dirs[@]} -gt 0 ] || dirs=(Core Transports Host/AspNetCore)
for dir in "${dirs[@]}"; do
  proj=$(ls "$dir"/*.csproj)
  out=$(mktemp)
  dotnet build "$proj" -c Release --no-incremental 2>&1 > "$out" || true
  added=$(grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" "$out" | sort -u || true)
  removed=$(grep -oP "error RS0017: Symbol '\K.*(?=' is part of the declared API, but is either not public or could not be found)" "$out" | sort -u || true)
  file="$dir/PublicAPI.Unshipped.txt"
  { grep -v '^#nullable' "$file" | grep -vxF -f <(printf '%s\n' "$removed") || true; printf '%s\n' "$added"; } | sed '/^$/d' | sort -u > "$out.api"
  { echo '#nullable enable'; cat "$out.api"; } > "$file"
  echo "$dir: $(printf '%s' "$added" | grep -c . || true) added, $(printf '%s' "$removed" | grep -c . || true) removed"
  rm -f "$out" "$out.api"
done
