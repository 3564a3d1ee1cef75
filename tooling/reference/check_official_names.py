#!/usr/bin/env python3
"""PyTorch check of `visual-peft-bench import` and `export` under the official code's parameter
names: tensors named as the official code names them, read by `import` and run by the TypeScript
model, give the logits of a PyTorch forward pass written as the official code computes; `export`
of the imported file gives the same tensors back.

Usage (from the repository root, after building the packages):

    /usr/bin/python3 tooling/reference/check_official_names.py

On make_vit_fixture.py's tiny ViT (packages/vit-core/src/__fixtures__/tiny-vit/, token pooling,
10 classes) it draws, with numpy PCG64 (seed 20261207), in float32:

- Gated Prompt Tuning as ryongithub/GatedPromptTuning names it (src/models/vit_prompt/vit_mae.py,
  src/models/vit_models.py): enc.prompt_embeddings [1, 3, D], enc.gate_logit [L-1], enc.temp [L]
  (one value above 10, so the clamp of reinit_temp matters), head.last_layer.weight/bias. The
  forward pass is make_gated_prompt_fixture.py's (prompts after CLS, temperatures clamped to
  [0.01, 10] dividing each block's attention logits, after block i < L-1 the prompt slots become
  g * out + (1 - g) * in, g = sigmoid(gate_logit[i])), with the drawn head on the CLS token.
- SCT as zhaohengyuan1/SCT names it (models/vision_transformer_sct.py, utils.py save):
  blocks.{i}.sct_attn.adapt_linear.weight [K, K] (PyTorch's [out, in]) and .bias, the
  ChannelAdapter's channel_index (K = 4 ascending channels, drawn per block), head.weight/bias.
  The forward pass is the code's Block with tuning_mode 'sct_attn': x = x + attn(norm1(x)), then
  x[..., idx] += adapt_linear(x[..., idx]) (unscaled: the scale is commented out there), then
  x = x + mlp(norm2(x)).
- VQT as andytu28/VQT names it (src/models/vit_backbones/h2t_vit.py, src/models/build_h2t_model.py):
  enc.transformer.encoder.query_prompt_embeddings [L, 2, D] and head.last_layer.weight/bias over
  the D * (1 + 2L) features. The forward pass is the code's Head2ToeEncoder and Head2ToeBlock
  (each block's queries prepended, keys and values from the block's own tokens, the whole block
  for the queries too) and Head2ToeVisionTransformer's concat head: F.normalize of the final-norm
  CLS token and of each block's flattened query outputs, concatenated (NORMALIZE_FEATS).
- VPT-shallow and VPT-deep as KMnP/vpt names them (src/models/vit_prompt/vit.py, src/models/vit_models.py):
  enc.transformer.prompt_embeddings [1, 3, D], for VPT-deep also enc.transformer.deep_prompt_embeddings
  [L-1, 3, D], head.last_layer.weight/bias. The forward pass is the code's PromptedTransformer (prompts
  after CLS before block 0; VPT-deep replaces the prompt slots with the next set before each later
  block), make_gated_prompt_fixture.py's vpt_deep_forward, with the drawn head on the CLS token.
  (These draws come after the others', which they leave as they were.)

For each it writes the tensors to a temporary safetensors file, runs
`node apps/benchmark/dist/cli.js import --method ... --backbone config.json --in FILE --out DIR/tuned.safetensors`,
then, in Node from apps/benchmark, loads that tuned file onto the tiny ViT's weights
(training's `loadTunedWeights`) and computes the logits of the inputs, and runs
`visual-peft-bench export --tuned DIR/tuned.safetensors --out DIR/official.safetensors`. It prints one
JSON line per method (`logitsMaxAbsDiff` against the float64 PyTorch logits, whether the export
holds the drawn tensors again bit for bit) and exits 1 unless every logit agrees to 1e-5 and every
export matches. Nothing is written in the repository. torch runs with 2 threads; the script refuses
to run with OPENBLAS_CORETYPE set.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_gated_prompt_fixture as gated_reference  # noqa: E402
import make_vit_fixture as vit  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TINY = os.path.join(ROOT, "packages", "vit-core", "src", "__fixtures__", "tiny-vit")
APP = os.path.join(ROOT, "apps", "benchmark")
CLI = os.path.join(APP, "dist", "cli.js")
SEED = 20261207
TOLERANCE = 1e-5
K = 4

# Loads a tuned-weights file onto the tiny ViT's pretrained weights and writes the logits of the inputs.
NODE_LOGITS = r"""
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { VisionTransformer, fromHostTensor, loadStateDict, parseNpy, parseSafetensors, serializeNpy, toHostTensor } from '@visual-peft/vit-core';
import { loadTunedWeights } from '@visual-peft/training';
import { PROMPT_METHOD_DEFINITIONS } from '@visual-peft/prompt-methods';
import { CHANNEL_TUNING_DEFINITIONS } from '@visual-peft/channel-tuning';
import { QUERY_TUNING_DEFINITIONS } from '@visual-peft/query-tuning';
const { TINY, TUNED, OUT } = process.env;
await tf.setBackend('cpu');
const read = (path) => new Uint8Array(readFileSync(path));
const model = new VisionTransformer(JSON.parse(readFileSync(`${TINY}/config.json`, 'utf8')), { weights: 'zeros' });
loadStateDict(model, parseSafetensors(read(`${TINY}/tiny-vit.safetensors`)).tensors);
await loadTunedWeights(TUNED, model, [...PROMPT_METHOD_DEFINITIONS, ...CHANNEL_TUNING_DEFINITIONS, ...QUERY_TUNING_DEFINITIONS]);
writeFileSync(OUT, serializeNpy(toHostTensor(model.forward(fromHostTensor(parseNpy(read(`${TINY}/inputs.npy`)))))));
"""


def draw(rng):
    cfg = vit.CONFIG
    d, depth, classes = cfg["embedDim"], cfg["depth"], cfg["numClasses"]
    head = {"weight": rng.normal(0.0, 0.3, (classes, d)), "bias": rng.normal(0.0, 0.3, classes)}
    gated = {
        "enc.prompt_embeddings": rng.normal(0.0, 1.0, (1, 3, d)),
        "enc.gate_logit": rng.normal(0.0, 1.0, depth - 1),
        "enc.temp": np.array([0.7, 14.0])[:depth],
        "head.last_layer.weight": head["weight"],
        "head.last_layer.bias": head["bias"],
    }
    sct = {"head.weight": head["weight"], "head.bias": head["bias"]}
    for i in range(depth):
        sct[f"blocks.{i}.sct_attn.adapt_linear.weight"] = rng.normal(0.0, 0.3, (K, K))
        sct[f"blocks.{i}.sct_attn.adapt_linear.bias"] = rng.normal(0.0, 0.3, K)
    as_f32 = lambda tensors: {key: np.asarray(value, dtype=np.float32) for key, value in tensors.items()}
    channels = {f"blocks.{i}.sct_attn.channel_index": np.sort(rng.choice(d, K, replace=False)).astype(np.int32) for i in range(depth)}
    queries = 2
    vqt = {
        "enc.transformer.encoder.query_prompt_embeddings": rng.normal(0.0, 1.0, (depth, queries, d)),
        "head.last_layer.weight": rng.normal(0.0, 0.3, (classes, d * (1 + depth * queries))),
        "head.last_layer.bias": rng.normal(0.0, 0.3, classes),
    }
    vpt_head = {"head.last_layer.weight": rng.normal(0.0, 0.3, (classes, d)), "head.last_layer.bias": rng.normal(0.0, 0.3, classes)}
    shallow = {"enc.transformer.prompt_embeddings": rng.normal(0.0, 1.0, (1, 3, d)), **vpt_head}
    deep = {**shallow, "enc.transformer.deep_prompt_embeddings": rng.normal(0.0, 1.0, (depth - 1, 3, d))}
    return as_f32(gated), {**as_f32(sct), **channels}, as_f32(vqt), as_f32(shallow), as_f32(deep)


def model_with_head(weights, head_weight, head_bias):
    weights = dict(weights, **{"head.weight": head_weight, "head.bias": head_bias})
    return vit.load_into(vit.VisionTransformer(vit.CONFIG, "token").double(), weights).eval()


def t64(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))


def gated_logits(weights, images, tensors):
    model = model_with_head(weights, tensors["head.last_layer.weight"], tensors["head.last_layer.bias"])
    return gated_reference.gated_forward(model, images, t64(tensors["enc.prompt_embeddings"]), t64(tensors["enc.gate_logit"]), t64(tensors["enc.temp"]))


def vpt_logits(weights, images, tensors):
    model = model_with_head(weights, tensors["head.last_layer.weight"], tensors["head.last_layer.bias"])
    sets = [tensors["enc.transformer.prompt_embeddings"]]
    if "enc.transformer.deep_prompt_embeddings" in tensors:
        sets.append(tensors["enc.transformer.deep_prompt_embeddings"])
    prompts = t64(np.concatenate(sets, axis=0))
    if prompts.shape[0] == 1:
        # Shallow: the prompts enter before block 0 and pass through every block like patch tokens.
        x = gated_reference.insert_prompts(gated_reference.embed(model, images), prompts)
        for block in model.blocks:
            x = gated_reference.block_forward(block, x)
        return gated_reference.head(model, x, "token")
    return gated_reference.vpt_deep_forward(model, images, prompts)


def sct_logits(weights, images, tensors):
    model = model_with_head(weights, tensors["head.weight"], tensors["head.bias"])
    x = model.patch_embed(images)
    x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed
    for i, block in enumerate(model.blocks):
        x = x + block.attn(block.norm1(x))
        idx = torch.from_numpy(tensors[f"blocks.{i}.sct_attn.channel_index"].astype(np.int64))
        x = x.clone()
        x[..., idx] += torch.nn.functional.linear(x[..., idx], t64(tensors[f"blocks.{i}.sct_attn.adapt_linear.weight"]), t64(tensors[f"blocks.{i}.sct_attn.adapt_linear.bias"]))
        x = x + block.mlp(block.norm2(x))
    return model.head(model.norm(x)[:, 0])


def vqt_logits(weights, images, tensors):
    """Head2ToeEncoder / Head2ToeBlock: the block's queries go first, pass norm1, attention (as
    queries only: keys and values come from the block's own tokens), the residuals and the MLP;
    the head reads F.normalize of the final-norm CLS token and of each block's query outputs."""
    model = vit.load_into(vit.VisionTransformer(vit.CONFIG, "token").double(), weights).eval()
    prompts = t64(tensors["enc.transformer.encoder.query_prompt_embeddings"])
    x = model.patch_embed(images)
    x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed
    outputs = []
    for i, block in enumerate(model.blocks):
        count = prompts.shape[1]
        h = torch.cat([prompts[i].expand(x.shape[0], -1, -1), x], dim=1)
        attn = block.attn
        b, n, d = h.shape
        q, _, _ = attn.qkv(block.norm1(h)).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        _, k, v = attn.qkv(block.norm1(h[:, count:])).reshape(b, n - count, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        mixed = ((q @ k.transpose(-2, -1)) / math.sqrt(attn.head_dim)).softmax(dim=-1) @ v
        h = h + attn.proj(mixed.transpose(1, 2).reshape(b, n, d))
        h = h + block.mlp(block.norm2(h))
        outputs.append(h[:, :count])
        x = h[:, count:]
    groups = [model.norm(x)[:, 0]] + [out.reshape(x.shape[0], -1) for out in outputs]
    feats = torch.cat([torch.nn.functional.normalize(group, dim=1) for group in groups], dim=1)
    return torch.nn.functional.linear(feats, t64(tensors["head.last_layer.weight"]), t64(tensors["head.last_layer.bias"]))


def write_official(path, tensors):
    """safetensors_io writes F32 only; the channel indices go in as I32 (their dtype in our files)."""
    floats = {key: value for key, value in tensors.items() if value.dtype == np.float32}
    data = safetensors_io.encode(floats)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    body = bytearray(data[8 + n:])
    for key, value in tensors.items():
        if value.dtype == np.int32:
            header[key] = {"dtype": "I32", "shape": list(value.shape), "data_offsets": [len(body), len(body) + value.nbytes]}
            body += value.astype("<i4").tobytes()
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + bytes(body))


