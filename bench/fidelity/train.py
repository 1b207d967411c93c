"""Trains the answer-fidelity model: a small llama-architecture model on makeData.ts's examples.

python3 bench/fidelity/train.py --data DIR --out DIR [--minutes 6] [--seed 1]

The model is exactly what llama.cpp's "llama" architecture computes, so the weights go into GGUF
unchanged (writeWeights.ts): RMS norm (eps 1e-5), rotary positions on adjacent pairs (llama.cpp's
"normal" rope, base 10000), grouped-query attention, SwiGLU, output tied to the token embedding.
Each example is a tree flattened into one sequence (examples.ts): a token sees earlier tokens of
its own branch and, unless its branch is isolated, the trunk before it; positions are given. On a
GPU, examples are packed side by side into fixed rows and attention is FlexAttention's, which
skips the masked blocks (batches.py; checked against the dense mask before training). The
loss counts replies fully and the codebase's own text a little (it teaches the model to copy).
The learning rate follows wall time, so a run of any length ends its schedule on time.
Writes weights.f16 (+ weights.json, the tensors' names, shapes and offsets) and train.log.
"""
import argparse
import contextlib
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from batches import Parts, packed, padded, to_arrays

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--out", required=True)
p.add_argument("--minutes", type=float, default=6.0)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--layers", type=int, default=6)
p.add_argument("--embd", type=int, default=256)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--kv-heads", type=int, default=4)
p.add_argument("--ffn", type=int, default=768)
p.add_argument("--vocab", type=int, default=4096)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--batch-tokens", type=int, default=65536)
p.add_argument("--code-weight", type=float, default=0.1)
p.add_argument("--lookup-weight", type=float, default=2.0)
p.add_argument("--verdict-weight", type=float, default=2.0, help="a margin's yes or no (weight classes 4 and 5)")
p.add_argument("--curriculum", type=float, default=0.0, help="the share of the run over which longer codebases are let in")
p.add_argument("--start-trunk", type=int, default=1200, help="the longest codebase (trunk tokens) read at the start of the curriculum")
p.add_argument("--warmup", type=int, default=200, help="steps of linear learning-rate warmup (fewer for a short continued run)")
p.add_argument("--eval-every", type=float, default=30.0, help="seconds between validation reports")
p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke tests)")
p.add_argument("--init", help="a directory with an earlier run's weights.f16 + weights.json to continue from")
p.add_argument("--attention", choices=("auto", "flex", "dense"), default="auto", help="flex: packed rows and FlexAttention (compiled; the default on a GPU that has it)")
p.add_argument("--row", type=int, default=8192, help="packed rows' length in tokens (at least the longest example)")
args = p.parse_args()

torch.manual_seed(args.seed)
rand = np.random.default_rng(args.seed)
dev = "cuda" if torch.cuda.is_available() else "cpu"
os.makedirs(args.out, exist_ok=True)
log_file = open(os.path.join(args.out, "train.log"), "a")


def log(**row):
    line = json.dumps(row)
    print(line, flush=True)
    log_file.write(line + "\n")
    log_file.flush()


