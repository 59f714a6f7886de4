"""Sampling from a character-level RNN language model (lesson 12): temperature and a prefix.

The model is the lesson's: an embedding, a tanh RNN and a time-distributed linear layer, its
weights in a dict ``params`` with the keys of :data:`PARAM_KEYS` (``W_embed`` (V, D), ``Wx``
(D, H), ``Wh`` (H, H), ``b`` (H,), ``W_out`` (H, V), ``b_out`` (V,)) and its characters in a
:class:`nnlib.text.CharVocab`. The explorer draws, for the prefix typed so far, the
distribution of the next character at the chosen temperature (left), and names sampled from
the model that start with the prefix (right), the ones that are not in the training data in
bold.
"""

from __future__ import annotations

from collections.abc import Iterable

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure, SubFigure

from nncourse.widgets import Explorer, make_explorer, one_blas_thread
from nnlib.rnn import embedding_forward, rnn_step_forward
from nnlib.text import CharVocab

__all__ = [
    "PARAM_KEYS",
    "clean_prefix",
    "next_char_probs",
    "sample_names",
    "draw_sampling",
    "sampling_explorer",
]

PARAM_KEYS = ("W_embed", "Wx", "Wh", "b", "W_out", "b_out")
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.1, 2.0
NUM_NAMES = 12
MAX_LEN = 16


def _check(params: dict[str, np.ndarray], vocab: CharVocab, fn: str) -> None:
    if not isinstance(vocab, CharVocab):
        raise ValueError(f"{fn}: vocab must be a CharVocab, got {type(vocab).__name__}")
    missing = [k for k in PARAM_KEYS if k not in params]
    if missing:
        raise ValueError(f"{fn}: params lacks {missing}; expected the keys {list(PARAM_KEYS)}")
    V = len(vocab)
    if params["W_embed"].shape[0] != V or params["W_out"].shape[1] != V:
        raise ValueError(
            f"{fn}: W_embed {params['W_embed'].shape} and W_out {params['W_out'].shape} do not "
            f"match the vocabulary's V = {V}"
        )


def _temperature(temperature: float, fn: str) -> float:
    t = float(temperature)
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"{fn}: temperature must be a positive number, got {temperature!r}")
    return t


def clean_prefix(prefix: str, vocab: CharVocab) -> tuple[str, str]:
    """(the prefix lowercased with the characters the vocabulary lacks removed, those removed)."""
    text = str(prefix).strip().lower()
    kept = "".join(c for c in text if c in vocab.stoi and vocab.stoi[c] > vocab.boundary_index)
    dropped = "".join(sorted(set(c for c in text if c not in kept)))
    return kept, dropped


