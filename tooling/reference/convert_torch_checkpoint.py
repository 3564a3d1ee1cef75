#!/usr/bin/env python3
"""Convert a paper's PyTorch ViT checkpoint into a timm-named, float32 safetensors file.

Usage:

    /usr/bin/python3 tooling/reference/convert_torch_checkpoint.py --format {mae,moco-v3,timm,peft} INPUT.pth OUTPUT.safetensors
    /usr/bin/python3 tooling/reference/convert_torch_checkpoint.py --self-test

Formats:

  mae      MAE's released checkpoints (e.g. mae_pretrain_vit_base.pth): the state dict is under
           the key "model". Encoder keys already use timm's names and are kept as they are;
           "mask_token" and every key starting with "decoder" are dropped.
  moco-v3  MoCo v3's checkpoints: the state dict is under "state_dict". A leading "module."
           and then "base_encoder." are stripped; keys starting with "momentum" (the momentum
           encoder) or "predictor" are dropped. The pretraining checkpoint's "head.<n>.*" keys
           are the MLP projector and are dropped; the linear-eval checkpoint's plain
           "head.weight"/"head.bias" (a 1000-class Linear) are kept.
  timm     a plain timm state dict, or one under "model" or "state_dict"; kept as it is.
  peft     a PEFT method's official checkpoint, read like timm but with no key required: Gated
           Prompt Tuning's fvcore "last_model.pth" (the whole SSLViT under "model": enc.*,
           enc.prompt_embeddings, enc.gate_logit, enc.temp, head.last_layer.*), SCT's
           "ckpt_epoch_best.pt" (a plain dict of its sct_attn/sct_mlp/q_l/v_l and head
           tensors). `visual-peft-bench import` then reads the method's keys and leaves the rest.

Every floating-point tensor is written as F32 (keys sorted). Non-floating tensors and
non-tensor entries are dropped and reported. Every dropped key is printed, then the number of
tensors written. The output is written atomically (temporary file in the same folder, then
os.replace).

Exit status: 0 on success; 2 (with a one-line message on stderr) if the input cannot be
loaded, lacks the expected wrapper key, or the result lacks any of cls_token, pos_embed,
patch_embed.proj.weight (except --format peft). Nothing is written then.

Loading: torch.load(map_location="cpu", weights_only=True) first, which cannot run pickled
code. torch 1.13's weights-only unpickler also rejects harmless content that real training
checkpoints hold: Python floats (the optimizer's lr in MoCo v3's files: "Unsupported operand
71"), pickled torch.bfloat16/bool/uint8 dtype objects, MAE's argparse.Namespace of arguments.
When it refuses, the file is read again with torch's checkpoint reader driven by this
script's allowlist unpickler: every pickle opcode (floats included), but globals only from
torch's own weights-only allowlist plus every torch dtype, argparse.Namespace, set/frozenset
and numpy scalars/dtypes; any other global is refused. Only for a file from a source you
trust, --trust-pickle loads it with weights_only=False and no allowlist.
"""

import argparse
import collections
import os
import pickle
import re
import sys
import tempfile
import types

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

REQUIRED = ("cls_token", "pos_embed", "patch_embed.proj.weight")
FORMATS = ("mae", "moco-v3", "timm", "peft")


class ConversionError(Exception):
    """Reported as one line on stderr with exit status 2."""


def _allowed_globals():
    """The globals the fallback unpickler may resolve: torch's own weights-only allowlist,
    plus every torch dtype object (1.13's list lacks bfloat16, bool, uint8), argparse.Namespace
    (MAE stores its training arguments that way) and numpy scalars/dtypes (seen in timm's
    training checkpoints). None of these can run code beyond building plain values."""
    allowed = {}
    try:
        allowed.update(torch._weights_only_unpickler._get_allowed_globals())
    except AttributeError:  # pragma: no cover - older torch
        pass
    for name in dir(torch):
        obj = getattr(torch, name)
        if isinstance(obj, torch.dtype):
            allowed[str(obj)] = obj
    for fn in ("_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_tensor", "_rebuild_tensor_v2"):
        if hasattr(torch._utils, fn):
            allowed[f"torch._utils.{fn}"] = getattr(torch._utils, fn)
    allowed["collections.OrderedDict"] = collections.OrderedDict
    allowed["argparse.Namespace"] = argparse.Namespace
    allowed["builtins.set"] = set
    allowed["builtins.frozenset"] = frozenset
    allowed["numpy.dtype"] = np.dtype
    allowed["numpy.core.multiarray.scalar"] = np.core.multiarray.scalar
    return allowed


