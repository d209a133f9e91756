#!/usr/bin/env bash
# Installs the front-end packages from npm (package-lock.json) and copies what the pages
# serve into connect/static/vendor/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf connect/static/vendor
mkdir -p connect/static/vendor/leaflet connect/static/vendor/markercluster connect/static/vendor/heat
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css connect/static/vendor/leaflet/
cp -r node_modules/leaflet/dist/images connect/static/vendor/leaflet/
cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js \
   node_modules/leaflet.markercluster/dist/MarkerCluster.css \
   node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css connect/static/vendor/markercluster/
# The console map's heat layer of unmet need.
cp node_modules/leaflet.heat/dist/leaflet-heat.js connect/static/vendor/heat/
