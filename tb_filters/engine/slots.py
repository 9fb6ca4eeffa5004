"""Slot preferences: which tokens each slot of a filter wants, and which it rejects.

For a conv fed by the embedding (through padding, cropping and per-position
layers only), slot j of filter f adds dot(kernel[j, :, f], v(t)) to the
pre-activation when it holds token t, v(t) being the conv's input vector for
t (the embedding row after the per-position layers). That is the token's
score there. Per filter and kernel tap, the top-N tokens by score (raises)
and the bottom-N (lowers), among the tokens occurring at least `min_count`
times in the interpreted data (counted in the same pass), or every token id
of the embedding when `min_count` is 0. The padding id is left out: it is
not a word. Ties go to the lower token id.

The vocabulary may hold millions of tokens: scores are computed a chunk of
tokens at a time (ids ascending) and each chunk's n best per row taken by
`tf.math.top_k`, which breaks ties by the lower index, that is the lower id:
the chunk's exact n best. The global n best are among the chunks' ones,
merged on an integer key that orders (score, token id) totally.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tb_filters.engine import vocab as vocab_lib
from tb_filters.engine.chains import Chain
from tb_filters.engine.contributions import conv_input_vectors
from tb_filters.format.report import SlotPreference, TokenScore

_TOKEN_CHUNK = 65_536  # bounds the [taps * filters, chunk] score block (50 MB at 192 rows)


def candidate_ids(chain: Chain, vocabulary: vocab_lib.Vocabulary, counts: np.ndarray, min_count: int) -> np.ndarray:
    """Token ids considered: often enough in the data (or all for min_count 0), never padding."""
    size = int(chain.embedding.input_dim)
    ids = np.arange(size) if min_count == 0 else np.flatnonzero(counts[:size] >= min_count)
    if vocabulary.padding_id is not None:
        ids = ids[ids != vocabulary.padding_id]
    return ids


def slot_preferences(
    chain: Chain, vocabulary: vocab_lib.Vocabulary, counts: np.ndarray, top_n: int, min_count: int
) -> list[tuple[SlotPreference, ...]]:
    """Per filter, one SlotPreference per kernel tap."""
    kernel = chain.conv.kernel.numpy().astype(np.float32)  # [taps, channels, F]
    taps, channels, filters = kernel.shape
    weights = kernel.transpose(0, 2, 1).reshape(taps * filters, channels)  # row = tap * F + f
    ids = candidate_ids(chain, vocabulary, counts, min_count)
    raises = _Best(taps * filters, top_n, highest=True)
    lowers = _Best(taps * filters, top_n, highest=False)
    for start in range(0, ids.size, _TOKEN_CHUNK):
        chunk = ids[start: start + _TOKEN_CHUNK]
        scores = tf.linalg.matmul(weights, conv_input_vectors(chain, chunk), transpose_b=True)  # [taps * F, chunk]
        raises.add(chunk, scores)
        lowers.add(chunk, scores)
    dilation = int(chain.conv.dilation_rate[0])
    strings: dict[int, str] = {}

    def entries(best: _Best, row: int) -> tuple[TokenScore, ...]:
        return tuple(
            TokenScore(token=strings.setdefault(t, vocabulary.token(t)), id=t, score=s, occurrences=int(counts[t]))
            for t, s in best.ranked(row)
        )

    return [
        tuple(
            SlotPreference(slot=j * dilation, raises=entries(raises, j * filters + f), lowers=entries(lowers, j * filters + f))
            for j in range(taps)
        )
        for f in range(filters)
    ]


class _Best:
    """The n best (score, token id) per row, over chunks of columns: highest
    scores (ties: lower id) or lowest scores (ties: lower id).

    Each chunk's n best per row join the running best in one small sort on the
    exact key."""

    def __init__(self, rows: int, n: int, highest: bool):
        self.rows, self.n, self.highest = rows, n, highest
        self.row = np.zeros(0, np.int64)
        self.ids = np.zeros(0, np.int64)
        self.scores = np.zeros(0, np.float32)

    def _key(self, scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Smaller is better: the score's order bits above the id's."""
        bits = (scores + np.float32(0.0)).view(np.int32).astype(np.int64)  # + 0.0 turns -0.0 into 0.0
        order = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # ascending with the float
        if self.highest:
            order = -order - 1
        return (order << 32) | ids

    def add(self, ids: np.ndarray, scores: tf.Tensor) -> None:
        """`scores` [rows, len(ids)] float32, columns in ascending id order."""
        n = min(self.n, len(ids))
        if n == 0:
            return
        best, columns = tf.math.top_k(scores if self.highest else -scores, k=n, sorted=False)
        best, columns = best.numpy(), columns.numpy()
        row = np.concatenate([self.row, np.repeat(np.arange(self.rows), n)])
        token = np.concatenate([self.ids, ids[columns.ravel()].astype(np.int64)])
        score = np.concatenate([self.scores, (best if self.highest else -best).ravel().astype(np.float32)])
        order = np.lexsort((self._key(score, token), row))
        row, token, score = row[order], token[order], score[order]
        rank = np.arange(len(row)) - np.searchsorted(row, row)
        keep = rank < self.n
        self.row, self.ids, self.scores = row[keep], token[keep], score[keep]

    def ranked(self, row: int) -> list[tuple[int, float]]:
        start, stop = np.searchsorted(self.row, [row, row + 1])
        return list(zip(self.ids[start:stop].tolist(), self.scores[start:stop].tolist()))