# ---- data ----
parts = Parts(args.data)
examples = parts.new_examples()
order = rand.permutation(len(examples))
held = max(8, min(200, len(examples) // 50))  # an eval every few seconds of training must stay cheap
valid = [examples[i] for i in order[:held]]
train = [examples[i] for i in order[held:]]
log(event="data", train=len(train), valid=len(valid), tokens=int(sum(e[2] for e in train)))

try:
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
except ImportError:
    BlockMask = None
FLEX = args.attention == "flex" or (args.attention == "auto" and dev == "cuda" and BlockMask is not None)
# Inductor's CPU template for FlexAttention failed here (torch 2.14.1: "too many values to unpack");
# on the CPU, flex runs only to test this path, so it goes through AOT autograd without inductor.
BACKEND = "inductor" if dev == "cuda" else "aot_eager"
if FLEX:
    flex = torch.compile(flex_attention, dynamic=False, backend=BACKEND)


def batches(pool, shuffle):
    if FLEX:
        return packed(pool, max(1, args.batch_tokens // args.row), args.row, rand, shuffle)
    return padded(pool, args.batch_tokens, rand, shuffle)


def tensors(batch):
    out = to_arrays(batch, args.row if FLEX else None)
    return {k: torch.from_numpy(v).to(dev, non_blocking=True) for k, v in out.items()}


# ---- model ----
class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)).type_as(x) * self.weight


def rope(x, pos, base=10000.0):
    """llama.cpp's normal rope: pairs (2i, 2i+1) turned by pos * base^(-2i/d)."""
    d = x.shape[-1]
    inv = base ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    ang = pos.float()[:, None, :, None] * inv  # B,1,L,d/2
    cos, sin = ang.cos(), ang.sin()
    x2 = x.float().view(*x.shape[:-1], d // 2, 2)
    a, b = x2[..., 0], x2[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).view_as(x).type_as(x)


HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        d, h, kv = args.embd, args.heads, args.kv_heads
        self.hd = d // h
        self.attn_norm, self.ffn_norm = RMSNorm(d), RMSNorm(d)
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, kv * self.hd, bias=False)
        self.wv = nn.Linear(d, kv * self.hd, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.gate = nn.Linear(d, args.ffn, bias=False)
        self.up = nn.Linear(d, args.ffn, bias=False)
        self.down = nn.Linear(args.ffn, d, bias=False)

    def forward(self, x, pos, mask):
        B, L, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, L, args.heads, self.hd).transpose(1, 2)
        k = self.wk(h).view(B, L, args.kv_heads, self.hd).transpose(1, 2)
        v = self.wv(h).view(B, L, args.kv_heads, self.hd).transpose(1, 2)
        q, k = rope(q, pos), rope(k, pos)
        if args.kv_heads != args.heads:
            k = k.repeat_interleave(args.heads // args.kv_heads, dim=1)
            v = v.repeat_interleave(args.heads // args.kv_heads, dim=1)
        if FLEX and isinstance(mask, BlockMask):
            a = flex(q, k, v, block_mask=mask)
        elif HAS_SDPA:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None])
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            a = s.masked_fill(~mask[:, None], float("-inf")).softmax(-1) @ v
        x = x + self.wo(a.transpose(1, 2).reshape(B, L, -1))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(args.vocab, args.embd)
        self.blocks = nn.ModuleList(Block() for _ in range(args.layers))
        self.norm = RMSNorm(args.embd)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        for b in self.blocks:  # residual branches start small, as in GPT-2
            nn.init.normal_(b.wo.weight, std=0.02 / math.sqrt(2 * args.layers))
            nn.init.normal_(b.down.weight, std=0.02 / math.sqrt(2 * args.layers))

    def forward(self, tokens, pos, mask):
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x, pos, mask)
        return self.norm(x) @ self.embed.weight.t()


def tree_mask(doc, br, iso):
    """A token sees earlier tokens of its own example and branch and, unless isolated, its example's trunk (branch 0)."""
    L = br.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool, device=br.device).tril()
    same = br[:, :, None] == br[:, None, :]
    trunk = (br[:, None, :] == 0) & (iso[:, :, None] == 0)
    return causal & (doc[:, :, None] == doc[:, None, :]) & (same | trunk)


def block_mask(doc, br, iso):
    """tree_mask as FlexAttention's block mask: blocks nothing sees are never computed. (_compile:
    torch 2.11 warns that it is no longer needed; without it earlier versions build the whole
    8 x 8192 x 8192 mask in memory first.)"""
    def visible(b, h, q, kv):
        return (q >= kv) & (doc[b, q] == doc[b, kv]) & ((br[b, q] == br[b, kv]) | ((br[b, kv] == 0) & (iso[b, q] == 0)))
    return create_block_mask(visible, doc.shape[0], None, doc.shape[1], doc.shape[1], device=doc.device, _compile=True)


