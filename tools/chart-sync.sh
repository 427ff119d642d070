#!/usr/bin/env bash
# Copies into the Helm chart what it shares with the kustomize manifests in config/, byte for byte:
# every CRD of config/crd (the chart's crds/; stale ones removed) and config/rbac/role.yaml (whose
# rules the chart's ClusterRole renders). tests/charts/ fails while a copy differs.
set -euo pipefail
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
chart="$repo_root/charts/aws-lb-sg-controller"

mkdir -p "$chart/crds" "$chart/files"
for crd in "$chart"/crds/*.yaml; do
  [ -e "$crd" ] || continue
  [ -e "$repo_root/config/crd/$(basename "$crd")" ] || { rm "$crd"; echo "removed crds/$(basename "$crd")"; }
done
for crd in "$repo_root"/config/crd/*.yaml; do
  [ "$(basename "$crd")" = kustomization.yaml ] && continue
  cp "$crd" "$chart/crds/"
done
cp "$repo_root/config/rbac/role.yaml" "$chart/files/role.yaml"
echo "charts/aws-lb-sg-controller: crds/ and files/role.yaml match config/"
