#!/usr/bin/env bash
# make test: every part runs even when one fails; the run fails if any part failed.
set -uo pipefail
export PATH="$PWD/.venv/bin:$PATH"
status=0
section() { printf '\n==== %s ====\n' "$1"; }

section "pytest (CPython)"
python -m pytest -q -p no:cacheprovider tests 2>&1 | tee build-pytest.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
cpy=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' build-pytest.log | tail -1 | tr -d '=' | sed 's/^ *//')

section "portable tests (MicroPython $(micropython -c 'import sys; print(sys.version.split(";")[1].split()[1])'))"
MICROPYPATH=.frozen:simulator/fakes:firmware:tests micropython tests/mprun.py tests/portable 2>&1 | tee build-mp.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
mp=$(grep '^micropython:' build-mp.log | tail -1)

section "mpy-cross"
{ bash scripts/mpy.sh any build/mpy && bash scripts/mpy.sh xtensawin build/mpy-esp32 && bash scripts/mpy.sh x64 build/mpy-x64; } || status=1

section "ruff"
{ ruff check . && ruff format --check .; } || status=1

rm -f build-pytest.log build-mp.log
section "summary"
echo "cpython: ${cpy:-no result}"
echo "${mp:-micropython: no result}"
if [ $status -ne 0 ]; then echo "make test: FAILED"; else echo "make test: all parts passed"; fi
exit $status
