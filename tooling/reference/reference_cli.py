"""The command line shared by the PyTorch references that the benchmark app runs (bench_torch.py,
memory_torch.py): a JSON plan, a hidden flag for one point measured in a fresh process, 2 threads
from the plan, and a refusal of a forced OpenBLAS core type."""

import argparse
import json
import os
import sys

import torch


def read_plan(description, point_flag, point_names, argv=None):
    """Parses `--plan` and the hidden `point_flag`; returns (plan, point or None), or None after
    printing why the run cannot go on (the caller exits with status 2)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--plan", required=True, help="what to measure, as JSON (see the module doc)")
    parser.add_argument(point_flag, nargs=2, metavar=point_names, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"error: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set; it forces older "
              "kernels, unset it", file=sys.stderr)
        return None
    plan = json.loads(args.plan)
    torch.set_num_threads(plan["threads"])
    return plan, getattr(args, point_flag.lstrip("-").replace("-", "_"))
