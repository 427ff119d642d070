#!/usr/bin/env bash
# Builds the real helm CLI pinned in go.mod into $HELM_BIN_DIR (default .cache/helm/bin at the
# repository root), the way tools/kube/build.sh builds the control plane: `go build` reuses the Go
# module cache and build cache, and the binary is replaced only when the build succeeded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
bin_dir="${HELM_BIN_DIR:-$repo_root/.cache/helm/bin}"

if ! command -v go >/dev/null 2>&1; then
  echo "error: 'go' is not on PATH. The helm CLI used by the chart tests in 'make test' is built" >&2
  echo "       from Go modules (tools/helm/go.mod); install Go >= 1.26 and run 'make helm-binary'." >&2
  exit 1
fi

cd "$here"
# Up to date when the binary exists and was built by this toolchain from these exact inputs; then
# this script answers in milliseconds instead of re-linking helm.
fingerprint="$(cat go.mod go.sum build.sh | sha256sum | cut -d' ' -f1) $(go env GOVERSION GOOS GOARCH | tr '\n' ' ')"
if [ -x "$bin_dir/helm" ] && [ "$(cat "$bin_dir/.fingerprint" 2>/dev/null)" = "$fingerprint" ]; then
  echo "helm in $bin_dir is up to date"
  exit 0
fi
rm -f "$bin_dir/.fingerprint"
# The version in go.mod is the one built; read it so `helm version` cannot drift from it. The
# variables are the ones helm's own release build stamps (its Makefile's LDFLAGS).
helm_version="$(go list -m -f '{{.Version}}' helm.sh/helm/v4)"
version_pkg="helm.sh/helm/v4/internal/version"
ldflags="-s -w -X $version_pkg.version=$helm_version -X $version_pkg.metadata="
ldflags+=" -X $version_pkg.gitTreeState=clean"

mkdir -p "$bin_dir"
start=$(date +%s)
# Static, as helm's release binaries are (its Makefile builds with CGO_ENABLED=0).
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin_dir/helm.new" helm.sh/helm/v4/cmd/helm
mv "$bin_dir/helm.new" "$bin_dir/helm"
echo "$fingerprint" > "$bin_dir/.fingerprint"
printf 'helm %s is in %s (%ss)\n' "$helm_version" "$bin_dir" "$(( $(date +%s) - start ))"
