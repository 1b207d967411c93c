"""makeData.ts's examples, read with numpy and put into batches for train.py.

Two layouts. Padded: one example per row, rows of similar length together (any attention
implementation). Packed: examples side by side in rows of a fixed length, each token carrying its
example's index in the row (`doc`), so the attention mask keeps them apart; the shapes never
change (torch.compile builds one graph) and almost no token is padding.
"""
import glob
import json
import os

import numpy as np

PAD_BRANCH = 65535
PAD_DOC = 65535
FIELDS = {"tokens": ".tokens.u16", "positions": ".positions.u16", "branches": ".branches.u16", "weights": ".weights.u8", "isolated": ".isolated.u8"}


class Parts:
    """The data folder's finished parts (a part's .json is written last), read as they appear: the
    data generator can go on writing new rounds (sub-folders) while the model trains."""

    def __init__(self, folder):
        self.folder = folder
        self.read = set()

    def new_examples(self):
        """Each example as (arrays, start, length, trunk length), from parts not read before."""
        found = []
        metas = sorted(glob.glob(os.path.join(self.folder, "part-*.json")) + glob.glob(os.path.join(self.folder, "*", "part-*.json")))
        for meta in metas:
            if meta in self.read:
                continue
            self.read.add(meta)
            base = meta[: -len(".json")]
            lengths = json.load(open(meta))["lengths"]
            arrays = {k: np.fromfile(base + suffix, dtype=np.uint16 if suffix.endswith("u16") else np.uint8) for k, suffix in FIELDS.items()}
            starts = np.cumsum([0] + lengths[:-1]) if lengths else []
            trunk = np.add.reduceat((arrays["branches"] == 0).astype(np.int64), starts) if lengths else []
            for s, n, t in zip(starts, lengths, trunk):
                found.append((arrays, int(s), n, int(t)))
            assert sum(lengths) == len(arrays["tokens"]), f"{base}: lengths do not add up"
        return found


def padded(pool, batch_tokens, rand, shuffle):
    """Examples of similar length together, each batch at most batch_tokens (padded)."""
    idx = rand.permutation(len(pool)) if shuffle else np.arange(len(pool))
    for chunk in range(0, len(idx), 512):
        group = sorted(idx[chunk : chunk + 512], key=lambda i: pool[i][2])
        batch = []
        for i in group:
            if batch and (len(batch) + 1) * pool[i][2] > batch_tokens:
                yield batch
                batch = []
            batch.append([pool[i]])
        if batch:
            yield batch


def packed(pool, rows, row_len, rand, shuffle, waiting_max=256):
    """Batches of `rows` rows of row_len tokens, filled longest first from a window of waiting
    examples (first fit decreasing): every example once per pass, rows 95%+ full."""
    idx = iter(rand.permutation(len(pool)) if shuffle else range(len(pool)))
    waiting = []
    exhausted = False
    while True:
        while not exhausted and len(waiting) < waiting_max:
            i = next(idx, None)
            if i is None:
                exhausted = True
            else:
                waiting.append(pool[i])
        if not waiting:
            return
        waiting.sort(key=lambda e: -e[2])
        free = [row_len] * rows
        batch = [[] for _ in range(rows)]
        left = []
        for e in waiting:
            assert e[2] <= row_len, f"an example of {e[2]} tokens is longer than a row ({row_len})"
            r = next((r for r in range(rows) if free[r] >= e[2]), None)
            if r is None:
                left.append(e)
            else:
                batch[r].append(e)
                free[r] -= e[2]
        waiting = left
        yield batch


def to_arrays(batch, length=None):
    """A batch (rows of examples) as int64 arrays [rows, L], with each token's example index (`doc`).
    Padding is its own example on branch 0: it sees only itself and earlier padding, and weighs nothing."""
    L = length or max(sum(e[2] for e in row) for row in batch)
    out = {k: np.zeros((len(batch), L), dtype=np.int64) for k in (*FIELDS, "doc")}
    out["doc"][:] = PAD_DOC
    for r, row in enumerate(batch):
        at = 0
        for d, (arrays, s, n, _) in enumerate(row):
            for k in FIELDS:
                out[k][r, at : at + n] = arrays[k][s : s + n]
            out["doc"][r, at : at + n] = d
            at += n
    return out
