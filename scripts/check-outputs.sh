#!/usr/bin/env bash
# Checks that every item folder under figures/ (or $1) holds at least one PNG and one CSV, and
# that the paper-checks ledger exists. Used by .ci/run; handy after a local `experiments all`.
set -euo pipefail
out=${1:-figures}
missing=0
n=0
for meta in "$out"/*/meta.yaml; do
  [ -e "$meta" ] || continue
  d=$(dirname "$meta")
  n=$((n + 1))
  compgen -G "$d/*.png" >/dev/null || { echo "no PNG in $d"; missing=1; }
  compgen -G "$d/*.csv" >/dev/null || { echo "no CSV in $d"; missing=1; }
done
[ "$n" -gt 0 ] || { echo "no item outputs under $out"; missing=1; }
for f in paper-checks/LEDGER.md paper-checks/ledger.csv; do
  test -s "$f" || { echo "$f missing or empty"; missing=1; }
done
[ "$missing" -eq 0 ] && echo "outputs complete: $n item folder(s), ledger present"
exit $missing