def loss_of(model, t, counted=False, dense=False):
    m = (block_mask if FLEX and not dense else tree_mask)(t["doc"], t["branches"], t["isolated"])
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16) if dev == "cuda" else contextlib.nullcontext():
        logits = model(t["tokens"], t["positions"], m)
    # Token i predicts token i+1 where both are on one branch of one example (a branch's first token follows the trunk elsewhere).
    same = (t["branches"][:, 1:] == t["branches"][:, :-1]) & (t["doc"][:, 1:] == t["doc"][:, :-1])
    w_class = t["weights"][:, 1:]
    w = torch.where(w_class >= 4, args.verdict_weight, torch.where(w_class == 3, args.lookup_weight,
        torch.where(w_class == 2, 1.0, torch.where(w_class == 1, args.code_weight, 0.0)))) * same
    ce = F.cross_entropy(logits[:, :-1].float().reshape(-1, args.vocab), t["tokens"][:, 1:].reshape(-1), reduction="none").view_as(w)
    loss = (ce * w).sum() / w.sum().clamp(min=1e-6)
    if not counted:  # the counts below wait for the GPU: only evaluations ask for them
        return loss, None
    reply = (w_class >= 2) & same
    right = logits[:, :-1].argmax(-1) == t["tokens"][:, 1:]
    counts = [ce[reply].sum().item(), int(reply.sum().item()), int((right & reply).sum().item())]
    # Lookups, then verdicts yes and no by their first token (the decision; "es" after "y" is not).
    for c in (3, 4, 5):
        these = (w_class == c) & same & ((t["weights"][:, :-1] != c) if c >= 4 else True)
        counts += [int(these.sum().item()), int((right & these).sum().item())]
    return loss, counts


model = Model().to(dev)
params = sum(p.numel() for p in model.parameters())
log(event="model", params=params, device=dev, sdpa=HAS_SDPA, flex=FLEX, torch=torch.__version__, args=vars(args))
net = torch.compile(model, dynamic=False, backend=BACKEND) if FLEX else model
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
other = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))


def evaluate():
    """Over the validation replies: cross-entropy, token accuracy, and the accuracy of their looked-up tokens and verdicts alone."""
    model.eval()
    total = np.zeros(9)
    with torch.no_grad():
        for b in batches(valid, False):
            _, counts = loss_of(net, tensors(b), counted=True)
            total += counts
    model.train()
    ce_sum, n, right, lookups, lookups_right, yes, yes_right, no, no_right = total
    return {"valid_reply_ce": round(ce_sum / max(n, 1), 4), "valid_reply_token_acc": round(right / max(n, 1), 4), "valid_lookup_acc": round(lookups_right / max(lookups, 1), 4),
            "valid_yes_recall": round(yes_right / max(yes, 1), 4), "valid_no_acc": round(no_right / max(no, 1), 4)}


