"""Token states of a frozen lower encoder, computed once and reused.

When training freezes the embeddings and the lower ``k`` layers of a large encoder
(``freeze_layers: k`` with ``cache_frozen: true``), their output for an input never changes. Each
input's states are computed once, in eval mode, and kept in memory (float16) and in a file under
``runs/frozen_states/`` named by a hash of the frozen weights and ``k``, so later epochs, the other
folds of a cross-validation and later runs over the same encoder skip that part of the forward
pass. An input is keyed by the hash of its token ids and segment ids, so the file serves any split.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .devices import module_device
from .model import MultiHeadClassifier, fixed_shape_batches
from .progress import NullHook, ProgressHook
from .writers.atomic import atomic_open

log = logging.getLogger(__name__)


def frozen_digest(module: MultiHeadClassifier, layers: int) -> str:
    """A hash of the weights the lower ``layers`` layers' states depend on, and of ``layers``."""
    encoder = module.encoder
    parts = [encoder.embeddings, *encoder.encoder.layer[:layers]]
    bias = getattr(encoder.encoder, "relative_attention_bias", None)
    digest = hashlib.sha256(f"{type(encoder).__name__}:{layers}".encode())
    for part in [*parts, *([bias] if bias is not None else [])]:
        for name, tensor in part.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _key(ids: Sequence[int], types: Sequence[int]) -> str:
    return hashlib.sha1(np.asarray(ids, np.int32).tobytes() + b"|" + np.asarray(types, np.int8).tobytes()).hexdigest()


class FrozenStates:
    """The lower part's token states of every input in ``enc`` (tokenized, unpadded), in order."""

    def __init__(self, module: MultiHeadClassifier, enc: dict[str, list], layers: int, *,
                 store: Path | None = None, pad_id: int = 0, batch_size: int = 64,
                 hook: ProgressHook | None = None) -> None:
        self.layers = layers
        self.lengths = [len(ids) for ids in enc["input_ids"]]
        types = enc.get("token_type_ids") or [[0] * n for n in self.lengths]
        keys = [_key(i, t) for i, t in zip(enc["input_ids"], types)]
        self.path = store / f"{frozen_digest(module, layers)}.pt" if store is not None else None
        known: dict[str, torch.Tensor] = {}
        if self.path is not None and self.path.is_file():
            known = torch.load(self.path, map_location="cpu", weights_only=True)
        missing = list({k: j for j, k in enumerate(keys) if k not in known}.values())  # one per distinct input
        if missing:
            self._compute(module, enc, types, missing, keys, known, pad_id, batch_size, hook or NullHook())
            if self.path is not None:
                with atomic_open(self.path, "wb") as handle:
                    torch.save(known, handle)
                log.info("frozen states: %d inputs computed, %d in %s", len(missing), len(known), self.path)
        self.states = [known[k] for k in keys]

    def _compute(self, module, enc, types, rows, keys, known, pad_id, batch_size, hook) -> None:
        device = module_device(module)
        was_training = module.training
        module.eval()
        hook.start("frozen states", len(rows), unit="input")
        with torch.inference_mode():
            for length, _, chunk in fixed_shape_batches([self.lengths[j] for j in rows], 10 ** 6, batch_size):
                picked = [rows[i] for i in chunk]
                ids = torch.full((len(picked), length), pad_id, dtype=torch.long)
                mask = torch.zeros((len(picked), length), dtype=torch.long)
                segs = torch.zeros((len(picked), length), dtype=torch.long)
                for r, j in enumerate(picked):
                    n = self.lengths[j]
                    ids[r, :n] = torch.tensor(enc["input_ids"][j])
                    mask[r, :n] = 1
                    segs[r, :n] = torch.tensor(types[j])
                states = module.lower_states(ids.to(device), mask.to(device), segs.to(device), layers=self.layers)
                for r, j in enumerate(picked):
                    known[keys[j]] = states[r, :self.lengths[j]].to("cpu", torch.float16).clone()
                hook.advance("frozen states", len(picked))
        hook.finish("frozen states")
        module.train(was_training)

    def batch(self, rows: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The states of ``rows``, right-padded with zeros to the longest (as the tokenizer pads)."""
        length = max(self.lengths[i] for i in rows)
        hidden = self.states[rows[0]].shape[-1]
        out = torch.zeros((len(rows), length, hidden), dtype=torch.float32)
        for r, i in enumerate(rows):
            out[r, :self.lengths[i]] = self.states[i].float()
        return out.to(device)
