#!/usr/bin/env bash
# Fetches the Compose Specification's JSON schema (schema/compose-spec.json of the compose-go
# module, the schema `docker compose` validates files against) from the Go module proxy into
# $COMPOSE_SCHEMA_DIR (default .cache/compose-schema at the repository root), for the test that
# validates docker-compose.yml. `go mod download` checks the module against the checksum
# database; the h1: sum below pins it further. A second run with nothing changed returns at once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
out_dir="${COMPOSE_SCHEMA_DIR:-$repo_root/.cache/compose-schema}"
module="github.com/compose-spec/compose-go/v2"
version="v2.16.2"
module_sum="h1:pTp1DqQwJzFd85GzlWsSszKA1ABrV/ySqsClujIcWA8="

if ! command -v go >/dev/null 2>&1; then
  echo "error: 'go' is not on PATH. The Compose Specification's JSON schema used by 'make test' is" >&2
  echo "       fetched as the Go module $module; install Go and run 'make compose-schema'." >&2
  exit 1
fi

# Up to date when the schema exists and was fetched by this very script (module and version).
fingerprint="$(sha256sum < "$here/fetch.sh" | cut -d' ' -f1)"
if [ -f "$out_dir/compose-spec.json" ] && [ "$(cat "$out_dir/.fingerprint" 2>/dev/null)" = "$fingerprint" ]; then
  echo "the compose schema in $out_dir is up to date"
  exit 0
fi
rm -f "$out_dir/.fingerprint"
# Outside any Go module (a go.mod above would make `go mod download` resolve against it).
cd "$here"
info="$(GOFLAGS=-mod=mod go mod download -json "$module@$version")"
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info"; }
if [ "$(json_field Sum)" != "$module_sum" ]; then
  echo "error: $module@$version has sum '$(json_field Sum)', expected $module_sum" >&2
  exit 1
fi
mkdir -p "$out_dir"
# Module cache files are read-only; the copy is ours.
install -m 0644 "$(json_field Dir)/schema/compose-spec.json" "$out_dir/compose-spec.json"
echo "$fingerprint" > "$out_dir/.fingerprint"
echo "compose schema of $module@$version is in $out_dir/compose-spec.json"
