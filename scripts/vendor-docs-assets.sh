#!/bin/sh
# Vendor the assets behind /docs (Swagger UI) and /redoc (ReDoc) into src/jsonserve/web/assets/,
# so that both pages work with no internet access.
#
#   sh scripts/vendor-docs-assets.sh
#
# Re-runnable: it fetches the exact versions pinned below with `npm pack` (which checks the tarball
# against the registry's dist.integrity), checks that integrity once more against the value pinned
# here, and replaces assets/swagger-ui/ and assets/redoc/ with the few files the pages use, their
# licence files and a SOURCE.txt (package, version, tarball URL, sha256 of every file). Nothing
# else under assets/ is touched (assets/jsonserve/ holds jsonserve's own files). No source maps.
#
# To upgrade: change a version, set its *_INTEGRITY to the new `npm view PKG@VERSION dist.integrity`,
# run this, then run tests/web/test_docs_pages.py and tests/frontend/test_docs_ui.py.
#
# ReDoc is kept on 2.x: 3.x sends telemetry to otel.cloud.redocly.com by default and loads its
# icons from cdn.redocly.com. ReDoc 2.x has one outside request of its own, the "API docs by
# Redocly" logo (https://cdn.redoc.ly/redoc/logo-mini.svg); this script points that <img> at an
# empty data: URL instead (its onError handler then hides it), and records the change in SOURCE.txt.
set -eu

SWAGGER_UI_VERSION=5.35.0
SWAGGER_UI_INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
REDOC_VERSION=2.5.4
REDOC_INTEGRITY=sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==
REDOC_LOGO_URL=https://cdn.redoc.ly/redoc/logo-mini.svg

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ASSETS="$ROOT/src/jsonserve/web/assets"

for tool in npm node tar; do
    command -v "$tool" >/dev/null || { echo "vendor-docs-assets: $tool is required" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jsonserve-vendor.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# digest ALGORITHM ENCODING FILE: the file's digest (sha256 hex, or sha512 base64 for integrity).
digest() {
    node -e 'const [algorithm, encoding, file] = process.argv.slice(1);
        process.stdout.write(require("crypto").createHash(algorithm).update(require("fs").readFileSync(file)).digest(encoding));' \
        "$1" "$2" "$3"
}

# fetch PACKAGE VERSION INTEGRITY: download and unpack PACKAGE@VERSION into $WORK/PACKAGE/package.
fetch() {
    registry_integrity=$(npm view "$1@$2" dist.integrity)
    if [ "$registry_integrity" != "$3" ]; then
        echo "vendor-docs-assets: $1@$2: the registry says $registry_integrity, pinned $3" >&2
        exit 1
    fi
    tarball_url=$(npm view "$1@$2" dist.tarball)
    mkdir -p "$WORK/$1"
    # npm pack fetches through the npm cache and fails on an integrity mismatch with the registry.
    npm pack --silent --pack-destination "$WORK/$1" "$1@$2" >"$WORK/$1/packed"
    tarball="$WORK/$1/$(tail -n 1 "$WORK/$1/packed")"
    [ -f "$tarball" ] || { echo "vendor-docs-assets: npm pack $1@$2 made no tarball" >&2; exit 1; }
    actual="sha512-$(digest sha512 base64 "$tarball")"
    if [ "$actual" != "$3" ]; then
        echo "vendor-docs-assets: $1@$2: tarball integrity $actual, expected $3" >&2
        exit 1
    fi
    tar -xzf "$tarball" -C "$WORK/$1"
    echo "$tarball_url" >"$WORK/$1/url"
}

# copy PACKAGE DESTINATION FILE...: copy package files (paths inside the tarball) into DESTINATION.
copy() {
    package_dir="$WORK/$1/package"
    destination=$2
    shift 2
    mkdir -p "$destination"
    for file in "$@"; do
        cp "$package_dir/$file" "$destination/$(basename "$file")"
    done
}

# source_txt PACKAGE VERSION LICENCE INTEGRITY DESTINATION [NOTE]: write DESTINATION/SOURCE.txt.
source_txt() {
    {
        echo "package:   $1"
        echo "version:   $2"
        echo "licence:   $3 (see the licence files in this folder)"
        echo "tarball:   $(cat "$WORK/$1/url")"
        echo "integrity: $4"
        echo "fetched by scripts/vendor-docs-assets.sh (npm pack); do not edit these files by hand."
        if [ -n "${6:-}" ]; then
            echo
            echo "$6"
        fi
        echo
        echo "sha256 of the files here:"
        for file in "$5"/*; do
            [ "$(basename "$file")" = SOURCE.txt ] && continue
            echo "$(digest sha256 hex "$file")  $(basename "$file")"
        done
    } >"$WORK/SOURCE.txt"
    mv "$WORK/SOURCE.txt" "$5/SOURCE.txt"
}

fetch swagger-ui-dist "$SWAGGER_UI_VERSION" "$SWAGGER_UI_INTEGRITY"
fetch redoc "$REDOC_VERSION" "$REDOC_INTEGRITY"

OUT="$WORK/out"
copy swagger-ui-dist "$OUT/swagger-ui" \
    swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE
copy redoc "$OUT/redoc" bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE

# ReDoc's logo: the only URL outside the page that ReDoc 2.x requests by itself. Exactly one.
redoc_js="$OUT/redoc/redoc.standalone.js"
original_sha256=$(digest sha256 hex "$redoc_js")
count=$(grep -o "\"$REDOC_LOGO_URL\"" "$redoc_js" | wc -l | tr -d ' ')
if [ "$count" != 1 ]; then
    echo "vendor-docs-assets: expected the logo URL once in redoc.standalone.js, found it $count times" >&2
    exit 1
fi
sed "s|\"$REDOC_LOGO_URL\"|\"data:,\"|" "$redoc_js" >"$redoc_js.patched"
mv "$redoc_js.patched" "$redoc_js"
if grep -q "cdn.redoc.ly" "$redoc_js"; then
    echo "vendor-docs-assets: redoc.standalone.js still names cdn.redoc.ly" >&2
    exit 1
fi

source_txt swagger-ui-dist "$SWAGGER_UI_VERSION" Apache-2.0 "$SWAGGER_UI_INTEGRITY" "$OUT/swagger-ui"
source_txt redoc "$REDOC_VERSION" MIT "$REDOC_INTEGRITY" "$OUT/redoc" \
    "modified: redoc.standalone.js, whose sha256 in the tarball is
$original_sha256:
the <img> of its \"API docs by Redocly\" link loads \"data:,\" instead of
$REDOC_LOGO_URL, so that the page requests nothing
outside the server (the image fails to decode and ReDoc hides it)."

mkdir -p "$ASSETS"
rm -f "$ASSETS/.gitkeep"
for folder in swagger-ui redoc; do
    rm -rf "$ASSETS/$folder"
    cp -R "$OUT/$folder" "$ASSETS/$folder"
done
chmod -R a+rX,go-w "$ASSETS/swagger-ui" "$ASSETS/redoc"
echo "vendored swagger-ui-dist@$SWAGGER_UI_VERSION and redoc@$REDOC_VERSION into $ASSETS"
du -sh "$ASSETS/swagger-ui" "$ASSETS/redoc"
