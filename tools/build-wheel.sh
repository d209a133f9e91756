#!/usr/bin/env bash
# Builds connect's one wheel into the folder given (default dist/), replacing the one there.
# The git-ignored built files must exist first (`make dist` makes them): Leaflet in
# connect/static/vendor/ and the compiled catalogues; the wheel carries them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/dist}")
python=${PYTHON:-$root/.venv/bin/python}
cd "$root"
for built in connect/static/vendor/leaflet/leaflet.js \
             connect/translations/vi/LC_MESSAGES/messages.mo \
             connect/translations/en/LC_MESSAGES/messages.mo; do
    [ -f "$built" ] || { echo "build-wheel: $built is missing; make dist builds it" >&2; exit 1; }
done
# setuptools stages the package in build/: a file deleted from the source since the last
# build would ship again.
rm -rf build connect.egg-info
mkdir -p "$out"
rm -f "$out"/connect-*.whl
"$python" -m pip wheel --no-deps --quiet --wheel-dir "$out" .
rm -rf build connect.egg-info
ls "$out"/connect-*.whl
