#!/usr/bin/env python3
"""Independent PyTorch reference for the prompt methods on the tiny fixture ViT.

Reads the tiny ViT of make_vit_fixture.py (packages/vit-core/src/__fixtures__/tiny-vit/: config,
weights, inputs) and computes in float64, from the papers and the authors' code rather than any
TypeScript code (GatedPT: arXiv 2306.05067 Section 4, ryongithub/GatedPromptTuning
src/models/vit_prompt/vit_mae.py and src/configs/config.py; VPT-deep: KMnP/vpt
src/models/vit_prompt/vit.py; NMI: SPT, arXiv 2402.02382, Figure 2):

- Gated Prompt Tuning, gates and temperatures on: P prompts inserted after CLS (no position
  embedding); temperatures clamped to [0.01, 10] before the pass; block l's attention
  softmax(q k^T / sqrt(d_head) / tau_l); after every block but the last the prompt slots become
  g * out + (1 - g) * in with g = sigmoid(gate logit); head on the final norm's CLS token.
  Twice: with temperatures inside the range, and with one above it (so the clamp matters).
- The same on the avg-pool variant (MAE's head): mean over every non-CLS token, prompts included,
  then fc_norm (the pretrained norm's weights), then the head.
- VPT-deep: set 1 inserted after CLS, before block i >= 2 the prompt slots replaced by set i.
- The normalised mutual information of SPT's Figure 2 on a small random case, per image:
  joint = sigmoid(p_k . e_j / sqrt(D)) normalised to sum 1; NMI = I / min(H(P), H(E)) and
  I / sqrt(H(P) H(E)). I is computed twice (sum p log p / (p_P p_E), and H(P) + H(E) - H(P, E)).

The TypeScript test packages/prompt-methods/src/parity.test.ts must reproduce every output.
Run from the repository root: /usr/bin/python3 tooling/reference/make_gated_prompt_fixture.py
"""
import math
import os
import sys

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_vit_fixture as vit  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TINY = os.path.join(ROOT, "packages", "vit-core", "src", "__fixtures__", "tiny-vit")
OUT = os.path.join(ROOT, "packages", "prompt-methods", "src", "__fixtures__")
NUM_PROMPTS = 3
SEED = 20250501
GATE_LOGITS = [0.4]             # one gate for the 2-block model: g = 0.599
TEMPERATURES = [0.6, 1.7]
TEMPERATURES_OUT_OF_RANGE = [0.6, 25.0]  # the second one is clamped to 10
TEMPERATURE_RANGE = (0.01, 10.0)


