#!/usr/bin/env bash
# Builds the runner once, then submits N shards as a job array and one assembling job after them.
#   scripts/slurm/submit.sh 16                 # 16 shards, paper profile
#   PROFILE=ci ITEMS="mitigations-gmm" scripts/slurm/submit.sh 4
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:?usage: $0 <number of shards>}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "$0: the number of shards must be a positive integer, got '$n'" >&2; exit 2; }
cargo build --release -p experiments
array=$(sbatch --parsable --export=ALL --array=0-$((n - 1)) scripts/slurm/shards.sbatch)
echo "shards: job array $array (0-$((n - 1)))"
sbatch --parsable --export=ALL --dependency=afterok:"$array" scripts/slurm/assemble.sbatch | sed 's/^/assemble: job /'
