#!/usr/bin/env bash
# The main job on the project's own example, against the embedded SQLite database:
# plan -> apply -> plan again (which must show no changes).
set -euo pipefail
cd "$(dirname "$0")/.."
DF=.venv/bin/decisionform
WORK=examples/.demo
rm -rf "$WORK" && mkdir -p "$WORK"
export DECISIONFORM_DATABASE_URL="sqlite:///$PWD/$WORK/demo.db"
export DECISIONFORM_TENANT=contoso

echo "== decisionform db upgrade && decisionform tenant create contoso"
$DF db upgrade
$DF tenant create contoso

echo; echo "== decisionform validate examples/contoso/bundle.yaml"
$DF validate examples/contoso/bundle.yaml

echo; echo "== decisionform plan examples/contoso/bundle.yaml --out $WORK/plan.out"
$DF plan examples/contoso/bundle.yaml --out "$WORK/plan.out"

echo; echo "== decisionform apply $WORK/plan.out"
$DF apply "$WORK/plan.out"

echo; echo "== decisionform plan examples/contoso/bundle.yaml --detailed-exitcode   (expect: no changes, exit 0)"
$DF plan examples/contoso/bundle.yaml --detailed-exitcode
echo; echo "Demo complete: the second plan shows no changes. Database: $WORK/demo.db"
