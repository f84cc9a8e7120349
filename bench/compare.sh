#!/usr/bin/env bash
# Runs `neurons bench --json` and the PyTorch reference (bench/pytorch_reference.py) in turn, three
# rounds, both on 2 threads, and prints each workload's median samples/s and the ratio
# neurons / PyTorch. See bench/README.md.
set -euo pipefail

THREADS=2
ROUNDS=3
WORKLOADS=(mlp_train cnn_train cnn_infer vae_train gan_train pix2pix_train gru_train text_gru_train transformer_train gcn_train gcn_train_large)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
source "$here/common.sh"

usage() {
  cat <<EOF
usage: bench/compare.sh [--scale F] [WORKLOAD...]

Runs \`neurons bench --json\` and bench/pytorch_reference.py in turn, $ROUNDS rounds, both on
$THREADS threads, and prints for each workload the median samples/s of each and their ratio
(neurons / PyTorch; above 1 is faster), then the versions and cores used, then the lowest ratio.

  --scale F    multiply the sample count of each workload (default 1; 0.1 for a quick check)
  WORKLOAD     any of: ${WORKLOADS[*]} (default: all)

Environment:
  NEURONS=PATH   the neurons binary to time (default: \`cargo build --release\`, then
                 target/release/neurons)
  PYTHON=PATH    a Python that already has torch (default: bench/.venv, created on first use
                 with torch==$TORCH_VERSION from PyPI)

Progress goes to stderr; stdout carries only the table.
EOF
}

# --- arguments: all checked before anything long runs --------------------------------------
scale=1
selected=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --scale)
      [[ $# -ge 2 ]] || die 2 "--scale needs a value, e.g. --scale 0.1"
      scale=$2; shift 2 ;;
    --scale=*) scale=${1#--scale=}; shift ;;
    --) shift; selected+=("$@"); break ;;
    -*) die 2 "unknown option '$1' (see --help)" ;;
    *) selected+=("$1"); shift ;;
  esac
done
if ! [[ $scale =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] ||
  ! awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }'; then
  die 2 "--scale must be a number above 0, not '$scale'"
fi
workloads=()
for w in ${selected[@]+"${selected[@]}"}; do
  known=0
  for k in "${WORKLOADS[@]}"; do [[ $w == "$k" ]] && known=1; done
  [[ $known == 1 ]] || die 2 "unknown workload '$w' (known: ${WORKLOADS[*]})"
  dup=0
  for k in ${workloads[@]+"${workloads[@]}"}; do [[ $w == "$k" ]] && dup=1; done
  [[ $dup == 1 ]] || workloads+=("$w")
done
[[ ${#workloads[@]} -gt 0 ]] || workloads=("${WORKLOADS[@]}")

# --- the two sides ---------------------------------------------------------------------------
reference_python
neurons_binary

# --- the rounds -------------------------------------------------------------------------------
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# One process per workload and side, so that each peak of memory is that workload's alone.
for round in $(seq "$ROUNDS"); do
  for w in "${workloads[@]}"; do
    echo "round $round/$ROUNDS: $w: neurons" >&2
    "$py" "$here/peak.py" "$neurons" bench --json --threads "$THREADS" --scale "$scale" "$w" \
      >>"$out/neurons.jsonl" || die 1 "neurons bench $w failed"
    echo "round $round/$ROUNDS: $w: pytorch" >&2
    env "${reference_env[@]}" "$py" "$here/peak.py" "$py" "$here/pytorch_reference.py" \
      --threads "$THREADS" --scale "$scale" "$w" >>"$out/torch.jsonl" ||
      die 1 "pytorch_reference.py $w failed"
  done
done

cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1) || cpu=
neurons_desc=$neurons_version${built:+ (built from $built)}
machine="$cores cores${cpu:+ ($cpu)}"
info="torch $torch; $neurons_desc; $machine; scale $scale, $ROUNDS rounds, $THREADS threads each"

"$py" - "$out/neurons.jsonl" "$out/torch.jsonl" "$info" <<'PY'
import json, statistics, sys
def load(p):
    speed, memory = {}, {}
    for line in open(p):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            speed.setdefault(r["workload"], []).append(r["samples_per_second"])
            memory.setdefault(r["workload"], []).append(r["peak_mib"])
    median = lambda d: {k: statistics.median(v) for k, v in d.items()}
    return median(speed), median(memory)
(n, n_mib), (t, t_mib) = load(sys.argv[1]), load(sys.argv[2])
print(f"{'workload':<18} {'neurons/s':>10} {'pytorch/s':>10} {'ratio':>6} {'neurons MiB':>12} {'pytorch MiB':>12} {'memory':>7}")
worst, most = None, None
for w in sorted(t):
    if w in n:
        r, m = n[w] / t[w], n_mib[w] / t_mib[w]
        worst = r if worst is None else min(worst, r)
        most = m if most is None else max(most, m)
        print(f"{w:<18} {n[w]:>10.0f} {t[w]:>10.0f} {r:>6.2f} {n_mib[w]:>12.0f} {t_mib[w]:>12.0f} {m:>7.2f}")
    else:
        print(f"{w:<18} {'missing':>10} {t[w]:>10.0f}      -"); worst = 0.0
print(f"versions: {sys.argv[3]}")
print(f"lowest ratio: {worst:.2f}")
print(f"highest memory share (neurons MiB / pytorch MiB): {most:.2f}")
PY
