#!/usr/bin/env bash
# Run on one of our Debian 12 machines before a GPU session. The GPU machines are bare and offline
# (CUDA, nvcc, CMake, ninja, a Python with PyTorch; no apt, no network), so this gathers what the
# build needs besides those into .deps/gpu (git-ignored; the device tool carries it): Debian's -dev
# packages of yaml-cpp, CLI11, nlohmann-json, GoogleTest, libjpeg-turbo, libpng, zlib and the Gloo
# headers, downloaded with `apt-get download` and unpacked with `dpkg -x`. Only headers, static
# libraries and CMake configs are kept, so the binaries built from it need no library the machine
# lacks. bench/gpu/run.sh builds against .deps/gpu/usr and the machine's PyTorch;
# bench/gpu/check_offline_build.sh proves here that such a build sees nothing else.
# Usage: bench/gpu/prepare.sh [DEST]   (default .deps/gpu; about 10 MiB)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-.deps/gpu}
packages=(libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libgtest-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libgloo-dev)
command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "error: needs apt-get and dpkg (a Debian machine)" >&2; exit 1; }
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
chmod 777 "$downloads"  # apt's sandbox user writes there
(cd "$downloads" && apt-get download -q "${packages[@]}" >/dev/null) \
  || { echo "error: apt-get download failed; run 'apt-get update' or check the network" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
for deb in "$downloads"/*.deb; do dpkg -x "$deb" "$dest"; done
rm -rf "$dest/usr/share/doc" "$dest/usr/share/man" "$dest/usr/share/lintian" "$dest/usr/src"
lib="$dest/usr/lib/x86_64-linux-gnu"
# Debian keeps some headers in the multiarch folder its compiler searches by default (jconfig.h);
# other compilers do not, so they join the others.
if [ -d "$dest/usr/include/x86_64-linux-gnu" ]; then
  cp -r "$dest/usr/include/x86_64-linux-gnu/." "$dest/usr/include/"
  rm -rf "$dest/usr/include/x86_64-linux-gnu"
fi
# Static libraries only: without the .so links CMake's searches take the .a files.
find "$dest" -name '*.so' -delete
# yaml-cpp's CMake config names its shared library; point it at the static one.
sed -i 's/add_library(yaml-cpp SHARED IMPORTED)/add_library(yaml-cpp STATIC IMPORTED)/' "$lib/cmake/yaml-cpp/yaml-cpp-targets.cmake"
sed -i -e 's|libyaml-cpp\.so\.[0-9.]*"|libyaml-cpp.a"|g' -e '/IMPORTED_SONAME_NONE/d' "$lib/cmake/yaml-cpp/yaml-cpp-targets-none.cmake"
# Gloo's CMake config would import its (absent) library; only its headers are needed.
rm -rf "$dest/usr/share/cmake/Gloo"
{
  echo "# Made by bench/gpu/prepare.sh on $(date -u +%F) from Debian $(cat /etc/debian_version 2>/dev/null || echo '?'):"
  for deb in "$downloads"/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
} >"$dest/PACKAGES.txt"
echo "prepared $dest ($(du -sh "$dest" | cut -f1)); packages:"
sed 1d "$dest/PACKAGES.txt" | sed 's/^/  /'
