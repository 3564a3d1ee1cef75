#!/usr/bin/env python3
"""PyTorch side of `visual-peft-bench speed`: the same products, ViT-B block and training step.

Usage (the benchmark runs it; by hand from the repository root):

    /usr/bin/python3 tooling/reference/bench_torch.py --plan '{"threads": 2, ...}'

The plan (JSON) says what to measure; the keys are those `apps/benchmark/src/speed/torch.ts`
writes: threads, repeats, model (the ViT config in timm's camelCase names, square images),
matmuls ([{name, a, b, transposeA, transposeB}]), blockBatches, stepBatch, methods ([{"name",
"config"}]: each method's resolved options as the TypeScript method reports them), numClasses.
Prints one JSON object on stdout: the BLAS in use, the products' times, the block's forward and
forward+backward times, each training step's time and peak memory, and under "absent" the methods
it has no reference for (and why).

The block is `make_vit_fixture.py`'s (timm's semantics: pre-norm, LayerNorm eps 1e-6, fused qkv,
exact GELU) at the plan's size (ViT-B/16 by default). A training step runs `memory_torch.py`'s
model (that ViT with one method's parameters: full, linear, bias, VPT, GatedPT, SCT, as that script
describes) through forward, softmax cross-entropy, backward and SGD with momentum 0.9, as the
TypeScript side does; for the linear probe nothing before the head requires grad, so autograd
records the head only.

A fair reference needs the right BLAS: Debian's python3-torch calls whatever libblas.so.3 the
alternatives system points at (the slow reference BLAS unless libopenblas0-openmp is installed).
The output names the BLAS library mapped into this process and OpenBLAS's core type, and the
script refuses to run with OPENBLAS_CORETYPE set (it would force older kernels). The benchmark
runs it with OMP_NUM_THREADS set to the plan's threads and OMP_WAIT_POLICY=PASSIVE: on a machine
whose cores other processes also use, spinning OpenMP threads made the batched attention products
ten times slower.
"""

import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_vit_fixture import Block  # noqa: E402
from memory_torch import Model, unsupported  # noqa: E402
from reference_cli import read_plan  # noqa: E402

LEARNING_RATE = 1e-3
MOMENTUM = 0.9


def blas_in_use():
    """The BLAS/LAPACK/OpenMP libraries mapped into this process, and OpenBLAS's own report."""
    torch.ones(64, 64) @ torch.ones(64, 64)  # make sure the BLAS is loaded
    with open("/proc/self/maps") as maps:
        libraries = sorted({line.split()[-1] for line in maps
                            if any(name in line for name in ("blas", "lapack", "mkl", "gomp"))})
    report = {"libraries": libraries, "openblasConfig": None, "openblasCore": None,
              "openblasThreads": None}
    for path in libraries:
        if "libopenblas" in path:
            library = ctypes.CDLL(path)
            library.openblas_get_config.restype = ctypes.c_char_p
            library.openblas_get_corename.restype = ctypes.c_char_p
            report["openblasConfig"] = library.openblas_get_config().decode()
            report["openblasCore"] = library.openblas_get_corename().decode()
            report["openblasThreads"] = library.openblas_get_num_threads()
    # OpenBLAS's DYNAMIC_ARCH falls back to its oldest x86-64 kernels (Prescott: SSE3) on a CPU it does
    # not recognise, e.g. a newer Xeon that reports a generic model name: its products then run several
    # times slower than the CPU can, and a ratio to PyTorch says little. Say so.
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    report["belowCpu"] = report["openblasCore"] in ("Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom") and "avx2" in flags
    config = torch.__config__.show()
    report["torchBlasInfo"] = next((part.split("=")[1] for part in config.replace(",", " ").split()
                                    if part.startswith("BLAS_INFO=")), None)
    return report


def seconds(function, repeats):
    """Median wall time of `repeats` calls after one untimed warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_matmul(spec, repeats):
    a = torch.randn(spec["a"])
    b = torch.randn(spec["b"])
    left = a.transpose(-2, -1) if spec["transposeA"] else a
    right = b.transpose(-2, -1) if spec["transposeB"] else b
    return seconds(lambda: torch.matmul(left, right), repeats)


def tokens(model):
    return (model["imgSize"] // model["patchSize"]) ** 2 + 1


def measure_block(model, batch, repeats):
    torch.manual_seed(0)
    block = Block(model["embedDim"], model["numHeads"], model["mlpRatio"], model["qkvBias"])
    x = torch.randn(batch, tokens(model), model["embedDim"])

    def forward():
        with torch.no_grad():
            block(x)

    def forward_backward():
        block.zero_grad(set_to_none=True)
        block(x).sum().backward()

    return {"batch": batch, "forward": seconds(forward, repeats),
            "forwardBackward": seconds(forward_backward, repeats)}


def make_step(config, method, batch, num_classes):
    """A training step of the whole model for `method` ({"name", "config"}, one of memory_torch.py's)."""
    torch.manual_seed(0)
    model = Model({**config, "imgSize": [config["imgSize"], config["imgSize"]]}, num_classes, method)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=LEARNING_RATE, momentum=MOMENTUM)
    images = torch.randn(batch, config["inChans"], config["imgSize"], config["imgSize"])
    labels = torch.randint(0, num_classes, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images, False), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_step_bytes(config, method, batch, num_classes):
    """Run in a fresh process: resident memory added by building the model, its optimiser state
    and two steps (weights, gradients, momentum, activations, allocator slack), at its peak."""
    baseline = resident_bytes()
    step = make_step(config, method, batch, num_classes)
    step()
    step()
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return peak - baseline


def main(argv=None):
    read = read_plan(__doc__.split("\n\n")[0], "--peak-only", ("METHOD_INDEX", "BATCH"), argv)
    if read is None:
        return 2
    plan, peak_only = read
    if peak_only:
        index, batch = (int(value) for value in peak_only)
        print(json.dumps({"peakBytes": peak_step_bytes(plan["model"], plan["methods"][index], batch, plan["numClasses"])}))
        return 0

    repeats = plan["repeats"]
    result = {
        "torchVersion": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_in_use(),
        "matmuls": {spec["name"]: measure_matmul(spec, repeats) for spec in plan["matmuls"]},
        "blocks": [measure_block(plan["model"], batch, repeats) for batch in plan["blockBatches"]],
        "steps": [],
        "absent": {},
    }
    for index, method in enumerate(plan["methods"]):
        reason = unsupported(method)
        if reason is not None:
            result["absent"][method["name"]] = reason
            continue
        step_seconds = seconds(make_step(plan["model"], method, plan["stepBatch"], plan["numClasses"]), repeats)
        peak = subprocess.run(
            [sys.executable, __file__, "--plan", json.dumps(plan), "--peak-only", str(index), str(plan["stepBatch"])],
            check=True, capture_output=True, text=True)
        result["steps"].append({"method": method["name"], "batch": plan["stepBatch"], "seconds": step_seconds,
                                "peakBytes": json.loads(peak.stdout)["peakBytes"]})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
