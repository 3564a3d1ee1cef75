#!/usr/bin/env python3
"""PyTorch side of `visual-peft-bench memory`: what one training step needs per image in PyTorch.

Usage (the benchmark runs it; by hand from the repository root):

    /usr/bin/python3 tooling/reference/memory_torch.py --plan '{"model": {...}, ...}'

The plan (JSON) holds the keys `apps/benchmark/src/commands/memory.ts` writes: model (the resolved
ViT config in timm's camelCase names, imgSize as [height, width]), numClasses, batches (ascending),
threads, recompute, and methods ([{"name", "config"}], config being the method's resolved options
as the TypeScript method reports them). Prints one JSON object on stdout:

    {"torchVersion", "threads", "recompute",
     "methods": {name: {"trainable", "peakRssBytes": [per batch], "savedBytes": [per batch]}},
     "absent": {name: why}}

Each (method, batch) point runs in a fresh process of this script (`--point`), so that no earlier
point's memory masks a later one. A point builds the model (timm's ViT, `make_vit_fixture.py`'s
modules), the method's parameters and an SGD optimiser with momentum 0.9, then runs one step:
forward, softmax cross-entropy, backward, optimiser update. It reports
- peakRssBytes: the process's peak resident set (getrusage ru_maxrss) minus its resident set just
  before the step: gradients, momentum, activations, allocator slack, all that the step added;
- savedBytes: the bytes of the tensors autograd saved for the backward pass
  (torch.autograd.graph.saved_tensors_hooks), each storage counted once (views share one).
The slope of either over the batch sizes is the memory one more image costs.

Methods, as the papers describe them: full (every weight trains), linear (the head; autograd
records nothing before it), bias (BitFit: every `*.bias` and the head), vpt-shallow / vpt-deep
(Jia et al. 2022: numPrompts tokens after CLS, no position embedding; deep replaces the prompt
slots before every block), gated-prompt (Yoo et al. 2023: shallow prompts, a sigmoid gate on the
prompt slots after every block but the last, attention logits divided by a per-block temperature
clamped to [0.01, 10]), sct (SCT, arXiv 2309.08513: a K x K linear map on K channels of the
residual stream after attention and/or the MLP, added back in place; the channels are the first K,
which costs the same as the salient ones). Prompt dropout and stochastic depth are applied as the
config asks. Every other method is reported in "absent". With recompute, every block whose input
requires grad runs under torch.utils.checkpoint (per-block activation checkpointing).

Threads: the plan's (2 by default in the benchmark); the script refuses to run with
OPENBLAS_CORETYPE set (it forces older kernels), as bench_torch.py does.
"""

import gc
import json
import os
import resource
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_vit_fixture import Block, PatchEmbed  # noqa: E402
from reference_cli import read_plan  # noqa: E402

LEARNING_RATE = 1e-3
MOMENTUM = 0.9
TEMPERATURE_RANGE = (0.01, 10.0)
PROMPT_METHODS = ("vpt-shallow", "vpt-deep", "gated-prompt")
METHODS = ("full", "linear", "bias", *PROMPT_METHODS, "sct")


def unsupported(method):
    """Why `method` (name and resolved config) has no reference here, or None."""
    name, config = method["name"], method["config"]
    if name not in METHODS:
        return "no PyTorch reference for this method"
    if name == "gated-prompt" and config.get("hardGates"):
        return "hardGates (Gumbel-sigmoid gates) is not modelled"
    return None


