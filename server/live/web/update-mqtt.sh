#!/bin/sh
# Vendors MQTT.js's browser build from npm, the one file of it the page loads (no CDN, no
# build step): mqtt.min.js, its licence (mqtt.LICENSE.md) and the version with the file's
# SHA-256 (mqtt.version, which the tests check the file against). Needs npm and the network.
#   sh server/live/web/update-mqtt.sh 5.16.0      (npm view mqtt version: the latest)
set -eu
version=${1:?usage: update-mqtt.sh VERSION, e.g. 5.16.0 (npm view mqtt version: the latest)}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mqtt@$version" > /dev/null && tar xzf "mqtt-$version.tgz")
cp "$work/package/dist/mqtt.min.js" "$here/mqtt.min.js"
cp "$work/package/LICENSE.md" "$here/mqtt.LICENSE.md"
printf 'mqtt %s sha256 %s\n' "$version" \
    "$(sha256sum "$here/mqtt.min.js" | cut -d ' ' -f 1)" > "$here/mqtt.version"
echo "update-mqtt.sh: mqtt.min.js is MQTT.js $version"
