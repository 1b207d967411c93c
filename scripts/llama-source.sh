# Sourced by the scripts that compile llama.cpp's programs (scripts/build-llama.sh,
# bench/build-llama-bench.sh): the llama.cpp source node-llama-cpp ships in its npm package
# (llama/gitRelease.bundle, a git bundle of the exact commit its binaries were built from), so that
# nothing is downloaded and each program matches the libraries the project runs.

# The commit a bundle holds: it names the caches, one per commit.
llama_source_commit() {
  git bundle list-heads "$1" | awk '{ print $1; exit }'
}

# llama_source_checkout BUNDLE DEST: the bundle's commit checked out in DEST; git's chatter to stderr.
llama_source_checkout() {
  local commit
  commit=$(llama_source_commit "$1")
  git -c advice.detachedHead=false clone -q "$1" "$2" >&2
  git -C "$2" -c advice.detachedHead=false checkout -q "$commit" >&2
}
