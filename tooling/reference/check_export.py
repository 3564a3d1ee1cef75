#!/usr/bin/env python3
"""PyTorch check of `foldedStateDict` / `visual-peft-bench export`: the exported timm-named
safetensors, loaded into an independent PyTorch ViT, gives the logits of the TypeScript model with
the methods attached.

Usage (from the repository root, after building the packages):

    /usr/bin/python3 tooling/reference/check_export.py            # make the fixture (below)
    /usr/bin/python3 tooling/reference/check_export.py --exported FILE.safetensors [--timm]

The model is make_vit_fixture.py's tiny ViT (packages/vit-core/src/__fixtures__/tiny-vit/:
config, weights, inputs) with LoRA on q and v (Hu et al. 2022; rank 2, alpha 3) and SSF (Lian et
al. 2022) attached in that order. Both are written here from the papers, as modules on the
unfolded backbone, in float64:

- LoRA: the fused qkv output gains x A_q B_q * alpha / r in its q third and x A_v B_v * alpha / r
  in its v third (A [D, r] and B [r, D], the names and layout the TypeScript method saves);
- SSF: y * gamma + beta per channel after the patch projection, norm1, qkv (after LoRA's update,
  which is attached first), attn.proj, norm2, fc1 (before GELU), fc2 and the final norm.

Without --exported the script draws the methods' parameters (numpy PCG64, seed 20261206), writes
them, runs the TypeScript side in Node (packages/adapter-methods' built dist, from apps/benchmark,
whose node_modules hold every package and the cpu backend): it loads the same weights, attaches
the methods, computes its logits and writes `foldedStateDict(model)` as safetensors to a temporary
folder. Then it loads that file into the plain PyTorch ViT (strict: every timm key, nothing else),
and checks, before writing anything, that the PyTorch logits of the export equal the PyTorch
logits with the methods attached, and the TypeScript logits with the methods attached, to 1e-5.
Outputs in packages/adapter-methods/src/__fixtures__/export/ (packages/adapter-methods'
src/fold-reference.test.ts reads them, without Python):

  methods.safetensors   the drawn parameters, `lora/<name>` and `ssf/<name>` (F32)
  logits-attached.npy   [2, 10] float64: PyTorch, methods attached (unfolded)
  logits-exported.npy   [2, 10] float64: PyTorch, the plain ViT loading the TypeScript export

With --exported FILE the script loads FILE (an export of this fixture's model) into the plain ViT
and compares its logits with logits-attached.npy; exit status 1 above 1e-5. With --timm as well it
also builds timm's own VisionTransformer from the arguments the export carries in its metadata
(`visual-peft` JSON, key `timm`), loads FILE into it (strict) and compares its logits the same way;
that needs timm and safetensors importable (the fixture itself never does).

torch runs with 2 threads; like bench_torch.py the script refuses to run with OPENBLAS_CORETYPE
set. Deterministic: rerunning it reproduces every output byte for byte.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_vit_fixture as vit  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TINY = os.path.join(ROOT, "packages", "vit-core", "src", "__fixtures__", "tiny-vit")
OUT = os.path.join(ROOT, "packages", "adapter-methods", "src", "__fixtures__", "export")
APP = os.path.join(ROOT, "apps", "benchmark")
SEED = 20261206
RANK, ALPHA = 2, 3
TOLERANCE = 1e-5

# The TypeScript side: the same weights, LoRA then SSF attached, its logits and its export.
NODE_SCRIPT = r"""
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { VisionTransformer, fromHostTensor, loadStateDict, parseNpy, parseSafetensors, serializeNpy, serializeSafetensors, toHostTensor } from '@visual-peft/vit-core';
import { createLora, createSsf, foldedStateDict } from '@visual-peft/adapter-methods';
const { TINY, METHODS, OUT_DIR, RANK, ALPHA } = process.env;
await tf.setBackend('cpu');
const read = (path) => new Uint8Array(readFileSync(path));
const model = new VisionTransformer(JSON.parse(readFileSync(`${TINY}/config.json`, 'utf8')), { weights: 'zeros' });
loadStateDict(model, parseSafetensors(read(`${TINY}/tiny-vit.safetensors`)).tensors);
const saved = parseSafetensors(read(METHODS)).tensors;
const methods = [createLora(model, { rank: Number(RANK), alpha: Number(ALPHA) }), createSsf(model)];
for (const method of methods) {
  const prefix = `${method.name}/`;
  method.loadWeights(new Map([...saved].filter(([key]) => key.startsWith(prefix)).map(([key, host]) => [key.slice(prefix.length), fromHostTensor(host)])));
  model.attach(method);
}
const logits = model.forward(fromHostTensor(parseNpy(read(`${TINY}/inputs.npy`))));
writeFileSync(`${OUT_DIR}/logits-ts.npy`, serializeNpy(toHostTensor(logits)));
writeFileSync(`${OUT_DIR}/exported.safetensors`, serializeSafetensors(foldedStateDict(model), { format: 'pt' }));
"""


def ssf_keys(depth):
    """The layers SSF follows, by timm key, with their output widths (D = 32, qkv 3D, fc1 4D)."""
    d = vit.CONFIG["embedDim"]
    keys = [("patch_embed.proj", d)]
    for i in range(depth):
        keys += [(f"blocks.{i}.norm1", d), (f"blocks.{i}.attn.qkv", 3 * d), (f"blocks.{i}.attn.proj", d),
                 (f"blocks.{i}.norm2", d), (f"blocks.{i}.mlp.fc1", 4 * d), (f"blocks.{i}.mlp.fc2", d)]
    return keys + [("norm", d)]


def draw_methods():
    cfg = vit.CONFIG
    d, depth = cfg["embedDim"], cfg["depth"]
    rng = np.random.default_rng(SEED)
    tensors = {}
    for i in range(depth):
        for which in ("q", "v"):
            tensors[f"lora/blocks.{i}.attn.{which}.lora_A"] = rng.normal(0.0, 0.3, (d, RANK))
            tensors[f"lora/blocks.{i}.attn.{which}.lora_B"] = rng.normal(0.0, 0.3, (RANK, d))
    for key, width in ssf_keys(depth):
        tensors[f"ssf/{key}.ssf_scale"] = 1.0 + rng.normal(0.0, 0.2, width)
        tensors[f"ssf/{key}.ssf_shift"] = rng.normal(0.0, 0.2, width)
    return {key: value.astype(np.float32) for key, value in tensors.items()}


def attached_forward(model, images, methods):
    """The tiny ViT with LoRA then SSF as modules on the unfolded weights (float64)."""
    t = {key: torch.from_numpy(value.astype(np.float64)) for key, value in methods.items()}

    def ssf(key, y):
        return y * t[f"ssf/{key}.ssf_scale"] + t[f"ssf/{key}.ssf_shift"]

    scaling = ALPHA / RANK
    x = ssf("patch_embed.proj", model.patch_embed(images))
    x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed
    for i, block in enumerate(model.blocks):
        attn = block.attn
        h = ssf(f"blocks.{i}.norm1", block.norm1(x))
        lora = [h @ t[f"lora/blocks.{i}.attn.{w}.lora_A"] @ t[f"lora/blocks.{i}.attn.{w}.lora_B"] * scaling for w in ("q", "v")]
        qkv = attn.qkv(h) + torch.cat([lora[0], torch.zeros_like(lora[0]), lora[1]], dim=-1)
        qkv = ssf(f"blocks.{i}.attn.qkv", qkv)
        b, n, d = h.shape
        q, k, v = qkv.reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        mixed = ((q @ k.transpose(-2, -1)) / math.sqrt(attn.head_dim)).softmax(dim=-1) @ v
        x = x + ssf(f"blocks.{i}.attn.proj", attn.proj(mixed.transpose(1, 2).reshape(b, n, d)))
        h = ssf(f"blocks.{i}.mlp.fc1", block.mlp.fc1(ssf(f"blocks.{i}.norm2", block.norm2(x))))
        x = x + ssf(f"blocks.{i}.mlp.fc2", block.mlp.fc2(F.gelu(h)))
    return model.head(ssf("norm", model.norm(x))[:, 0])


def plain_logits(weights, images):
    """The exported state dict in the plain ViT: strict, so every timm key and nothing else."""
    model = vit.load_into(vit.VisionTransformer(vit.CONFIG, "token").double(), weights).eval()
    with torch.no_grad():
        return model(images).numpy()


def run_typescript(methods_path, out_dir):
    env = dict(os.environ, TINY=TINY, METHODS=methods_path, OUT_DIR=out_dir, RANK=str(RANK), ALPHA=str(ALPHA))
    done = subprocess.run(["node", "--input-type=module", "-e", NODE_SCRIPT], cwd=APP, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: the TypeScript side failed (build the packages first):\n{done.stderr.strip()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exported", help="check this export against the committed logits-attached.npy")
    parser.add_argument("--timm", action="store_true", help="with --exported: also load it into timm's VisionTransformer")
    args = parser.parse_args(argv)
    if os.environ.get("OPENBLAS_CORETYPE"):
        sys.exit(f"error: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set; unset it (it forces older kernels)")
    torch.set_num_threads(2)
    images = torch.from_numpy(np.load(os.path.join(TINY, "inputs.npy")).astype(np.float64))

    if args.exported is not None:
        exported, meta = safetensors_io.load_file(args.exported)
        want = np.load(os.path.join(OUT, "logits-attached.npy"))
        report = {"maxAbsDiff": float(np.abs(plain_logits(exported, images) - want).max()), "tolerance": TOLERANCE}
        if args.timm:
            import timm  # noqa: E402  (optional: only this check needs it)
            from timm.models.vision_transformer import VisionTransformer
            model = VisionTransformer(**json.loads(meta["visual-peft"])["timm"]).eval()
            model.load_state_dict({key: torch.from_numpy(value) for key, value in exported.items()}, strict=True)
            with torch.no_grad():
                logits = model(images.float()).double().numpy()
            report.update(timm=timm.__version__, timmMaxAbsDiff=float(np.abs(logits - want).max()))
        print(json.dumps(report))
        return 0 if max(report["maxAbsDiff"], report.get("timmMaxAbsDiff", 0.0)) <= TOLERANCE else 1

    methods = draw_methods()
    weights, _ = safetensors_io.load_file(os.path.join(TINY, "tiny-vit.safetensors"))
    model = vit.load_into(vit.VisionTransformer(vit.CONFIG, "token").double(), weights).eval()
    with torch.no_grad():
        attached = attached_forward(model, images, methods).numpy()
        pretrained = model(images).numpy()
    with tempfile.TemporaryDirectory() as scratch:
        methods_path = os.path.join(scratch, "methods.safetensors")
        safetensors_io.save_file(methods, methods_path)
        run_typescript(methods_path, scratch)
        exported, _ = safetensors_io.load_file(os.path.join(scratch, "exported.safetensors"))
        typescript = np.load(os.path.join(scratch, "logits-ts.npy")).astype(np.float64)
    from_export = plain_logits(exported, images)
    report = {
        "methodsChangeLogitsBy": float(np.abs(attached - pretrained).max()),
        "exportVsAttached": float(np.abs(from_export - attached).max()),
        "typescriptVsAttached": float(np.abs(typescript - attached).max()),
    }
    print(json.dumps(report))
    assert report["methodsChangeLogitsBy"] > 0.1, report
    assert report["exportVsAttached"] <= TOLERANCE and report["typescriptVsAttached"] <= TOLERANCE, report

    os.makedirs(OUT, exist_ok=True)
    safetensors_io.save_file(methods, os.path.join(OUT, "methods.safetensors"))
    vit.save_npy(os.path.join(OUT, "logits-attached.npy"), attached)
    vit.save_npy(os.path.join(OUT, "logits-exported.npy"), from_export)
    return 0


if __name__ == "__main__":
    sys.exit(main())
