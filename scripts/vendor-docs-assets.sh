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

VENDOR=vendor-docs-assets
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ASSETS="$ROOT/src/jsonserve/web/assets"
# shellcheck source=scripts/vendor-lib.sh
. "$ROOT/scripts/vendor-lib.sh"

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

rm -f "$ASSETS/.gitkeep"
install_folders swagger-ui redoc
echo "vendored swagger-ui-dist@$SWAGGER_UI_VERSION and redoc@$REDOC_VERSION into $ASSETS"
du -sh "$ASSETS/swagger-ui" "$ASSETS/redoc"
