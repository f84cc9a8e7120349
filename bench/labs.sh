#!/usr/bin/env bash
# Whole labs end to end, as a user runs them: `neurons run LAB` against bench/fidle_labs.py, the
# same job as FIDLE teaches it in PyTorch (same data files, model, epochs, batch size), wall time
# from the command's start to its exit (start-up, data loading, training, pictures) and peak
# memory, three rounds each, alternating. See bench/README.md.
set -euo pipefail

THREADS=2
ROUNDS=3
LABS=(mlp-classifier cnn vae)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
source "$here/common.sh"

usage() {
  cat <<EOF
usage: bench/labs.sh [--rounds N] [LAB...]

Runs \`neurons run LAB\` (defaults, seed 1) and \`bench/fidle_labs.py LAB\` in turn, $ROUNDS rounds
(--rounds N), both on $THREADS threads, and prints for each lab the median wall time and peak memory
of each, the ratio of the times (PyTorch / neurons: above 1, neurons is faster) and the final test
metric of each side, then the versions used.

  LAB    any of: ${LABS[*]} (default: all)

Environment:
  NEURONS=PATH   the neurons binary to time (default: \`cargo build --release\`)
  PYTHON=PATH    a Python with torch, numpy and matplotlib (default: bench/.venv, created on first
                 use with torch==$TORCH_VERSION, numpy and matplotlib from PyPI)

Progress goes to stderr; stdout carries only the table.
EOF
}

rounds=$ROUNDS
selected=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --rounds)
      [[ $# -ge 2 ]] || die 2 "--rounds needs a value, e.g. --rounds 1"
      rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#--rounds=}; shift ;;
    -*) die 2 "unknown option '$1' (see --help)" ;;
    *) selected+=("$1"); shift ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die 2 "--rounds must be a whole number above 0, not '$rounds'"
labs=()
for lab in ${selected[@]+"${selected[@]}"}; do
  known=0
  for k in "${LABS[@]}"; do [[ $lab == "$k" ]] && known=1; done
  [[ $known == 1 ]] || die 2 "unknown lab '$lab' (known: ${LABS[*]})"
  labs+=("$lab")
done
[[ ${#labs[@]} -gt 0 ]] || labs=("${LABS[@]}")

reference_python numpy matplotlib
neurons_binary

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export RAYON_NUM_THREADS=$THREADS # neurons' thread pool; the script sets torch's itself
for round in $(seq "$rounds"); do
  for lab in "${labs[@]}"; do
    dir=$out/$lab-$round
    echo "round $round/$rounds: $lab: neurons" >&2
    "$py" "$here/peak.py" --report "$dir-neurons.json" \
      "$neurons" run "$lab" --seed 1 --out "$dir-neurons" >/dev/null ||
      die 1 "neurons run $lab failed"
    echo "round $round/$rounds: $lab: pytorch" >&2
    env "${reference_env[@]}" "$py" "$here/peak.py" --report "$dir-pytorch.json" \
      "$py" "$here/fidle_labs.py" "$lab" --seed 1 --threads "$THREADS" --out "$dir-pytorch" \
      >/dev/null || die 1 "fidle_labs.py $lab failed"
  done
done

cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1) || cpu=
info="torch $torch; $neurons_version${built:+ (built from $built)}; $cores cores${cpu:+ ($cpu)}; $rounds rounds, $THREADS threads each"

"$py" - "$out" "$info" "${labs[@]}" <<'PY'
import json, pathlib, statistics, sys
out, info, labs = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
def side(lab, name):
    measured = [json.loads(p.read_text()) for p in sorted(out.glob(f"{lab}-*-{name}.json"))]
    summary = json.loads((out / f"{lab}-1-{name}" / "summary.json").read_text())
    metric = "accuracy" if "accuracy" in summary["metrics"] else "loss"
    seconds = statistics.median(m["wall_seconds"] for m in measured)
    mib = statistics.median(m["peak_mib"] for m in measured)
    return seconds, mib, f"{metric} {summary['metrics'][metric]:.4g}"
print(f"{'lab':<15} {'neurons s':>9} {'pytorch s':>9} {'ratio':>6} {'neurons MiB':>11} {'pytorch MiB':>11}  test metric (neurons / pytorch)")
for lab in labs:
    (ns, nm, nmet), (ps, pm, pmet) = side(lab, "neurons"), side(lab, "pytorch")
    print(f"{lab:<15} {ns:>9.1f} {ps:>9.1f} {ps / ns:>6.2f} {nm:>11.0f} {pm:>11.0f}  {nmet} / {pmet}")
print(f"versions: {info}")
PY
