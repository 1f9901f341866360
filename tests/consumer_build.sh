#!/usr/bin/env bash
# Installs rbm from the build tree into a scratch prefix and builds examples/link_rbm against it with
# find_package(rbm), as a user would (compile and link; it runs, and says so, only where a GPU is usable).
set -euo pipefail
build_dir=$1; source_dir=$2; work=$3
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples/link_rbm" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build"
"$work/build/link_rbm"
