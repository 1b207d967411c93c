#!/usr/bin/env bash
# Here, before bench/gpu-cuda-build.sh runs on the GPU machine (which has no network and no npm):
# packs into .gpu-build/ what a user's machine would fetch or have for node-llama-cpp's source build:
#   - llama.cpp's source as node-llama-cpp's git bundle, cut to what the addon's build reads (the
#     full bundle is 34 MB; ../shared/gpu/pack.sh leaves it out of .gpu);
#   - npm (node-llama-cpp's build runs `npm run cmake-js-llama`), and git in case that machine lacks it.
# Carry ".gpu" and ".gpu-build"; `. .gpu-build/setup.sh` there (gpu-cuda-build.sh does) puts them in place.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
grep -qxF '/.gpu-build/' .git/info/exclude 2>/dev/null || echo '/.gpu-build/' >> .git/info/exclude
bundle=node_modules/node-llama-cpp/llama/gitRelease.bundle
[ -f "$bundle" ] || { echo "gpu-cuda-prepare: $bundle missing (npm ci first)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
git -c advice.detachedHead=false clone -q "$bundle" "$work/src"
# Sources only: the library, ggml, common, headers, vendored code (docs, models, tools, tests, examples out).
( cd "$work/src" && find . -mindepth 1 -maxdepth 1 ! -name .git ! -name cmake ! -name common ! -name ggml ! -name grammars \
    ! -name include ! -name licenses ! -name src ! -name vendor ! -name CMakeLists.txt ! -name LICENSE -exec rm -rf {} + \
  && git add -A . && c=$(git -c user.email=x@x -c user.name=x commit-tree "$(git write-tree)" -m "llama.cpp sources only") \
  && git -c advice.detachedHead=false checkout -q "$c" && git bundle create -q ../slim.bundle HEAD )
rm -rf .gpu-build && mkdir -p .gpu-build
cp "$work/slim.bundle" .gpu-build/gitRelease.bundle
tar cf - -C "$(dirname "$(readlink -f "$(command -v npm)")")/../.." npm | xz -T0 -6 > .gpu-build/npm.tar.xz
xz -T0 -6 -c "$(command -v git)" > .gpu-build/git.xz
cat > .gpu-build/setup.sh <<'SETUP'
# Sourced on the GPU machine after .gpu/setup.sh: npm on PATH, git if missing, the cut llama.cpp bundle in place.
mkdir -p /opt/gpu/lib
[ -d /opt/gpu/lib/npm ] || tar xJf .gpu-build/npm.tar.xz -C /opt/gpu/lib
ln -sf /opt/gpu/lib/npm/bin/npm-cli.js /opt/gpu/bin/npm
if ! command -v git >/dev/null; then
  mkdir -p /opt/gpu/git && xz -dc .gpu-build/git.xz > /opt/gpu/git/git && chmod +x /opt/gpu/git/git
  # git runs its own subcommands (index-pack, for a clone) from its exec path: each is the same binary.
  for c in $(/opt/gpu/git/git --list-cmds=builtins); do ln -sf git "/opt/gpu/git/git-$c"; done
  export GIT_EXEC_PATH=/opt/gpu/git PATH=/opt/gpu/git:$PATH
fi
cp -f .gpu-build/gitRelease.bundle node_modules/node-llama-cpp/llama/gitRelease.bundle
SETUP
echo "gpu-cuda-prepare: .gpu-build is $(du -sh .gpu-build | cut -f1)"
