#!/bin/sh
# Builds the model server's CSV codec: build.sh OUTPUT.so. The one build command, run by make (for
# the tests and the local run) and by the image's Dockerfile.
set -eu
here=$(dirname -- "$0")
exec g++ -O2 -std=c++17 -Wall -Wextra -Werror -shared -fPIC -o "$1" "$here/csv_codec.cc"
