#!/usr/bin/env bash
# One command for the first GPU machine (at most 8 minutes, no network needed):
#
#     scripts/gpu_check.sh [WHEELS_DIR] [REPORT]
#
# 1. installs, offline from WHEELS_DIR (default: wheels/), the packages anynet and
#    its tests need that the machine lacks (pip install --no-index --find-links);
# 2. reports the GPU and the libraries' versions;
# 3. runs the test matrix on every GPU backend that is usable: CuPy, PyTorch on CUDA,
#    JAX on its GPU (the tests that skip on a machine without one), each skipped
#    with its reason where unusable;
# 4. runs scripts/benchmark.py --only gpu: anynet on CuPy beside PyTorch on CUDA,
#    same MLP, and the transfers anynet makes, counted on the device;
# 5. writes all of it to REPORT (default: gpu_check_report.txt), and exits non-zero
#    if a test or the benchmark failed.
#
# PYTHON picks the interpreter (default python3). anynet runs from this checkout.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=${1:-$repo/wheels}
report=${2:-gpu_check_report.txt}
python=${PYTHON:-python3}
: > "$report"
say() { echo "$*" | tee -a "$report"; }
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
cd "$repo" || exit 2
say "# anynet gpu_check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null)"

# --- 1. what is missing, from the wheels -------------------------------------------
# module:package; mpi4py and mpich (MPI's runtime, mpiexec) are optional: the MPI test
# on GPUs needs them
needed="array_api_compat:array-api-compat array_api_strict:array-api-strict tqdm:tqdm
        pytest:pytest hypothesis:hypothesis mpi4py:mpi4py"
missing=$("$python" - $needed <<'EOF'
import importlib.util, shutil, sys
from pathlib import Path
missing = [p for m, p in (a.split(":") for a in sys.argv[1:])
           if importlib.util.find_spec(m) is None]
if not (shutil.which("mpiexec") or (Path(sys.executable).parent / "mpiexec").exists()):
    missing.append("mpich")
print(" ".join(missing))
EOF
)
if [ -n "$missing" ]; then
    say "## installing from $wheels: $missing"
    for package in $missing; do  # one by one: an optional one missing from the folder
        "$python" -m pip install --quiet --no-index --find-links "$wheels" "$package" \
            >> "$report" 2>&1 || say "   could not install $package from $wheels"
    done
else
    say "## nothing to install"
fi

# --- 2. the GPU and the libraries ----------------------------------------------------
say "## versions"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv 2>&1 \
        | tee -a "$report"
else
    say "nvidia-smi: not found"
fi
backends=$("$python" - 2>>"$report" <<'EOF' | tee -a "$report" /dev/stderr | sed -n 's/^BACKENDS=//p'
import importlib, importlib.util, sys
def version(name):
    try:
        return importlib.import_module(name).__version__
    except Exception as exc:
        return f"not usable ({type(exc).__name__}: {exc})"
print("python", sys.version.split()[0])
for name in ("numpy", "array_api_compat", "array_api_strict", "sklearn", "scipy", "cupy",
             "torch", "jax", "mpi4py"):
    print(f"{name:17s} {version(name)}")
chosen = []
from anynet._backend import cuda_unavailable_reason
reason = cuda_unavailable_reason()
if reason is None:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    names = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)]
    print(f"cupy: CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, {n} GPU(s): {names}")
    chosen.append("cupy")
else:
    print(f"cupy: skipped: {reason}")
try:
    import torch
    if torch.cuda.is_available():
        print(f"torch: CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
        chosen.append("torch-cuda")
    else:
        print("torch-cuda: skipped: torch.cuda.is_available() is False")
except ImportError as exc:
    print(f"torch-cuda: skipped: {exc}")
try:
    import jax
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if gpus:
        print(f"jax: {gpus}")
        chosen.append("jax")
    else:
        print(f"jax: skipped: no GPU among jax.devices() = {jax.devices()}")
except Exception as exc:
    print(f"jax: skipped: {type(exc).__name__}: {exc}")
print("BACKENDS=" + ",".join(chosen))
EOF
)

# --- 3. the test matrix on the GPU backends ------------------------------------------
tests_rc=0
if [ -n "$backends" ]; then
    # the matrix's entries for these backends, and the tests named after them
    expr=$(echo "$backends" | sed 's/torch-cuda/cuda/; s/,/ or /g')
    say "## tests: backends $backends (pytest -k \"$expr\")"
    ANYNET_TEST_BACKENDS=$backends timeout 290 "$python" -m pytest tests -q -rs \
        -p no:cacheprovider -k "$expr" 2>&1 | tee -a "$report"
    tests_rc=${PIPESTATUS[0]}
else
    say "## tests: skipped: no GPU backend is usable here (reasons above)"
fi

# --- 4. the benchmark -----------------------------------------------------------------
say "## scripts/benchmark.py --only gpu --repeats 2"
timeout 140 "$python" scripts/benchmark.py --only gpu --repeats 2 2>&1 | tee -a "$report"
bench_rc=${PIPESTATUS[0]}

say "## gpu_check done: tests exit status $tests_rc, benchmark exit status $bench_rc" \
    "(124: ran out of its time); report in $report"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