def _run(params: dict[str, np.ndarray], idx: np.ndarray, h: np.ndarray | None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Feed indices idx (N, L) one step at a time from state h -> (last state, last logits)."""
    emb = embedding_forward(idx, params["W_embed"])[0]
    N = idx.shape[0]
    if h is None:
        h = np.zeros((N, params["Wh"].shape[0]))
    for t in range(idx.shape[1]):
        h = rnn_step_forward(emb[:, t], h, params["Wx"], params["Wh"], params["b"])[0]
    return h, h @ params["W_out"] + params["b_out"]


def _probs(logits: np.ndarray, temperature: float, pad: int) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p[..., pad] = 0.0  # padding is never a character
    return p / p.sum(axis=-1, keepdims=True)


def next_char_probs(params: dict[str, np.ndarray], vocab: CharVocab, prefix: str = "",
                    temperature: float = 1.0) -> np.ndarray:
    """The distribution of the character after ``prefix`` (a name's first characters):
    softmax(logits / temperature) after feeding the boundary then the prefix.

    Shapes: -> (V,), 0 at the pad index, summing to 1; index ``vocab.boundary_index`` is the
    probability that the name ends here. Characters the vocabulary lacks are ignored.
    """
    fn = "next_char_probs"
    _check(params, vocab, fn)
    t = _temperature(temperature, fn)
    kept, _ = clean_prefix(prefix, vocab)
    idx = np.concatenate([[vocab.boundary_index], vocab.encode(kept)])[None, :]
    with one_blas_thread():
        _, logits = _run(params, idx, None)
    return _probs(logits[0], t, vocab.pad_index)


def sample_names(params: dict[str, np.ndarray], vocab: CharVocab, *, prefix: str = "",
                 temperature: float = 1.0, num: int = NUM_NAMES, rng: np.random.Generator,
                 max_len: int = MAX_LEN) -> list[str]:
    """``num`` names drawn from the model, each starting with ``prefix``: one character at a
    time from softmax(logits / temperature), until the boundary is drawn or the name has
    ``max_len`` characters. All ``num`` names are drawn together, one ``rng.random(num)`` per
    step (inverse-CDF sampling), so the same generator state gives the same names."""
    fn = "sample_names"
    _check(params, vocab, fn)
    t = _temperature(temperature, fn)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{fn}: rng must be a numpy Generator, got {type(rng).__name__}")
    kept, _ = clean_prefix(prefix, vocab)
    if num < 1 or max_len < 1:
        raise ValueError(f"{fn}: num and max_len must be >= 1, got {num} and {max_len}")
    start = np.concatenate([[vocab.boundary_index], vocab.encode(kept)])
    idx = np.tile(start, (num, 1))
    out = [list(kept) for _ in range(num)]
    done = np.zeros(num, dtype=bool)
    with one_blas_thread():
        h, logits = _run(params, idx, None)
        for _ in range(max(max_len - len(kept), 0)):
            p = _probs(logits, t, vocab.pad_index)
            u = rng.random(num)
            nxt = np.minimum((np.cumsum(p, axis=1) < u[:, None]).sum(axis=1), len(vocab) - 1)
            for n in np.flatnonzero(~done):
                if nxt[n] == vocab.boundary_index:
                    done[n] = True
                else:
                    out[n].append(vocab.itos[int(nxt[n])])
            if done.all():
                break
            h, logits = _run(params, nxt[:, None], h)
    return ["".join(chars) for chars in out]


def draw_sampling(fig: Figure | SubFigure, params: dict[str, np.ndarray], vocab: CharVocab, *,
                  prefix: str = "", temperature: float = 1.0, seed: int = 0,
                  known: Iterable[str] = ()) -> list[str]:
    """Left: a bar per character, the probability that it comes next after ``prefix``
    ("end" for the boundary); right: ``NUM_NAMES`` names sampled with ``seed``, the ones not in
    ``known`` in bold. Returns the sampled names."""
    kept, dropped = clean_prefix(prefix, vocab)
    p = next_char_probs(params, vocab, kept, temperature)
    names = sample_names(params, vocab, prefix=kept, temperature=temperature,
                         rng=np.random.default_rng(seed))
    known = set(known)
    if isinstance(fig, Figure) and fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")  # fixed margins: constrained layout costs a redraw
    ax, ax_text = fig.subplots(1, 2, width_ratios=[2.6, 1],
                               gridspec_kw=dict(left=0.07, right=0.99, bottom=0.14, top=0.86,
                                                wspace=0.08))
    labels = ["end" if i == vocab.boundary_index else vocab.itos[i]
              for i in range(vocab.boundary_index, len(vocab))]
    shown = p[vocab.boundary_index:]
    colors = ["tab:red" if i == 0 else "tab:blue" for i in range(len(labels))]
    ax.bar(np.arange(len(labels)), shown, color=colors)
    ax.set_xticks(np.arange(len(labels)), labels, fontsize=7)
    ax.set_ylim(0, max(0.05, float(shown.max()) * 1.1))
    ax.set_ylabel("probability")
    top = int(np.argmax(shown))
    title = f"next character after '{kept}' at T = {temperature:.2f}: most likely '{labels[top]}'"
    if dropped:
        title += f" (ignored: {dropped!r})"
    ax.set_title(title, fontsize=9)
    ax_text.set_axis_off()
    ax_text.set_title(f"sampled, seed {seed} (bold: new)", fontsize=9)
    for i, name in enumerate(names):
        ax_text.text(0.05, 1 - (i + 0.5) / len(names), name or "(empty)", fontsize=9,
                     family="monospace", va="center",
                     fontweight="normal" if name in known else "bold",
                     transform=ax_text.transAxes)
    return names


def sampling_explorer(params: dict[str, np.ndarray], vocab: CharVocab, *,
                      known: Iterable[str] = (), temperature: float = 1.0, prefix: str = "",
                      seed: int = 0) -> Explorer:
    """Temperature, prefix and seed -> the next-character distribution and sampled names."""
    fn = "sampling_explorer"
    _check(params, vocab, fn)
    t = _temperature(temperature, fn)
    if not MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:
        raise ValueError(f"{fn}: temperature must be in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], "
                         f"got {temperature!r}")
    params = {k: np.array(params[k], dtype=np.float64) for k in PARAM_KEYS}
    known = frozenset(known)
    controls = {
        "temperature": widgets.FloatSlider(value=t, min=MIN_TEMPERATURE, max=MAX_TEMPERATURE,
                                           step=0.05, description="temperature",
                                           continuous_update=False),
        "prefix": widgets.Text(value=prefix, description="prefix", continuous_update=False),
        "seed": widgets.IntSlider(value=seed, min=0, max=50, description="seed",
                                  continuous_update=False),
    }

    def draw(fig: Figure, temperature: float, prefix: str, seed: int) -> None:
        draw_sampling(fig, params, vocab, prefix=prefix, temperature=temperature, seed=seed,
                      known=known)

    return make_explorer(draw, controls, figsize=(9.0, 3.4),
                         title="What does the model think comes next?")
