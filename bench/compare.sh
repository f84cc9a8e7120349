#!/usr/bin/env bash
# Runs `neurons bench --json` and the PyTorch reference (bench/pytorch_reference.py) in turn, three
# rounds, both on 2 threads, and prints each workload's median samples/s and the ratio
# neurons / PyTorch. See bench/README.md.
set -euo pipefail

TORCH_VERSION=2.15.0 # the PyTorch of the project's figures so far; change it and they no longer compare
THREADS=2
ROUNDS=3
WORKLOADS=(mlp_train cnn_train cnn_infer vae_train gan_train pix2pix_train gru_train text_gru_train transformer_train gcn_train gcn_train_large)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
venv=$here/.venv

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

die() { echo "error: $2" >&2; exit "$1"; }

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

# --- Python with torch ------------------------------------------------------------------------
# torch from PyPI warns on import that NumPy is missing; the reference does not use NumPy.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Failed to initialize NumPy:UserWarning"

# Prints torch's version if "$1" can import it, fails otherwise.
torch_version() { "$1" -c 'import torch; print(torch.__version__)' 2>/dev/null; }

if [[ -n ${PYTHON:-} ]]; then
  py=$PYTHON
  torch=$(torch_version "$py") ||
    die 1 "PYTHON=$py cannot import torch (unset PYTHON to use bench/.venv with torch==$TORCH_VERSION)"
  [[ ${torch%%+*} == "$TORCH_VERSION" ]] ||
    echo "note: PYTHON has torch $torch; the project's figures so far used $TORCH_VERSION" >&2
else
  py=$venv/bin/python
  torch=$(torch_version "$py") || torch=
  if [[ ${torch%%+*} != "$TORCH_VERSION" ]]; then
    if [[ ! -x $py ]]; then
      echo "creating $venv" >&2
      if ! python3 -m venv "$venv" >&2; then
        rm -rf "$venv" # a half-made venv (no pip) would fail again next time
        die 1 "\`python3 -m venv\` failed: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv) or set PYTHON to a Python that has torch"
      fi
    fi
    echo "installing torch==$TORCH_VERSION from PyPI into $venv (a few GB, one time)" >&2
    "$py" -m pip install --disable-pip-version-check "torch==$TORCH_VERSION" >&2 ||
      die 1 "pip could not install torch==$TORCH_VERSION into $venv (is PyPI reachable?)"
    torch=$(torch_version "$py") || die 1 "torch was installed into $venv but does not import"
  fi
fi

# --- the neurons binary -----------------------------------------------------------------------
built=
if [[ -n ${NEURONS:-} ]]; then
  neurons=$NEURONS
  [[ -x $neurons ]] || die 1 "NEURONS=$neurons is not an executable file"
else
  command -v cargo >/dev/null ||
    die 1 "cargo not found: install Rust (https://rustup.rs) or set NEURONS to a neurons binary"
  echo "building neurons: cargo build --release" >&2
  (cd "$root" && cargo build --release >&2) || die 1 "cargo build --release failed"
  target=${CARGO_TARGET_DIR:-target}
  [[ $target == /* ]] || target=$root/$target # relative to where cargo ran
  neurons=$target/release/neurons
  built=$(git -C "$root" describe --always --dirty 2>/dev/null) || built=
fi
neurons_version=$("$neurons" --version) || die 1 "$neurons --version failed"

# --- the rounds -------------------------------------------------------------------------------
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS: neurons" >&2
  "$neurons" bench --json --threads "$THREADS" --scale "$scale" ${workloads[@]+"${workloads[@]}"} \
    >>"$out/neurons.jsonl"
  echo "round $round/$ROUNDS: pytorch" >&2
  "$py" "$here/pytorch_reference.py" --threads "$THREADS" --scale "$scale" \
    ${workloads[@]+"${workloads[@]}"} >>"$out/torch.jsonl"
done

cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1) || cpu=
neurons_desc=$neurons_version${built:+ (built from $built)}
machine="$cores cores${cpu:+ ($cpu)}"
info="torch $torch; $neurons_desc; $machine; scale $scale, $ROUNDS rounds, $THREADS threads each"

"$py" - "$out/neurons.jsonl" "$out/torch.jsonl" "$info" <<'PY'
import json, statistics, sys
def load(p):
    d = {}
    for line in open(p):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line); d.setdefault(r["workload"], []).append(r["samples_per_second"])
    return {k: statistics.median(v) for k, v in d.items()}
n, t = load(sys.argv[1]), load(sys.argv[2])
print(f"{'workload':<12} {'neurons/s':>12} {'pytorch/s':>12} {'ratio':>7}")
worst = None
for w in sorted(t):
    if w in n:
        r = n[w] / t[w]; worst = r if worst is None else min(worst, r)
        print(f"{w:<12} {n[w]:>12.0f} {t[w]:>12.0f} {r:>7.2f}")
    else:
        print(f"{w:<12} {'missing':>12} {t[w]:>12.0f}     -"); worst = 0.0
print(f"versions: {sys.argv[3]}")
print(f"lowest ratio: {worst:.2f}")
PY
