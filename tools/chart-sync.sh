#!/usr/bin/env bash
# Copies into the Helm chart what it shares with the kustomize manifests in config/, byte for byte:
# every CRD of config/crd and of config/crd/gateway (the chart's crds/, one flat directory as Helm
# wants it; stale ones removed) and config/rbac/role.yaml (whose rules the chart's ClusterRole
# renders). tests/charts/ fails while a copy differs.
set -euo pipefail
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
chart="$repo_root/charts/aws-lb-sg-controller"
crd_dirs=("$repo_root/config/crd" "$repo_root/config/crd/gateway")

mkdir -p "$chart/crds" "$chart/files"
for crd in "$chart"/crds/*.yaml; do
  [ -e "$crd" ] || continue
  found=no
  for dir in "${crd_dirs[@]}"; do
    [ -e "$dir/$(basename "$crd")" ] && found=yes
  done
  [ "$found" = yes ] || { rm "$crd"; echo "removed crds/$(basename "$crd")"; }
done
for dir in "${crd_dirs[@]}"; do
  for crd in "$dir"/*.yaml; do
    [ "$(basename "$crd")" = kustomization.yaml ] && continue
    cp "$crd" "$chart/crds/"
  done
done
cp "$repo_root/config/rbac/role.yaml" "$chart/files/role.yaml"
echo "charts/aws-lb-sg-controller: crds/ and files/role.yaml match config/"
