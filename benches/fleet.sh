#!/usr/bin/env bash
# Fleet benchmark: N copies of the example schema's database (schema/), then, in one run and
# alternating, whole-process wall time and peak memory of
#   fleet drift   over all N in sync,            against a shell loop of `reconcile drift`;
#   fleet apply   of a one-column change to all, against a shell loop of `reconcile apply`.
# Each apply run starts from fresh copies. Prints medians, databases/s and ratios.
# Usage: benches/fleet.sh [N=10000] [RUNS=3] [JOBS=cores]   (after `cargo build --release`)
#        ONLY=drift or ONLY=apply runs one of the two comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
R=$PWD/target/release/reconcile
N=${1:-10000}
RUNS=${2:-3}
JOBS=${3:-$(nproc)}
[ -x "$R" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One tenant built from the example schema; the changed schema adds one column to `users`.
"$R" apply -q --yes --db "$work/one.db" --schema schema --plans "$work/plans"
cp -r schema "$work/changed"
sed -i 's/      - { name: display_name, type: TEXT, not_null: true }/&\n      - { name: locale, type: TEXT }/' "$work/changed/app.yaml"
grep -q "name: locale" "$work/changed/app.yaml"

fresh() { # $1: directory to fill with N copies
    rm -rf "$1"; mkdir -p "$1"
    for i in $(seq -w 1 "$N"); do cp "$work/one.db" "$1/t$i.db"; done
    sync
}

# run LABEL CMD...: wall seconds and peak KiB of one whole command, appended to $work/LABEL
run() {
    local label=$1; shift
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f %M -o "$work/mem" "$@" >/dev/null 2>"$work/err" || true
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000 )) $(cat "$work/mem")" >> "$work/$label"
}

loop_drift() { for f in "$work"/t/*.db; do "$R" drift -q --db "$f" --schema schema || return 1; done; }
loop_apply() { for f in "$work"/t/*.db; do "$R" apply -q --yes --db "$f" --schema "$work/changed" --plans "$work/p" || return 1; done; }
export -f loop_drift loop_apply
export R work

ONLY=${ONLY:-}
labels=()
if [ "$ONLY" != apply ]; then
labels+=(fleet_drift loop_drift)
fresh "$work/t"
for r in $(seq 1 "$RUNS"); do
    run fleet_drift "$R" fleet drift -q --jobs "$JOBS" --targets "$work/t/*.db" --schema schema
    run loop_drift bash -c loop_drift
done
# Check: every tenant in sync.
"$R" fleet drift -q --targets "$work/t/*.db" --schema schema
fi

if [ "$ONLY" != drift ]; then
labels+=(fleet_apply loop_apply)
for r in $(seq 1 "$RUNS"); do
    fresh "$work/t"
    run fleet_apply "$R" fleet apply -q --yes --jobs "$JOBS" --targets "$work/t/*.db" --schema "$work/changed"
    # Check: every tenant changed.
    "$R" fleet drift -q --targets "$work/t/*.db" --schema "$work/changed"
    fresh "$work/t"
    run loop_apply bash -c loop_apply
done
fi

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
report() { # label
    local us kib
    us=$(cut -d' ' -f1 "$work/$1" | median)
    kib=$(cut -d' ' -f2 "$work/$1" | median)
    printf "| %-12s | %8.3f s | %8.0f databases/s | %6.1f MiB |\n" "$1" "$(echo "$us / 1000000" | bc -l)" \
        "$(echo "$N * 1000000 / $us" | bc -l)" "$(echo "$kib / 1024" | bc -l)"
}
echo "N=$N databases, RUNS=$RUNS, --jobs $JOBS, $(nproc) cores, $(date -u +%F)"
echo "| what | median wall | rate | peak RSS |"
echo "|---|---:|---:|---:|"
for l in "${labels[@]}"; do report "$l"; done
