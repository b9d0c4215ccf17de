#!/usr/bin/env bash
# The end-to-end demo of the README: a throwaway repository, a folder remote and
# a cache of their own (nothing outside a temporary folder is touched).
set -euo pipefail

work=$(mktemp -d "${TMPDIR:-/tmp}/gitstore-demo.XXXXXX")
export GITSTORE_CACHE_DIR="$work/cache"
export XDG_CONFIG_HOME="$work/config"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

cd "$work"
git init -q -b main repo
cd repo
mkdir -p data/images
for i in 1 2 3; do head -c 4096 /dev/urandom > "data/images/cat-$i.jpg"; done
echo "print('train')" > train.py

say gitstore init
if gitstore remote --help >/dev/null 2>&1; then
  say gitstore remote add team "$work/remote" --default
fi
say gitstore track data/images
say cat data/images.gitstore
git add train.py
say git commit -qm "first version of the data"

head -c 4096 /dev/urandom > data/images/cat-2.jpg
rm data/images/cat-3.jpg
head -c 4096 /dev/urandom > data/images/dog-1.jpg
say gitstore status
say gitstore track data/images
say git commit -qm "second version: one changed, one removed, one added"
if gitstore diff --help >/dev/null 2>&1; then
  say gitstore diff HEAD~1 HEAD
fi

say gitstore checkout HEAD~1
say ls data/images
say gitstore status
say git status --short
say gitstore checkout HEAD
say ls data/images
if gitstore push --help >/dev/null 2>&1; then
  say gitstore push
fi
say gitstore verify
echo
echo "demo finished in $work (remove it when done)"