class Model(nn.Module):
    """timm's ViT (make_vit_fixture.py's blocks) with one method's parameters."""

    def __init__(self, cfg, num_classes, method):
        super().__init__()
        d, depth, p = cfg["embedDim"], cfg["depth"], cfg["patchSize"]
        height, width = cfg["imgSize"]
        self.cfg, self.name, self.config = cfg, method["name"], method["config"]
        self.prefix = 1 if cfg["classToken"] else 0
        self.patch_embed = PatchEmbed(p, cfg["inChans"], d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if self.prefix else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.prefix + (height // p) * (width // p), d))
        self.blocks = nn.ModuleList(Block(d, cfg["numHeads"], cfg["mlpRatio"], cfg["qkvBias"]) for _ in range(depth))
        if cfg["fcNorm"]:
            self.fc_norm = nn.LayerNorm(d, eps=cfg["layerNormEps"])
        else:
            self.norm = nn.LayerNorm(d, eps=cfg["layerNormEps"])
        self.head = nn.Linear(d, num_classes)
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(self.name == "full" or name.startswith("head.")
                                     or (self.name == "bias" and name.endswith(".bias")))
        # The method's own parameters are made after the flags above: they always train.
        self.prompts = self.gate_logit = self.temp = None
        self.num_prompts = 0
        if self.name in PROMPT_METHODS:
            self.num_prompts = self.config["numPrompts"]
            sets = depth if self.name == "vpt-deep" else 1
            self.prompts = nn.Parameter(torch.zeros(sets, self.num_prompts, d))
            if self.name == "gated-prompt":
                if self.config["gates"] and depth > 1:
                    self.gate_logit = nn.Parameter(torch.full((depth - 1,), -float(self.config["gateInit"])))
                if self.config["temperature"]:
                    self.temp = nn.Parameter(torch.ones(depth))
        self.sct = nn.ModuleDict()
        if self.name == "sct":
            position = self.config["position"]
            for site in ("attn", "mlp"):
                if position in (site, "both"):
                    self.sct[site] = nn.ModuleList(nn.Linear(k, k) for k in self.config["k"])
            for block, k in enumerate(self.config["k"]):
                self.register_buffer(f"channels{block}", torch.arange(k))

    def prompt_set(self, index, batch):
        prompts = self.prompts[index:index + 1].expand(batch, -1, -1)
        return F.dropout(prompts, self.config["dropout"], training=True) if self.config["dropout"] > 0 else prompts

    def drop_path(self, x, block):
        """timm's stochastic depth: rate linear from 0 to dropPathRate over the blocks."""
        depth = self.cfg["depth"]
        rate = self.cfg["dropPathRate"] * block / (depth - 1) if depth > 1 else self.cfg["dropPathRate"]
        if rate == 0:
            return x
        keep = 1 - rate
        return x * x.new_empty(x.shape[0], 1, 1).bernoulli_(keep) / keep

    def tune(self, x, site, block):
        """SCT: x[..., idx] += scale * (x[..., idx] W^T + b), out of place."""
        if site not in self.sct:
            return x
        channels = getattr(self, f"channels{block}")
        delta = self.sct[site][block](x.index_select(-1, channels))
        if self.config["scale"] != 1:
            delta = delta * self.config["scale"]
        return x.index_add(-1, channels, delta)

    def attention(self, block, x, index):
        attn = block.attn
        b, t, d = x.shape
        q, k, v = attn.qkv(x).reshape(b, t, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        logits = (q @ k.transpose(-2, -1)) * attn.scale
        if self.temp is not None:
            logits = logits / self.temp.clamp(*TEMPERATURE_RANGE)[index]
        return attn.proj((logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d))

    def block(self, index, x):
        block = self.blocks[index]
        x = self.tune(x + self.drop_path(self.attention(block, block.norm1(x), index), index), "attn", index)
        return self.tune(x + self.drop_path(block.mlp(block.norm2(x)), index), "mlp", index)

    def forward(self, images, recompute):
        x = self.patch_embed(images)
        batch, s, p = x.shape[0], self.prefix, self.num_prompts
        if self.prefix:
            x = torch.cat([self.cls_token.expand(batch, -1, -1), x], dim=1)
        x = x + self.pos_embed
        for index in range(len(self.blocks)):
            if self.prompts is not None and (index == 0 or self.name == "vpt-deep"):
                replaced = 0 if index == 0 else p
                x = torch.cat([x[:, :s], self.prompt_set(index, batch), x[:, s + replaced:]], dim=1)
            if recompute and x.requires_grad:
                out = checkpoint(self.block, index, x)
            else:
                out = self.block(index, x)
            if self.gate_logit is not None and index < len(self.blocks) - 1:
                g = torch.sigmoid(self.gate_logit[index])
                mixed = g * out[:, s:s + p] + (1 - g) * x[:, s:s + p]
                out = torch.cat([out[:, :s], mixed, out[:, s + p:]], dim=1)
            x = out
        if not self.cfg["fcNorm"]:
            x = self.norm(x)
        pooled = x[:, self.prefix:].mean(dim=1) if self.cfg["globalPool"] == "avg" else x[:, 0]
        return self.head(self.fc_norm(pooled) if self.cfg["fcNorm"] else pooled)


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_point(plan, method, batch):
    """One step in this (fresh) process: {"trainable", "peakRssBytes", "savedBytes"}."""
    cfg = plan["model"]
    torch.manual_seed(0)
    model = Model(cfg, plan["numClasses"], method)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=LEARNING_RATE, momentum=MOMENTUM)
    images = torch.randn(batch, cfg["inChans"], *cfg["imgSize"])
    labels = torch.arange(batch) % plan["numClasses"]
    storages = {}

    def pack(tensor):
        storage = tensor.storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    gc.collect()
    before = resident_bytes()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = F.cross_entropy(model(images, plan["recompute"]), labels)
    loss.backward()
    optimizer.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {"trainable": sum(parameter.numel() for parameter in trainable),
            "peakRssBytes": peak - before, "savedBytes": sum(storages.values())}


def main(argv=None):
    read = read_plan(__doc__.split("\n\n")[0], "--point", ("METHOD_INDEX", "BATCH"), argv)
    if read is None:
        return 2
    plan, point = read
    if point:
        index, batch = (int(value) for value in point)
        print(json.dumps(measure_point(plan, plan["methods"][index], batch)))
        return 0

    result = {"torchVersion": torch.__version__, "threads": torch.get_num_threads(),
              "recompute": plan["recompute"], "methods": {}, "absent": {}}
    for index, method in enumerate(plan["methods"]):
        reason = unsupported(method)
        if reason is not None:
            result["absent"][method["name"]] = reason
            continue
        points = []
        for batch in plan["batches"]:
            run = subprocess.run([sys.executable, __file__, "--plan", json.dumps(plan), "--point", str(index), str(batch)],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                lines = run.stderr.strip().splitlines() or [f"exit status {run.returncode}"]
                print(f"error: {method['name']} at batch {batch}: {lines[-1]}", file=sys.stderr)
                return 1
            points.append(json.loads(run.stdout))
        result["methods"][method["name"]] = {
            "trainable": points[0]["trainable"],
            "peakRssBytes": [point["peakRssBytes"] for point in points],
            "savedBytes": [point["savedBytes"] for point in points],
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
