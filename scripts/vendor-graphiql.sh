#!/bin/sh
# Vendor GraphiQL (the page `GET /graphql` serves to a browser) into src/jsonserve/web/assets/,
# so that it works with no internet access.
#
#   sh scripts/vendor-graphiql.sh
#
# Re-runnable, in the manner of scripts/vendor-docs-assets.sh: it fetches the exact versions pinned
# below with `npm pack` (which checks each tarball against the registry's dist.integrity), checks
# that integrity once more against the value pinned here, and replaces assets/graphiql/,
# assets/react/, assets/react-dom/ and assets/graphql-ws/ with the few files the page uses, the
# package's licence and a SOURCE.txt (package, version, tarball URL, sha256 of every file). The source-map comment at the
# end of graphiql.min.js is removed (no map is shipped); nothing else is changed.
#
# GraphiQL is kept on 3.x: it is the last line with a prebuilt UMD bundle (window.GraphiQL) that a
# plain <script> tag loads; 4.x and later are ES modules for a bundler. GraphiQL 3 takes React 18
# (React 19 ships no UMD builds), as the production UMD builds of react and react-dom.
#
# To upgrade: change a version, set its *_INTEGRITY to the new `npm view PKG@VERSION dist.integrity`,
# run this, then run tests/web/test_graphql_http.py and tests/frontend/test_graphiql.py.
set -eu

GRAPHIQL_VERSION=3.8.3
GRAPHIQL_INTEGRITY=sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==
REACT_VERSION=18.3.1
REACT_INTEGRITY=sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==
REACT_DOM_INTEGRITY=sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==
# GraphiQL runs subscriptions over a graphql-ws client it is given (createFetcher's wsClient); 5.x is
# the last line with a UMD build (window.graphqlWs).
GRAPHQL_WS_VERSION=5.16.2
GRAPHQL_WS_INTEGRITY=sha512-E1uccsZxt/96jH/OwmLPuXMACILs76pKF2i3W861LpKBCYtGIyPQGtWLuBLkND4ox1KHns70e83PS4te50nvPQ==

VENDOR=vendor-graphiql
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ASSETS="$ROOT/src/jsonserve/web/assets"
# shellcheck source=scripts/vendor-lib.sh
. "$ROOT/scripts/vendor-lib.sh"

fetch graphiql "$GRAPHIQL_VERSION" "$GRAPHIQL_INTEGRITY"
fetch react "$REACT_VERSION" "$REACT_INTEGRITY"
fetch react-dom "$REACT_VERSION" "$REACT_DOM_INTEGRITY"
fetch graphql-ws "$GRAPHQL_WS_VERSION" "$GRAPHQL_WS_INTEGRITY"

OUT="$WORK/out"
copy graphiql "$OUT/graphiql" graphiql.min.js graphiql.min.css LICENSE
copy react "$OUT/react" umd/react.production.min.js LICENSE
copy react-dom "$OUT/react-dom" umd/react-dom.production.min.js LICENSE
copy graphql-ws "$OUT/graphql-ws" umd/graphql-ws.min.js LICENSE.md

# The bundle's last line names a source map that is not shipped: drop it (and only it).
bundle="$OUT/graphiql/graphiql.min.js"
original_sha256=$(digest sha256 hex "$bundle")
last=$(tail -n 1 "$bundle")
if [ "$last" != "//# sourceMappingURL=graphiql.min.js.map" ]; then
    echo "vendor-graphiql: graphiql.min.js does not end with its sourceMappingURL comment: $last" >&2
    exit 1
fi
sed '$d' "$bundle" >"$bundle.trimmed"
mv "$bundle.trimmed" "$bundle"

source_txt graphiql "$GRAPHIQL_VERSION" MIT "$GRAPHIQL_INTEGRITY" "$OUT/graphiql" \
    "modified: graphiql.min.js, whose sha256 in the tarball is
$original_sha256:
its last line, //# sourceMappingURL=graphiql.min.js.map, is removed (the map is not shipped)."
source_txt react "$REACT_VERSION" MIT "$REACT_INTEGRITY" "$OUT/react"
source_txt react-dom "$REACT_VERSION" MIT "$REACT_DOM_INTEGRITY" "$OUT/react-dom"
source_txt graphql-ws "$GRAPHQL_WS_VERSION" MIT "$GRAPHQL_WS_INTEGRITY" "$OUT/graphql-ws"

install_folders graphiql react react-dom graphql-ws
echo "vendored graphiql@$GRAPHIQL_VERSION, react@$REACT_VERSION, react-dom@$REACT_VERSION and graphql-ws@$GRAPHQL_WS_VERSION into $ASSETS"
du -sh "$ASSETS/graphiql" "$ASSETS/react" "$ASSETS/react-dom" "$ASSETS/graphql-ws"