def attention(block, x, temperature):
    attn = block.attn
    b, t, d = x.shape
    qkv = attn.qkv(x).reshape(b, t, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    logits = (qkv[0] @ qkv[1].transpose(-2, -1)) / math.sqrt(attn.head_dim) / temperature
    mixed = (logits.softmax(dim=-1) @ qkv[2]).transpose(1, 2).reshape(b, t, d)
    return attn.proj(mixed)


def block_forward(block, x, temperature=1.0):
    x = x + attention(block, block.norm1(x), temperature)
    return x + block.mlp(block.norm2(x))


def embed(model, images):
    patches = model.patch_embed(images)
    cls = model.cls_token.expand(patches.shape[0], -1, -1)
    return torch.cat([cls, patches], dim=1) + model.pos_embed


def insert_prompts(x, prompts):
    return torch.cat([x[:, :1], prompts.expand(x.shape[0], -1, -1), x[:, 1:]], dim=1)


def head(model, x, pool):
    if pool == "token":
        return model.head(model.norm(x)[:, 0])
    return model.head(model.fc_norm(x[:, 1:].mean(dim=1)))


def gated_forward(model, images, prompts, gate_logits, temperatures, pool="token"):
    p = prompts.shape[1]
    temperatures = temperatures.clamp(*TEMPERATURE_RANGE)
    x = insert_prompts(embed(model, images), prompts)
    for index, block in enumerate(model.blocks):
        out = block_forward(block, x, temperatures[index])
        if index < len(gate_logits):
            g = torch.sigmoid(gate_logits[index])
            mixed = g * out[:, 1:1 + p] + (1 - g) * x[:, 1:1 + p]
            out = torch.cat([out[:, :1], mixed, out[:, 1 + p:]], dim=1)
        x = out
    return head(model, x, pool)


def vpt_deep_forward(model, images, prompt_sets):
    p = prompt_sets.shape[1]
    x = embed(model, images)
    for index, block in enumerate(model.blocks):
        if index == 0:
            x = insert_prompts(x, prompt_sets[0:1])
        else:
            x = torch.cat([x[:, :1], prompt_sets[index:index + 1].expand(x.shape[0], -1, -1), x[:, 1 + p:]], dim=1)
        x = block_forward(block, x)
    return head(model, x, "token")


def entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def nmi(prompts, patches):
    """Per image: (NMI with the min normalisation, NMI with the geometric mean)."""
    out = []
    for e in patches:
        joint = 1.0 / (1.0 + np.exp(-(prompts @ e.T) / math.sqrt(prompts.shape[1])))
        joint = joint / joint.sum()
        pp, pe = joint.sum(axis=1), joint.sum(axis=0)
        info = float((joint * np.log(joint / np.outer(pp, pe))).sum())
        info_from_entropies = entropy(pp) + entropy(pe) - entropy(joint.ravel())
        assert abs(info - info_from_entropies) < 1e-12, (info, info_from_entropies)
        hp, he = entropy(pp), entropy(pe)
        out.append([info / min(hp, he), info / math.sqrt(hp * he)])
    return np.array(out)


def main():
    torch.set_num_threads(1)
    cfg = vit.CONFIG
    weights, _ = safetensors_io.load_file(os.path.join(TINY, "tiny-vit.safetensors"))
    model = vit.load_into(vit.VisionTransformer(cfg, "token").double(), weights).eval()
    weights_avg = {("fc_norm." + k[len("norm."):] if k.startswith("norm.") else k): v for k, v in weights.items()}
    model_avg = vit.load_into(vit.VisionTransformer(cfg, "avg").double(), weights_avg).eval()
    images = torch.from_numpy(np.load(os.path.join(TINY, "inputs.npy")).astype(np.float64))
    d, depth = cfg["embedDim"], cfg["depth"]

    rng = np.random.default_rng(SEED)
    tensors = {
        "gated/prompt_embeddings": rng.normal(0.0, 1.0, (1, NUM_PROMPTS, d)).astype(np.float32),
        "gated/gate_logit": np.array(GATE_LOGITS, dtype=np.float32),
        "gated/temp": np.array(TEMPERATURES, dtype=np.float32),
        "gated-clamp/temp": np.array(TEMPERATURES_OUT_OF_RANGE, dtype=np.float32),
        "vpt-deep/prompt_embeddings": rng.normal(0.0, 1.0, (1, NUM_PROMPTS, d)).astype(np.float32),
        "vpt-deep/deep_prompt_embeddings": rng.normal(0.0, 1.0, (depth - 1, NUM_PROMPTS, d)).astype(np.float32),
        "nmi/prompts": rng.normal(0.0, 1.5, (3, 4)).astype(np.float32),
        "nmi/patches": rng.normal(0.0, 1.5, (2, 5, 4)).astype(np.float32),
    }
    t = {k: torch.from_numpy(v.astype(np.float64)) for k, v in tensors.items()}

    with torch.no_grad():
        plain = head(model, block_forward(model.blocks[1], block_forward(model.blocks[0], embed(model, images))), "token")
        assert torch.allclose(plain, torch.from_numpy(np.load(os.path.join(TINY, "logits.npy"))), atol=1e-12), "backbone differs from make_vit_fixture"
        gated = gated_forward(model, images, t["gated/prompt_embeddings"], t["gated/gate_logit"], t["gated/temp"])
        gated_clamp = gated_forward(model, images, t["gated/prompt_embeddings"], t["gated/gate_logit"], t["gated-clamp/temp"])
        gated_at_ten = gated_forward(model, images, t["gated/prompt_embeddings"], t["gated/gate_logit"], t["gated-clamp/temp"].clamp(max=10.0))
        assert torch.equal(gated_clamp, gated_at_ten), "clamp to 10 not applied"
        gated_avg = gated_forward(model_avg, images, t["gated/prompt_embeddings"], t["gated/gate_logit"], t["gated/temp"], pool="avg")
        deep_sets = torch.cat([t["vpt-deep/prompt_embeddings"], t["vpt-deep/deep_prompt_embeddings"]], dim=0)
        vpt_deep = vpt_deep_forward(model, images, deep_sets)
    nmi_values = nmi(tensors["nmi/prompts"].astype(np.float64), tensors["nmi/patches"].astype(np.float64))

    for name, value in (("gated", gated), ("gated-clamp", gated_clamp), ("gated-avg", gated_avg), ("vpt-deep", vpt_deep)):
        change = float((value - plain).abs().max()) if name != "gated-avg" else float(value.abs().max())
        assert change > 1e-2, f"{name}: the prompts barely change the logits ({change})"

    os.makedirs(OUT, exist_ok=True)
    sizes = {}
    path = os.path.join(OUT, "prompt-methods.safetensors")
    sizes["prompt-methods.safetensors"] = safetensors_io.save_file(tensors, path)
    back, _ = safetensors_io.load_file(path)
    assert all(np.array_equal(back[k], v) for k, v in tensors.items())
    outputs = {
        "gated-logits.npy": gated.numpy(),
        "gated-clamp-logits.npy": gated_clamp.numpy(),
        "gated-avg-logits.npy": gated_avg.numpy(),
        "vpt-deep-logits.npy": vpt_deep.numpy(),
        "nmi.npy": nmi_values,
    }
    for name, value in outputs.items():
        np.save(os.path.join(OUT, name), value)
        sizes[name] = os.path.getsize(os.path.join(OUT, name))

    print(f"gate g = {1 / (1 + math.exp(-GATE_LOGITS[0])):.6f}; temperatures {TEMPERATURES}, clamp case {TEMPERATURES_OUT_OF_RANGE}")
    for name, value in (("plain", plain), ("gated", gated), ("gated-clamp", gated_clamp), ("gated-avg", gated_avg), ("vpt-deep", vpt_deep)):
        print(f"max|{name} logits| = {float(value.abs().max()):.6f}")
    print(f"nmi (min, geometric) per image = {nmi_values.tolist()}")
    for name in sorted(sizes):
        print(f"  {name:28s} {sizes[name]:6d} bytes")


if __name__ == "__main__":
    main()
