#!/bin/sh
# Fetches the Essen Folksong Collection's Chinese songs (han1.abc, han2.abc) from the music21
# wheel on PyPI, the only stable public home of these files. Idempotent: does nothing when
# both files are already there. Usage: fetch_essen.sh [REPO_ROOT] (default: the cwd).
set -eu
root="${1:-.}"
dest="$root/datasets/essen"
if [ -f "$dest/han1.abc" ] && [ -f "$dest/han2.abc" ]; then
    exit 0
fi
python="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "fetching the Essen folk songs (music21 wheel from PyPI) into $dest" >&2
"$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" music21
wheel="$(ls "$tmp"/music21-*.whl | head -n 1)"
mkdir -p "$dest"
# unzip may be missing on a fresh machine; Python's zipfile is always there.
"$python" - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("han1.abc", "han2.abc"):
        z.extract("music21/corpus/essenFolksong/" + name, sys.argv[2])
PY
for name in han1.abc han2.abc; do
    mv "$tmp/x/music21/corpus/essenFolksong/$name" "$dest/$name.part"
    mv "$dest/$name.part" "$dest/$name"
done