GGUF_NAMES = {"embed.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
PER_BLOCK = {"attn_norm.weight": "attn_norm", "ffn_norm.weight": "ffn_norm", "wq.weight": "attn_q", "wk.weight": "attn_k",
             "wv.weight": "attn_v", "wo.weight": "attn_output", "gate.weight": "ffn_gate", "up.weight": "ffn_up", "down.weight": "ffn_down"}


def gguf_name(name):
    if name.startswith("blocks."):
        _, i, rest = name.split(".", 2)
        return f"blk.{i}.{PER_BLOCK[rest]}.weight"
    return GGUF_NAMES[name]


def load(directory):
    index = json.load(open(os.path.join(directory, "weights.json")))
    raw = np.fromfile(os.path.join(directory, "weights.f16"), dtype=np.float16)
    by_name = {t["name"]: t for t in index["tensors"]}
    state = {}
    for name, t in model.state_dict().items():
        e = by_name[gguf_name(name)]
        n = int(np.prod(e["shape"]))
        state[name] = torch.from_numpy(raw[e["offset"] // 2 : e["offset"] // 2 + n].astype(np.float32).reshape(e["shape"]))
    model.load_state_dict(state)


def probe():
    """Greedy tokens after a validation prefix, in float32: writeWeights.ts --check asks llama.cpp for the same."""
    arrays, s, n, _ = valid[0]
    prefix = [int(t) for t in arrays["tokens"][s : s + min(n, 300)][arrays["branches"][s : s + min(n, 300)] == 0]]
    tokens = list(prefix)
    kept = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        for v in model.state_dict().values():  # the weights as saved (f16), as llama.cpp will hold them
            v.copy_(v.half().float())
        for i in range(16):
            t = torch.tensor([tokens], device=dev)
            pos = torch.arange(len(tokens), device=dev)[None]
            mask = torch.ones(len(tokens), len(tokens), dtype=torch.bool, device=dev).tril()[None]
            logits = model(t, pos, mask)[0, -1].float()
            if i == 0:  # the top candidates' probabilities relative to each other: sensitive even before training
                top = logits.topk(8).indices
                first = {"candidates": [int(c) for c in top], "probs": [float(x) for x in logits[top].softmax(-1)]}
            tokens.append(int(logits.argmax()))
        model.load_state_dict(kept)
    model.train()
    return {"prefix": prefix, "greedy": tokens[len(prefix):], **first}


def save():
    """fp16 weights with their GGUF names, for writeWeights.ts."""
    index, offset = [], 0
    with open(os.path.join(args.out, "weights.f16"), "wb") as f:
        for name, t in model.state_dict().items():
            gguf = gguf_name(name)
            data = t.detach().to("cpu", torch.float16).contiguous().numpy()
            f.write(data.tobytes())
            index.append({"name": gguf, "shape": list(data.shape), "offset": offset})
            offset += data.nbytes
    shape = {k: getattr(args, k) for k in ("layers", "embd", "heads", "kv_heads", "ffn", "vocab")}
    json.dump({"shape": shape, "tensors": index, "seed": args.seed, "probe": probe()}, open(os.path.join(args.out, "weights.json"), "w"))


def without_flex(error):
    """A FlexAttention that fails to compile or to match costs the run its speed, not its minutes on the GPU."""
    global FLEX, net
    log(event="flex-failed", error=repr(error)[:800])
    FLEX, net = False, model


def check_flex():
    """The packed, compiled, block-sparse loss must be the dense mask's loss on the same rows."""
    try:
        t = tensors(next(batches(valid, False)))
        with torch.no_grad():
            fast, _ = loss_of(net, t)
            slow, _ = loss_of(model, t, dense=True)
        log(event="flex-check", flex_loss=round(fast.item(), 5), dense_loss=round(slow.item(), 5))
        assert abs(fast.item() - slow.item()) <= 0.02 * abs(slow.item()) + 1e-3, "FlexAttention's loss differs from the dense mask's"
    except Exception as e:
        without_flex(e)


if args.init:
    load(args.init)
if FLEX:
    check_flex()
if args.init:
    log(event="eval", step=0, seconds=0, tokens=0, **evaluate())  # where the continued run starts from, on this run's data
budget = args.minutes * 60
started = time.time()
last_eval = started
step = seen = 0
warmup = args.warmup
done = False
def eligible(frac):
    """The training examples the curriculum lets in at this point of the run."""
    if args.curriculum <= 0 or frac >= args.curriculum:
        return train
    longest = max(e[3] for e in train)
    limit = args.start_trunk + (longest - args.start_trunk) * frac / args.curriculum
    return [e for e in train if e[3] <= limit] or train


while not done:
    grown = parts.new_examples()  # rounds the data generator finished since the last pass
    if grown:
        train += grown
        log(event="data", train=len(train), added=len(grown), tokens=int(sum(e[2] for e in grown)))
    frac = (time.time() - started) / budget if budget else 1
    pool = eligible(frac)
    pool_at = time.time()
    for b in batches(pool, True):
        frac = (time.time() - started) / budget if budget else 1
        if frac >= 1 or (args.max_steps and step >= args.max_steps):
            done = True
            break
        if pool is not train and time.time() - pool_at > 15:
            break  # let the curriculum's next, longer codebases in
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        t = tensors(b)
        try:
            loss, _ = loss_of(net, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        except Exception as e:  # the first step compiles the backward pass
            if step > 0 or not FLEX:
                raise
            without_flex(e)
            break
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += int(sum(e[2] for row in b for e in row))
        if time.time() - last_eval >= args.eval_every:
            last_eval = time.time()
            el = time.time() - started
            log(event="eval", step=step, seconds=round(el, 1), tokens=seen, tokens_per_s=round(seen / el), loss=round(loss.item(), 4), lr=lr, pool=len(pool), **evaluate())
            save()
el = time.time() - started
log(event="done", step=step, seconds=round(el, 1), tokens=seen, tokens_per_s=round(seen / max(el, 1e-6)), **evaluate())
save()
