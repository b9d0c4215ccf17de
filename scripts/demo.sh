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
say gitstore remote add team "$work/remote" --default
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
say gitstore diff HEAD~1 HEAD

say gitstore checkout HEAD~1
say ls data/images
say gitstore status
say git status --short
say gitstore checkout HEAD
say ls data/images
say gitstore verify

# A teammate: a bare origin, plain `git push` (the pre-push hook uploads the
# objects), then a clone with a cache of its own that pulls the bytes.
git init -q --bare -b main "$work/origin.git"
git remote add origin "$work/origin.git"
say git push origin main
cd "$work"
say git clone -q origin.git bob
cd bob
export GITSTORE_CACHE_DIR="$work/bob-cache"
say gitstore install
say gitstore pull
say ls data/images
say gitstore status
# plain git moves the data with the manifests: a revert brings the first version back
say git revert --no-edit HEAD
say ls data/images
say gitstore status
echo
echo "demo finished in $work (remove it when done)"