class _AllowlistUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        key = f"{module}.{name}"
        obj = _allowed_globals().get(key)
        if obj is None:
            raise pickle.UnpicklingError(f"global '{key}' is not on the allowlist")
        return obj


def _allowlist_pickle_module():
    mod = types.ModuleType("allowlist_pickle")
    mod.Unpickler = _AllowlistUnpickler
    mod.load = lambda f, **kw: _AllowlistUnpickler(f, **kw).load()
    return mod


def _load_with_allowlist(path):
    """torch's own checkpoint reader driven by the allowlist unpickler. torch.load itself
    cannot be used for this on this torch: with weights_only=False, 1.13 (as packaged here)
    replaces any pickle_module argument with the standard pickle module."""
    ser = torch.serialization
    mod = _allowlist_pickle_module()
    with open(path, "rb") as f:
        if ser._is_zipfile(f):
            with ser._open_zipfile_reader(f) as zf:
                return ser._load(zf, "cpu", mod, encoding="utf-8")
        return ser._legacy_load(f, "cpu", mod, encoding="utf-8")


def _first_line(e):
    text = " ".join(str(e).split())
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text[text.index(marker):]
    return text or type(e).__name__


def load_checkpoint(path, trust_pickle=False, log=print):
    """torch.load with map_location='cpu'.

    Default: weights_only=True. When torch 1.13's weights-only unpickler refuses (it rejects
    Python floats, e.g. the optimizer's lr in MoCo v3's files, "Unsupported operand 71"; a
    pickled torch.bfloat16 dtype object; argparse.Namespace), the file is loaded again through
    the allowlist unpickler (_allowed_globals), which cannot run arbitrary code either. --trust-pickle loads with weights_only=False and no
    allowlist, for files from a trusted source only."""
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    if trust_pickle:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:
            raise ConversionError(f"{path}: cannot be loaded: {type(e).__name__}: {_first_line(e)}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = _first_line(e)
    except Exception as e:
        raise ConversionError(f"{path}: cannot be loaded: {type(e).__name__}: {_first_line(e)}")
    try:
        ckpt = _load_with_allowlist(path)
    except pickle.UnpicklingError as e2:
        raise ConversionError(
            f"{path}: refused by torch.load(weights_only=True) ({first}) and by the allowlist unpickler "
            f"({_first_line(e2)}); rerun with --trust-pickle only if you trust the file")
    except Exception as e2:
        raise ConversionError(f"{path}: cannot be loaded: {type(e2).__name__}: {_first_line(e2)}")
    log(f"note: torch {torch.__version__} weights_only=True refused the file ({first}); "
        f"loaded with the allowlist unpickler instead")
    return ckpt


def _unwrap(ckpt, key, fmt):
    if not isinstance(ckpt, dict):
        raise ConversionError(f"--format {fmt}: the checkpoint is a {type(ckpt).__name__}, not a dict")
    if key not in ckpt:
        raise ConversionError(
            f"--format {fmt}: no '{key}' entry in the checkpoint (top-level keys: {', '.join(map(str, list(ckpt)[:8]))})")
    sd = ckpt[key]
    if not isinstance(sd, dict):
        raise ConversionError(f"--format {fmt}: '{key}' is a {type(sd).__name__}, not a state dict")
    return sd


def _strip(key, prefix):
    return key[len(prefix):] if key.startswith(prefix) else key


def convert_state_dict(ckpt, fmt):
    """Returns (kept: dict name -> tensor, dropped: list of (original key, reason))."""
    dropped = []
    kept = {}
    if fmt == "mae":
        sd = _unwrap(ckpt, "model", fmt)
        for k, v in sd.items():
            if k == "mask_token":
                dropped.append((k, "MAE mask token"))
            elif k.startswith("decoder"):
                dropped.append((k, "MAE decoder"))
            else:
                kept[k] = v
    elif fmt == "moco-v3":
        sd = _unwrap(ckpt, "state_dict", fmt)
        for k, v in sd.items():
            name = _strip(k, "module.")
            if name.startswith("momentum"):
                dropped.append((k, "momentum encoder"))
                continue
            if name.startswith("predictor"):
                dropped.append((k, "predictor"))
                continue
            name = _strip(name, "base_encoder.")
            if re.match(r"head\.\d+\.", name):
                dropped.append((k, "MLP projection head"))
                continue
            kept[name] = v
    elif fmt in ("timm", "peft"):
        sd = ckpt
        if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
            sd = sd["model"]
        elif isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise ConversionError(f"--format {fmt}: the checkpoint is a {type(sd).__name__}, not a state dict")
        kept = dict(sd)
    else:
        raise ConversionError(f"unknown format {fmt!r}")

    out = {}
    for k, v in kept.items():
        if not torch.is_tensor(v):
            dropped.append((k, f"not a tensor ({type(v).__name__})"))
        elif not v.is_floating_point():
            dropped.append((k, f"non-floating dtype {v.dtype}"))
        elif k in out:
            raise ConversionError(f"two input keys map to '{k}'")
        else:
            out[k] = v.detach().to(torch.float32).contiguous()
    # A PEFT checkpoint may hold the method's tensors alone (SCT saves nothing else).
    missing = [] if fmt == "peft" else [r for r in REQUIRED if r not in out]
    if missing:
        raise ConversionError(f"--format {fmt}: result lacks {', '.join(missing)} ({len(out)} tensors otherwise)")
    return out, dropped


def convert(fmt, src, dst, trust_pickle=False, log=print):
    ckpt = load_checkpoint(src, trust_pickle, log)
    tensors, dropped = convert_state_dict(ckpt, fmt)
    for k, why in dropped:
        log(f"dropped {k} ({why})")
    size = safetensors_io.save_file({k: v.numpy() for k, v in tensors.items()}, dst)
    log(f"wrote {len(tensors)} tensors ({size} bytes) to {dst}")
    return tensors, dropped


# --------------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------------

def _tiny_encoder(gen, depth=2, d=8, p=4, n=4, classes=None):
    """A small timm-named ViT encoder state dict with random values."""
    def r(*shape):
        return torch.randn(*shape, generator=gen)
    sd = {
        "cls_token": r(1, 1, d),
        "pos_embed": r(1, n + 1, d),
        "patch_embed.proj.weight": r(d, 3, p, p),
        "patch_embed.proj.bias": r(d),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        sd.update({
            b + "norm1.weight": r(d), b + "norm1.bias": r(d),
            b + "attn.qkv.weight": r(3 * d, d), b + "attn.qkv.bias": r(3 * d),
            b + "attn.proj.weight": r(d, d), b + "attn.proj.bias": r(d),
            b + "norm2.weight": r(d), b + "norm2.bias": r(d),
            b + "mlp.fc1.weight": r(4 * d, d), b + "mlp.fc1.bias": r(4 * d),
            b + "mlp.fc2.weight": r(d, 4 * d), b + "mlp.fc2.bias": r(d),
        })
    sd["norm.weight"] = r(d)
    sd["norm.bias"] = r(d)
    if classes:
        sd["head.weight"] = r(classes, d)
        sd["head.bias"] = r(classes)
    return sd


def _check(got, want, label):
    back, meta = safetensors_io.load_file(got)
    assert meta == {"format": "pt"}, (label, meta)
    assert sorted(back) == sorted(want), (label, sorted(set(back) ^ set(want)))
    for k, v in want.items():
        exp = v.to(torch.float32).numpy()
        assert back[k].dtype == np.float32 and back[k].shape == exp.shape, (label, k)
        assert np.array_equal(back[k], exp), (label, k)


def self_test():
    gen = torch.Generator().manual_seed(1234)
    quiet = []
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)

        # --- MAE pretraining layout -------------------------------------------------------
        enc = _tiny_encoder(gen)
        mae = dict(enc)
        mae["mask_token"] = torch.randn(1, 1, 8, generator=gen)
        mae["decoder_embed.weight"] = torch.randn(6, 8, generator=gen)
        mae["decoder_pos_embed"] = torch.randn(1, 5, 6, generator=gen)
        mae["decoder_blocks.0.norm1.weight"] = torch.randn(6, generator=gen)
        mae["decoder_norm.weight"] = torch.randn(6, generator=gen)
        mae["decoder_pred.weight"] = torch.randn(48, 6, generator=gen)
        torch.save({"model": mae}, path("mae.pth"))
        _, dropped = convert("mae", path("mae.pth"), path("mae.safetensors"), log=quiet.append)
        _check(path("mae.safetensors"), enc, "mae")
        assert sorted(k for k, _ in dropped) == sorted(k for k in mae if k not in enc), dropped

        # --- MoCo v3 pretraining layout (DataParallel, base/momentum encoders, predictor) --
        base = _tiny_encoder(gen)
        proj = {"head.0.weight": torch.randn(16, 8, generator=gen), "head.1.weight": torch.randn(16, generator=gen),
                "head.1.bias": torch.randn(16, generator=gen), "head.1.running_mean": torch.randn(16, generator=gen),
                "head.1.num_batches_tracked": torch.tensor(5), "head.3.weight": torch.randn(4, 16, generator=gen)}
        moco = {}
        for k, v in {**base, **proj}.items():
            moco["module.base_encoder." + k] = v
            moco["module.momentum_encoder." + k] = v + 1.0 if v.is_floating_point() else v
        moco["module.predictor.0.weight"] = torch.randn(16, 4, generator=gen)
        moco["module.predictor.3.weight"] = torch.randn(4, 16, generator=gen)
        torch.save({"epoch": 300, "arch": "vit_base", "state_dict": moco,
                    "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}},
                   path("moco.pth.tar"))
        _, dropped = convert("moco-v3", path("moco.pth.tar"), path("moco.safetensors"), log=quiet.append)
        _check(path("moco.safetensors"), base, "moco-v3 pretrain")
        assert len(dropped) == len(moco) - len(base), (len(dropped), len(moco), len(base))

        # --- MoCo v3 linear-eval layout (module.<timm name>, 1000-way Linear head kept) ----
        lin = _tiny_encoder(gen, classes=1000)
        torch.save({"epoch": 90, "arch": "vit_base", "best_acc1": torch.tensor(76.7),
                    "state_dict": {"module." + k: v for k, v in lin.items()}}, path("linear.pth.tar"))
        _, dropped = convert("moco-v3", path("linear.pth.tar"), path("linear.safetensors"), log=quiet.append)
        _check(path("linear.safetensors"), lin, "moco-v3 linear")
        assert dropped == [], dropped

        # --- timm: plain, under model, under state_dict; float16 widened to F32 ------------
        t = _tiny_encoder(gen, classes=10)
        t["patch_embed.proj.weight"] = t["patch_embed.proj.weight"].half()
        for i, wrap in enumerate((lambda s: s, lambda s: {"model": s}, lambda s: {"state_dict": s})):
            torch.save(wrap(t), path(f"timm{i}.pth"))
            _, dropped = convert("timm", path(f"timm{i}.pth"), path(f"timm{i}.safetensors"), log=quiet.append)
            _check(path(f"timm{i}.safetensors"), t, f"timm wrapper {i}")
            assert dropped == []
        assert safetensors_io.load_file(path("timm0.safetensors"))[0]["patch_embed.proj.weight"].dtype == np.float32

        # --- peft: GatedPT's whole model under "model", SCT's trainable tensors alone ----------
        gated = {**{"enc." + k: v for k, v in _tiny_encoder(gen).items()},
                 "enc.prompt_embeddings": torch.randn(1, 3, 8, generator=gen), "enc.gate_logit": torch.randn(1, generator=gen),
                 "enc.temp": torch.randn(2, generator=gen), "head.last_layer.weight": torch.randn(5, 8, generator=gen),
                 "head.last_layer.bias": torch.randn(5, generator=gen)}
        sct = {"blocks.1.sct_attn.adapt_linear.weight": torch.randn(4, 4, generator=gen),
               "blocks.1.sct_attn.adapt_linear.bias": torch.randn(4, generator=gen),
               "head.weight": torch.randn(5, 8, generator=gen), "head.bias": torch.randn(5, generator=gen)}
        for name, ckpt, want in (("gated", {"model": gated}, gated), ("sct", sct, sct)):
            torch.save(ckpt, path(f"{name}.pth"))
            _, dropped = convert("peft", path(f"{name}.pth"), path(f"{name}.safetensors"), log=quiet.append)
            _check(path(f"{name}.safetensors"), want, f"peft {name}")
            assert dropped == [], dropped

        # --- refusals: missing required keys, wrong wrapper; nothing written -----------------
        bad = {k: v for k, v in enc.items() if k not in ("cls_token", "pos_embed")}
        torch.save({"model": bad}, path("bad.pth"))
        for fmt, src, needle in (("mae", "bad.pth", "lacks cls_token, pos_embed"),
                                 ("moco-v3", "bad.pth", "no 'state_dict' entry")):
            try:
                convert(fmt, path(src), path("bad.safetensors"), log=quiet.append)
                raise AssertionError(f"{fmt} on {src} should have failed")
            except ConversionError as e:
                assert needle in str(e), str(e)
            assert not os.path.exists(path("bad.safetensors"))
        rc = main(["--format", "mae", path("bad.pth"), path("bad.safetensors")], _stderr=quiet.append)
        assert rc == 2 and quiet[-1].startswith("error: ") and "\n" not in quiet[-1], (rc, quiet[-1])

        # --- loader policy ----------------------------------------------------------------
        # floats (MoCo's optimizer above) and argparse.Namespace: weights_only=True refuses
        # them in torch 1.13, the allowlist unpickler accepts them
        torch.save({"model": enc, "args": argparse.Namespace(lr=1e-3, model="vit_base")}, path("args.pth"))
        notes = []
        convert("mae", path("args.pth"), path("args.safetensors"), log=notes.append)
        _check(path("args.safetensors"), enc, "argparse.Namespace via allowlist")
        # a global outside the allowlist: refused unless --trust-pickle
        torch.save({"model": enc, "extra": collections.Counter(a=1)}, path("counter.pth"))
        try:
            convert("mae", path("counter.pth"), path("counter.safetensors"), log=quiet.append)
            raise AssertionError("the allowlist unpickler should refuse collections.Counter")
        except ConversionError as e:
            assert "--trust-pickle" in str(e) and "collections.Counter" in str(e), str(e)
        assert not os.path.exists(path("counter.safetensors"))
        convert("mae", path("counter.pth"), path("counter.safetensors"), trust_pickle=True, log=quiet.append)
        _check(path("counter.safetensors"), enc, "trusted pickle")
        # a plain tensor-only file loads with weights_only=True itself (no note printed)
        notes.clear()
        convert("timm", path("timm0.pth"), path("timm0b.safetensors"), log=notes.append)
        assert not any(n.startswith("note:") for n in notes), notes

        leftovers = [f for f in os.listdir(tmp) if f.startswith(".tmp-")]
        assert not leftovers, leftovers
    print("self-test passed")
    return 0


# --------------------------------------------------------------------------------------------

def main(argv=None, _stderr=None):
    ap = argparse.ArgumentParser(
        description="Convert MAE / MoCo v3 / timm PyTorch ViT checkpoints (and PEFT methods' official ones) to F32 safetensors.")
    ap.add_argument("--format", choices=FORMATS, help="layout of INPUT")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="load with weights_only=False (runs pickled code: trusted files only)")
    ap.add_argument("--self-test", action="store_true", help="convert synthetic checkpoints and check the results")
    ap.add_argument("input", nargs="?", metavar="INPUT.pth")
    ap.add_argument("output", nargs="?", metavar="OUTPUT.safetensors")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if not (args.format and args.input and args.output):
        ap.error("--format, INPUT and OUTPUT are required (or use --self-test)")
    try:
        convert(args.format, args.input, args.output, trust_pickle=args.trust_pickle)
    except ConversionError as e:
        msg = "error: " + " ".join(str(e).split())
        (_stderr or (lambda m: print(m, file=sys.stderr)))(msg)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
