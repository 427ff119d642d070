#!/usr/bin/env bash
# Fetches the Gateway API CRDs from the Go module sigs.k8s.io/gateway-api (the same files as the
# project's release manifests) into $GATEWAY_API_DIR (default .cache/gateway-api at the repository
# root), for the tests that install them into the real kube-apiserver and for `make run`'s sandbox.
#
# Which files: the standard channel's CRDs, except that TCPRoute, UDPRoute and TLSRoute come from
# the experimental channel, which also serves their v1alpha2 version (the one upstream's controller
# reads). The channel's ValidatingAdmissionPolicy (vap_safeupgrades) is not a CRD and is left out.
# `go mod download` checks the module against the checksum database; the h1: sum below pins it
# further. A second run with nothing changed returns at once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
out_dir="${GATEWAY_API_DIR:-$repo_root/.cache/gateway-api}"
module="sigs.k8s.io/gateway-api"
version="v1.6.3"
module_sum="h1:lKpJa5bGlraC/QeACvCpsHLdmO6y0iKfzVl6gzaFEYc="
standard=(backendtlspolicies gatewayclasses gateways grpcroutes httproutes listenersets referencegrants)
experimental=(tcproutes tlsroutes udproutes)

if ! command -v go >/dev/null 2>&1; then
  echo "error: 'go' is not on PATH. The Gateway API CRDs used by 'make test' and 'make run' are" >&2
  echo "       fetched as the Go module $module; install Go and run 'make gateway-api-crds'." >&2
  exit 1
fi

# Up to date when the CRDs exist and were fetched by this very script (module, version, file list).
fingerprint="$(sha256sum < "$here/fetch.sh" | cut -d' ' -f1)"
if [ -f "$out_dir/crds/kustomization.yaml" ] && [ "$(cat "$out_dir/.fingerprint" 2>/dev/null)" = "$fingerprint" ]; then
  echo "the Gateway API CRDs in $out_dir are up to date"
  exit 0
fi
rm -rf "$out_dir/.fingerprint" "$out_dir/crds"
# Outside any Go module (a go.mod above would make `go mod download` resolve against it).
cd "$here"
info="$(GOFLAGS=-mod=mod go mod download -json "$module@$version")"
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info"; }
if [ "$(json_field Sum)" != "$module_sum" ]; then
  echo "error: $module@$version has sum '$(json_field Sum)', expected $module_sum" >&2
  exit 1
fi
source_dir="$(json_field Dir)/config/crd"
mkdir -p "$out_dir/crds"
files=()
for name in "${standard[@]}"; do
  files+=("standard/gateway.networking.k8s.io_$name.yaml")
done
for name in "${experimental[@]}"; do
  files+=("experimental/gateway.networking.k8s.io_$name.yaml")
done
{
  echo "# Gateway API $version CRDs from the Go module $module (tools/gateway-api/fetch.sh)."
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
} > "$out_dir/crds/kustomization.yaml"
for file in "${files[@]}"; do
  # Module cache files are read-only; the copies are ours.
  install -m 0644 "$source_dir/$file" "$out_dir/crds/$(basename "$file")"
  echo "  - $(basename "$file")" >> "$out_dir/crds/kustomization.yaml"
done
echo "$fingerprint" > "$out_dir/.fingerprint"
echo "Gateway API CRDs of $module@$version (${#files[@]} files) are in $out_dir/crds"
