#!/usr/bin/env bash
# Installs, once per machine, what the e2e tests need: Debian's Chromium, and in test/e2e/tools
# code-server (a real VS Code), vsce (the packager) and playwright-core (the browser driver).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null || ! command -v rg >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q chromium libkrb5-dev ripgrep pkg-config
fi
if [ ! -x tools/node_modules/.bin/code-server ] || [ ! -d tools/node_modules/code-server/lib/vscode/node_modules ]; then
  # code-server's @vscode/ripgrep postinstall downloads from GitHub, which is out of reach here;
  # it first looks in this cache, where Debian's rg serves instead.
  cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$cache"
  tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
  cd tools
  if [ -f package-lock.json ]; then cmd=ci; else cmd=install; fi
  npm_config_unsafe_perm=true npm_config_yes=true npm "$cmd" --no-audit --no-fund --foreground-scripts=false
fi
