#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd pinned in go.mod into $KUBE_BIN_DIR (default
# .cache/kube/bin at the repository root). `go build` reuses the Go module cache and build cache,
# so a second run with nothing changed only re-checks and re-links (seconds), and a binary is
# replaced only when the build succeeded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
bin_dir="${KUBE_BIN_DIR:-$repo_root/.cache/kube/bin}"

if ! command -v go >/dev/null 2>&1; then
  echo "error: 'go' is not on PATH. The real Kubernetes control plane used by 'make test' is built" >&2
  echo "       from Go modules (tools/kube/go.mod); install Go >= 1.26 and run 'make kube-binaries'." >&2
  exit 1
fi

cd "$here"
# Up to date when both binaries exist and were built by this toolchain from these exact inputs;
# then this script answers in milliseconds instead of re-linking kube-apiserver.
fingerprint="$(cat go.mod go.sum build.sh | sha256sum | cut -d' ' -f1) $(go env GOVERSION GOOS GOARCH | tr '\n' ' ')"
if [ -x "$bin_dir/etcd" ] && [ -x "$bin_dir/kube-apiserver" ] && \
   [ "$(cat "$bin_dir/.fingerprint" 2>/dev/null)" = "$fingerprint" ]; then
  echo "kube-apiserver and etcd in $bin_dir are up to date"
  exit 0
fi
rm -f "$bin_dir/.fingerprint"
# The version in go.mod is the one built; read it so the ldflags below cannot drift from it.
kube_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
major="${kube_version#v}"; major="${major%%.*}"
minor="${kube_version#v*.}"; minor="${minor%%.*}"
# kube-apiserver reports (and checks compatibility versions against) the version stamped in at
# link time, exactly as the upstream release build does.
version_pkg="k8s.io/component-base/version"
ldflags="-s -w"
for pkg in "$version_pkg" k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

mkdir -p "$bin_dir"
start=$(date +%s)
go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd" go.etcd.io/etcd/server/v3
go build -trimpath -ldflags "$ldflags" -o "$bin_dir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
echo "$fingerprint" > "$bin_dir/.fingerprint"
printf 'kube-apiserver %s and etcd %s are in %s (%ss)\n' \
  "$kube_version" "$etcd_version" "$bin_dir" "$(( $(date +%s) - start ))"
