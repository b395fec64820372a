#!/usr/bin/env bash
# The Helm chart's checks besides homeserver/tests/chart.rs (which renders
# it with a real Helm and starts Lattice on the configuration it writes):
#   - `helm lint --strict` with every values file in helm/ci;
#   - each rendering validated against the Kubernetes API's schemas, strict
#     (unknown fields refused), for the oldest and newest Kubernetes the
#     chart supports (kubernetes-validate, from PyPI). ServiceMonitor and
#     PrometheusRule are the Prometheus Operator's kinds, not in those
#     schemas: the rules the PrometheusRule carries are checked by promtool;
#   - the alert rules: `promtool check rules` and the unit tests in
#     alerts.test.yaml;
#   - the chart's appVersion is the workspace's version.
# Usage: helm/check.sh HELM KUBERNETES_VALIDATE PROMTOOL
set -euo pipefail
cd "$(dirname "$0")"
helm=$1 validate=$2 promtool=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

version=$(sed -n 's/^version = "\(.*\)"/\1/p' ../Cargo.toml | head -n1)
app_version=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' lattice/Chart.yaml)
if [ "$version" != "$app_version" ]; then
  echo "helm/lattice/Chart.yaml: appVersion $app_version, but the workspace is $version" >&2
  exit 1
fi

for values in ci/*.yaml; do
  name=$(basename "$values" .yaml)
  "$helm" lint --strict lattice --values "$values" >/dev/null
  # Every optional part on, so that every template is validated.
  "$helm" template lattice lattice --values "$values" \
    --set metrics.serviceMonitor.enabled=true \
    --set metrics.prometheusRule.enabled=true \
    --set metrics.dashboard.enabled=true \
    --set podDisruptionBudget.enabled=true >"$out/$name.yaml"
  for kubernetes in 1.25.0 1.37.0; do
    "$validate" --strict --quiet --no-warn --kubernetes-version "$kubernetes" "$out/$name.yaml"
  done
  # The rules as rendered into the PrometheusRule (claim name filled in).
  "$(dirname "$validate")/python" - "$out/$name.yaml" "$out/$name-rules.yaml" <<'PY'
import sys, yaml
rules = [o["spec"] for o in yaml.safe_load_all(open(sys.argv[1])) if o and o["kind"] == "PrometheusRule"]
assert len(rules) == 1, "one PrometheusRule"
yaml.safe_dump(rules[0], open(sys.argv[2], "w"))
PY
  "$promtool" check rules "$out/$name-rules.yaml" >/dev/null
  echo "helm/ci/$name.yaml: lint, Kubernetes 1.25 and 1.37 schemas, rendered rules: ok"
done

"$promtool" check rules lattice/files/alerts.yaml >/dev/null
"$promtool" test rules alerts.test.yaml