def read_any(path):
    """Reads F32 and I32 tensors of a safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8:8 + n])
    header.pop("__metadata__", None)
    data = buf[8 + n:]
    types = {"F32": "<f4", "I32": "<i4"}
    return {key: np.frombuffer(data[info["data_offsets"][0]:info["data_offsets"][1]], dtype=types[info["dtype"]]).reshape(info["shape"])
            for key, info in header.items()}


def run(args, env=None):
    done = subprocess.run(args, cwd=APP, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(args[:3])} failed (build the packages first):\n{done.stderr.strip()}")


def main():
    if os.environ.get("OPENBLAS_CORETYPE"):
        sys.exit(f"error: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set; unset it (it forces older kernels)")
    torch.set_num_threads(2)
    weights, _ = safetensors_io.load_file(os.path.join(TINY, "tiny-vit.safetensors"))
    images = t64(np.load(os.path.join(TINY, "inputs.npy")))
    gated, sct, vqt, shallow, deep = draw(np.random.default_rng(SEED))
    ok = True
    with tempfile.TemporaryDirectory() as scratch, torch.no_grad():
        cases = (("gated-prompt", gated, gated_logits), ("sct", sct, sct_logits), ("vqt", vqt, vqt_logits), ("vpt-shallow", shallow, vpt_logits), ("vpt-deep", deep, vpt_logits))
        for method, tensors, reference in cases:
            folder = os.path.join(scratch, method)
            os.makedirs(folder)
            official = os.path.join(folder, "official-in.safetensors")
            write_official(official, tensors)
            tuned = os.path.join(folder, "tuned.safetensors")
            run(["node", CLI, "import", "--method", method, "--backbone", os.path.join(TINY, "config.json"), "--in", official, "--out", tuned])
            logits_path = os.path.join(folder, "logits.npy")
            run(["node", "--input-type=module", "-e", NODE_LOGITS], env=dict(os.environ, TINY=TINY, TUNED=tuned, OUT=logits_path))
            exported = os.path.join(folder, "official-out.safetensors")
            run(["node", CLI, "export", "--tuned", tuned, "--out", exported])
            back = read_any(exported)
            same = sorted(back) == sorted(tensors) and all(np.array_equal(back[key], tensors[key]) for key in tensors)
            diff = float(np.abs(np.load(logits_path).astype(np.float64) - reference(weights, images, tensors).numpy()).max())
            print(json.dumps({"method": method, "logitsMaxAbsDiff": diff, "tolerance": TOLERANCE, "exportGivesTheTensorsBack": same}))
            ok = ok and diff <= TOLERANCE and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
