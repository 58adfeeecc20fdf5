#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build helmrender into $1 from Debian's Go packages (GOPATH mode, no module download). Exit 77
# when the Go toolchain or one of the libraries is not installed.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
cd "$(dirname "$0")"
command -v go >/dev/null || { echo "SKIP: go (golang-go) is not installed"; exit 77; }
gopath=/usr/share/gocode
for pkg in github.com/Masterminds/sprig github.com/xeipuuv/gojsonschema gopkg.in/yaml.v2; do
        [ -d "$gopath/src/$pkg" ] || { echo "SKIP: $pkg is not installed (Debian golang-*-dev)"; exit 77; }
done
mkdir -p "$(dirname "$out")"
GO111MODULE=off GOPATH=$gopath GOFLAGS= CGO_ENABLED=0 GOCACHE="$(dirname "$out")/gocache" \
        go build -o "$out" .
GO111MODULE=off GOPATH=$gopath GOFLAGS= GOCACHE="$(dirname "$out")/gocache" go vet .
[ -z "$(gofmt -l .)" ] || { echo "gofmt: $(gofmt -l .)"; exit 1; }
echo "built $out ($(go version))"
