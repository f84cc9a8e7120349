# Sourced by the bench scripts: the two programs they compare, and how they stop.
#
#   die CODE MESSAGE
#     prints `error: MESSAGE` on stderr and exits with CODE.
#   reference_python [PACKAGE...]
#     sets `py` to $PYTHON if set (it must import torch and the packages), else to bench/.venv's
#     Python, creating the venv and installing torch==$TORCH_VERSION and the packages from PyPI
#     on first use; sets `torch` to torch's version.
#   neurons_binary
#     sets `neurons` to $NEURONS if set, else builds target/release/neurons; sets `built` to the
#     commit it was built from (empty for $NEURONS) and `neurons_version`.
#
#   reference_env
#     the environment both scripts run the Python side in (below).
#
# Needs `here` (the bench folder) and `root` (the repository).

die() { echo "error: $2" >&2; exit "$1"; }

# glibc's malloc settings that neurons makes for itself at start (src/runtime.rs,
# tune_allocator: a 256 MiB top pad, a 1 GiB trim threshold, a 32 MiB mmap threshold, one arena
# per core), given to the Python side
# as glibc's environment variables, so that the two programs are compared on their work and not
# on two allocator settings. With glibc's defaults a process maps and unmaps its large buffers at
# every step and faults their pages in again: PyTorch's vae_train ran at 1,055 samples/s so and at
# 1,773 with these (2026-12-07, scale 0.5, alone). Without them, a PyTorch process that had run
# other work first (as when all workloads ran in one process) was faster than a fresh one.
reference_env=(MALLOC_TOP_PAD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824
  MALLOC_MMAP_THRESHOLD_=33554432 "MALLOC_ARENA_MAX=$(nproc)")

TORCH_VERSION=2.15.0 # the PyTorch of the project's figures so far; change it and they no longer compare

# torch from PyPI warns on import that NumPy is missing; the microbenchmarks do not use NumPy.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Failed to initialize NumPy:UserWarning"

# Prints torch's version if "$1" can import it and the modules "${@:2}", fails otherwise.
torch_version() {
  local imports="torch" module
  for module in "${@:2}"; do imports+=", $module"; done
  "$1" -c "import $imports; print(torch.__version__)" 2>/dev/null
}

reference_python() {
  local venv=$here/.venv
  if [[ -n ${PYTHON:-} ]]; then
    py=$PYTHON
    torch=$(torch_version "$py" "$@") ||
      die 1 "PYTHON=$py cannot import torch${*:+ and $*} (unset PYTHON to use bench/.venv with torch==$TORCH_VERSION)"
    [[ ${torch%%+*} == "$TORCH_VERSION" ]] ||
      echo "note: PYTHON has torch $torch; the project's figures so far used $TORCH_VERSION" >&2
    return
  fi
  py=$venv/bin/python
  torch=$(torch_version "$py" "$@") || torch=
  [[ ${torch%%+*} == "$TORCH_VERSION" ]] && return
  if [[ ! -x $py ]]; then
    echo "creating $venv" >&2
    if ! python3 -m venv "$venv" >&2; then
      rm -rf "$venv" # a half-made venv (no pip) would fail again next time
      die 1 "\`python3 -m venv\` failed: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv) or set PYTHON to a Python that has torch"
    fi
  fi
  echo "installing torch==$TORCH_VERSION${*:+ and $*} from PyPI into $venv (a few GB, one time)" >&2
  "$py" -m pip install --disable-pip-version-check "torch==$TORCH_VERSION" "$@" >&2 ||
    die 1 "pip could not install torch==$TORCH_VERSION${*:+ and $*} into $venv (is PyPI reachable?)"
  torch=$(torch_version "$py" "$@") || die 1 "torch was installed into $venv but does not import${*:+ with $*}"
}

neurons_binary() {
  built=
  if [[ -n ${NEURONS:-} ]]; then
    neurons=$NEURONS
    [[ -x $neurons ]] || die 1 "NEURONS=$neurons is not an executable file"
  else
    command -v cargo >/dev/null ||
      die 1 "cargo not found: install Rust (https://rustup.rs) or set NEURONS to a neurons binary"
    echo "building neurons: cargo build --release" >&2
    (cd "$root" && cargo build --release >&2) || die 1 "cargo build --release failed"
    local target=${CARGO_TARGET_DIR:-target}
    [[ $target == /* ]] || target=$root/$target # relative to where cargo ran
    neurons=$target/release/neurons
    built=$(git -C "$root" describe --always --dirty 2>/dev/null) || built=
  fi
  neurons_version=$("$neurons" --version) || die 1 "$neurons --version failed"
}
