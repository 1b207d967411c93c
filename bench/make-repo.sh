#!/usr/bin/env bash
# Builds the benchmark repository: this machine's Python standard library (site-packages and
# bytecode left out) and Perl's library, committed in a fresh git repository at OUT. On the
# project's machines that is about 3,600 files and 120 MB, 2,900 of them read (the rest are
# binary, generated or too large): real code in two languages, large enough to need many windows.
set -euo pipefail
out="${1:?usage: bench/make-repo.sh OUT}"
[ -e "$out" ] && { echo "$out exists" >&2; exit 2; }
stdlib="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
perl_lib="$(perl -MConfig -e 'print $Config{privlibexp}')"
mkdir -p "$out/python" "$out/perl"
tar -C "$stdlib" --exclude=./site-packages --exclude=__pycache__ -cf - . | tar -C "$out/python" -xf -
cp -r "$perl_lib/." "$out/perl/"
cd "$out"
git init -q
git -c user.email=bench@example.com -c user.name=bench add -A
git -c user.email=bench@example.com -c user.name=bench commit -qm "benchmark repository"
echo "$out: $(git ls-files | wc -l) files"
