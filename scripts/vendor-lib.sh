# Shared by scripts/vendor-docs-assets.sh and scripts/vendor-graphiql.sh (sourced, not run): fetch a
# pinned npm package with its integrity checked twice, copy a few of its files, write SOURCE.txt.
# The sourcing script sets VENDOR (its name, for messages), ROOT and ASSETS, and sources this after
# `set -eu`. A work folder is made here and removed on exit.

for tool in npm node tar; do
    command -v "$tool" >/dev/null || { echo "$VENDOR: $tool is required" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jsonserve-$VENDOR.XXXXXX")
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
        echo "$VENDOR: $1@$2: the registry says $registry_integrity, pinned $3" >&2
        exit 1
    fi
    tarball_url=$(npm view "$1@$2" dist.tarball)
    mkdir -p "$WORK/$1"
    # npm pack fetches through the npm cache and fails on an integrity mismatch with the registry.
    npm pack --silent --pack-destination "$WORK/$1" "$1@$2" >"$WORK/$1/packed"
    tarball="$WORK/$1/$(tail -n 1 "$WORK/$1/packed")"
    [ -f "$tarball" ] || { echo "$VENDOR: npm pack $1@$2 made no tarball" >&2; exit 1; }
    actual="sha512-$(digest sha512 base64 "$tarball")"
    if [ "$actual" != "$3" ]; then
        echo "$VENDOR: $1@$2: tarball integrity $actual, expected $3" >&2
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
        echo "fetched by scripts/$VENDOR.sh (npm pack); do not edit these files by hand."
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

# install FOLDER...: replace each $ASSETS/FOLDER with $WORK/out/FOLDER, readable by all.
install_folders() {
    mkdir -p "$ASSETS"
    for folder in "$@"; do
        rm -rf "$ASSETS/$folder"
        cp -R "$WORK/out/$folder" "$ASSETS/$folder"
        chmod -R a+rX,go-w "$ASSETS/$folder"
    done
}
