#!/usr/bin/env bash
# Installs PyTorch's PyPI wheel into the project's virtualenv with only the NVIDIA wheels that
# the job needs (Makefile targets torch, pytorch, gpu). Idempotent: installs nothing when the
# set is already there. Usage: install-torch.sh VENV TORCH_VERSION cpu|python|cuda
#
# Why three sets: PyPI has only the CUDA build of torch for Linux x86-64 (the CPU-only wheel is
# not on PyPI), and `pip install torch` brings 2.7 GB of NVIDIA wheels and 0.6 GB of triton.
#   cpu     libtorch for tch, which is all tms, `make demo` and `make test` use: the wheel
#           without its dependencies, its pure-Python requirements, and the two CUDA
#           runtimes that libtorch_cpu.so itself links (libcudart, libcupti). tms links only
#           libtorch_cpu and opens libtorch_cuda on a machine with a driver
#           (src/model/cuda.rs), so the rest is never loaded. Python cannot `import torch`
#           with this set: libtorch_python.so links libtorch_cuda.so, and that links cuBLAS,
#           cuDNN, cuFFT, cuSPARSE(Lt), cuRAND, NCCL and NVSHMEM.
#   python  also those, so that `import torch` works (make bench trains a PyTorch twin on
#           the CPU, tests/golden/make_pth.py writes .pth fixtures); still without triton,
#           NVRTC, cuSOLVER, NVTX and cuda-bindings, which torch opens only on a GPU.
#   cuda    everything the wheel asks for: a machine with an NVIDIA driver, or `make gpu`.
set -euo pipefail
venv=$1 version=$2 set=$3
py=$venv/bin/python

# --no-warn-conflicts: pip would report that torch misses the wheels left out on purpose.
quiet_pip() {
    "$py" -m pip install -q --no-warn-conflicts "$@"
}

torch_version() {
    "$py" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true
}

# The cpu set is complete when libtorch_cpu.so finds every library it links.
libtorch_ok() {
    local lib
    lib=$(ls -d "$venv"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n 1)
    [ -n "$lib" ] && [ -f "$lib/libtorch_cpu.so" ] && ! ldd "$lib/libtorch_cpu.so" | grep -q 'not found'
}

import_ok() {
    "$py" -c "import torch, sys; sys.exit(not torch.__version__.startswith('$version'))" 2>/dev/null
}

# torch's own requirements for this machine, less the NVIDIA wheels the set does without.
requirements() {
    "$py" - "$1" <<'PY'
import sys
from importlib.metadata import requires
from pip._vendor.packaging.requirements import Requirement

wanted = sys.argv[1]
# cuda-toolkit extras: libtorch_cpu.so links these two; the python set skips only what torch
# opens on demand on a GPU.
CPU_EXTRAS = {"cudart", "cupti"}
ON_DEMAND = {"nvrtc", "cusolver", "nvtx"}
for text in requires("torch") or []:
    r = Requirement(text)
    if r.marker is not None and not r.marker.evaluate({"extra": ""}):
        continue
    name = r.name.lower()
    extras = set(r.extras)
    if name == "cuda-toolkit":
        extras &= CPU_EXTRAS if wanted == "cpu" else extras - ON_DEMAND
    elif name.startswith("nvidia-"):
        if wanted == "cpu":
            continue
    elif name.startswith(("cuda-", "triton")):
        continue
    tail = "[" + ",".join(sorted(extras)) + "]" if extras else ""
    print(f"{r.name}{tail}{r.specifier}")
PY
}

[ -x "$py" ] || "${PYTHON:-python3}" -m venv "$venv"

case $set in
cpu)
    if [ "$(torch_version)" = "$version" ] && libtorch_ok; then exit 0; fi
    echo "installing PyTorch $version (libtorch for tch, CPU) into .venv — about 0.55 GB download, 1.2 GB on disk, once"
    # --no-compile: nothing imports torch's Python (or sympy, its dependency) with this set, so
    # their .pyc files (~0.15 GB) would never be read; Python writes them if it ever does import.
    quiet_pip --no-compile --no-deps "torch==$version"
    list=$(requirements cpu)
    mapfile -t reqs <<<"$list"
    quiet_pip --no-compile "${reqs[@]}"
    libtorch_ok || { echo "libtorch_cpu.so still misses libraries:" >&2; ldd "$venv"/lib/python3*/site-packages/torch/lib/libtorch_cpu.so | grep 'not found' >&2; exit 1; }
    ;;
python)
    if import_ok; then exit 0; fi
    echo "installing what Python's \`import torch\` needs (cuBLAS, cuDNN, NCCL… that libtorch_python links; about 1.6 GB download, 2.2 GB on disk) into .venv, once"
    list=$(requirements python)
    mapfile -t reqs <<<"$list"
    quiet_pip "${reqs[@]}"
    import_ok || { echo "Python still cannot import torch:" >&2; "$py" -c 'import torch' >&2; exit 1; }
    ;;
cuda)
    echo "installing PyTorch $version with its full CUDA set (about 2 GB more download, 3.3 GB more on disk) into .venv, once"
    "$py" -m pip install -q "torch==$version"
    ;;
*)
    echo "usage: $0 VENV TORCH_VERSION cpu|python|cuda" >&2
    exit 2
    ;;
esac
