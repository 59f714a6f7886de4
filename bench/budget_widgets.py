"""Widget budget: every explorer in nncourse/widgets/ redraws in at most 0.5 s of CPU time.

Each explorer is driven as its tests drive it (tests/test_widgets*.py): built with the same data,
then its controls are moved through the same settings, the most expensive the sliders allow
among them. A redraw is what the learner waits for: the computation (training, a forward and
backward pass, a race of optimizers...), the drawing, and the PNG the kernel sends, as measured
by the explorer itself (``Explorer.last_redraw_seconds``, CPU time of this process).

Every setting is visited ``REPEATS`` times, each time in a fresh explorer with the widgets'
caches emptied (a first visit: nothing comes from a cache); a setting's figure is the fastest
of its visits, and an explorer's figure is its slowest setting. An explorer found in
nncourse/widgets/ without a scenario here is driven through each control's extremes if it can
be built without arguments, and fails otherwise: add it to ``SCENARIOS``.

    python bench/budget_widgets.py
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Line, md_table, print_lines  # noqa: E402

import nncourse.widgets  # noqa: E402

REDRAW_SECONDS = 0.5
REPEATS = 3


@dataclass
class Scenario:
    build: Callable[[], Any]
    settings: list[tuple[str, Any]]


def _digits():
    from nnlib.data import load_digits

    return load_digits()


def _scored():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.15).astype(np.int64)
    return y, np.where(y == 1, rng.beta(5, 2, 600), rng.beta(2, 5, 600))


def _line_data():
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 2, 25)
    return x, 2 * x + 1 + 0.3 * rng.normal(size=25)


def _digit_batch():
    X, y = _digits()
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)
    return X[:128], y[:128]


def _pretrained_cnn_and_digits():
    from nncourse.pretrained import digits_cnn, read_weights

    net = digits_cnn(5, rng=np.random.default_rng(0))
    net.load_state_dict(read_weights())
    X, y = _digits()
    return net, X[:20].reshape(-1, 1, 8, 8).astype(np.float32), y[:20]


def _perceptron_data():
    from nnlib.perceptron import make_separable, xor_data

    return {"separable": make_separable(100, margin=0.1, rng=np.random.default_rng(0)),
            "XOR": xor_data()}


def _spirals():
    from nnlib.data import make_spirals

    return make_spirals(300, rng=np.random.default_rng(0))


def _reverser_attend() -> Callable[[str], Any]:
    """Lesson 14's reverser (embedding + positional encoding, a transformer block with 2 heads,
    a linear head; E = 32, ten digits), untrained: a redraw costs what the notebook's costs (a
    forward pass, the heads' weights, the heatmap), whatever the weights."""
    from nnlib.attention import TransformerBlock, positional_encoding
    from nnlib.layers import Linear
    from nnlib.rnn import Embedding

    rng = np.random.default_rng(0)
    T, V, E = 10, 10, 32
    embed, head = Embedding(V, E, rng=rng), Linear(E, V, rng=rng)
    block = TransformerBlock(E, nhead=2, dim_feedforward=64, rng=rng)
    pe = positional_encoding(T, E)

    def attend(text: str) -> tuple[list[str], list[str], np.ndarray]:
        digits = [int(c) for c in text.strip() if c.isdigit()]
        if len(digits) != T or len(digits) != len(text.strip()):
            raise ValueError(f"type exactly {T} digits")
        z = embed(np.array([digits])) + pe
        predicted = head(block(z).reshape(-1, E)).argmax(axis=-1)
        _, weights = block.self_attn(z, z, z, average_attn_weights=False)
        return [str(d) for d in digits], [str(d) for d in predicted], weights[0]

    return attend


def _char_model() -> tuple[dict[str, np.ndarray], Any, list[str]]:
    """A random character RNN of lesson 12's shapes (V = 28, D = 16, H = 64), as its tests
    build it, the census names and their vocabulary: sampling costs the same, trained or not."""
    from nnlib.text import CharVocab, load_names

    names = load_names()
    vocab = CharVocab(names)
    g = np.random.default_rng(5)
    V, D, H = len(vocab), 16, 64
    params = {"W_embed": g.normal(size=(V, D)), "Wx": g.normal(size=(D, H)) / 4,
              "Wh": g.normal(size=(H, H)) / 8, "b": g.normal(size=H) / 10,
              "W_out": g.normal(size=(H, V)), "b_out": g.normal(size=V)}
    return params, vocab, names


@functools.lru_cache(maxsize=1)
def _memory_runs() -> dict[tuple[str, int], Any]:
    """Lesson 13's section 8 trains every (cell, length) the memory explorer offers and hands
    the runs to it, so a learner's redraw there never trains: the bench builds it the same way
    (a first visit without those runs trains for 1-3 s, by design)."""
    from nncourse.widgets import memory

    return {(c, T): memory.train_memory_model(c, T) for c in memory.CELLS
            for T in memory.LENGTHS}


def _scenarios() -> dict[str, Scenario]:
    from nncourse.widgets import (
        activations,
        attention_maps,
        char_model,
        digits,
        evaluation,
        feature_maps,
        initialization,
        losses,
        memory,
        optimizers,
        pathologies,
        perceptron,
        regularization,
        training,
    )

    return {
        "attention_maps.attention_explorer": Scenario(
            lambda: attention_maps.attention_explorer(_reverser_attend(), "3141592653",
                                                      description="digits"),
            [("head", "head 1"), ("text", "2718281828"), ("head", "head 2"),
             ("text", "12345"), ("text", "0000000000"), ("head", attention_maps.AVERAGE)]),
        "char_model.sampling_explorer": Scenario(
            lambda: char_model.sampling_explorer(
                *_char_model()[:2], known=_char_model()[2], temperature=1.0, prefix="ma"),
            [("temperature", char_model.MAX_TEMPERATURE), ("prefix", ""), ("seed", 50),
             ("temperature", char_model.MIN_TEMPERATURE), ("prefix", "christopher"),
             ("seed", 7), ("temperature", 1.0)]),
        "digits.digit_explorer": Scenario(
            lambda: digits.digit_explorer(*_digits()), [("index", i) for i in range(1, 6)]),
        "activations.activation_explorer": Scenario(
            activations.activation_explorer,
            [("name", n) for n in activations.ACTIVATIONS]
            + [("x_range", r) for r in [(-50.0, 50.0), (-40.0, 40.0), (-30.0, 30.0)]]
            + [("threshold", 0.3)]),
        "activations.softmax_explorer": Scenario(
            activations.softmax_explorer,
            [("temperature", 0.1), ("temperature", 10.0), ("shift", 1000.0),
             ("shift", -1000.0)]),
        "evaluation.threshold_explorer": Scenario(
            lambda: evaluation.threshold_explorer(*_scored()),
            [("threshold", t) for t in (0.3, 0.45, 0.6, 0.75)]),
        "feature_maps.feature_map_explorer": Scenario(
            lambda: feature_maps.feature_map_explorer(
                *_pretrained_cnn_and_digits()[:2], labels=_pretrained_cnn_and_digits()[2]),
            [("channel", 7), ("layer", 6), ("image", 4), ("layer", 7), ("channel", 31),
             ("image", 0), ("layer", 0)]),
        "initialization.initialization_explorer": Scenario(
            initialization.initialization_explorer,
            [("init", "He normal"), ("activation", "relu"), ("depth", 20), ("width", 256),
             ("activation", "tanh"), ("init", "normal, std 1")]),
        "losses.loss_curve_explorer": Scenario(
            losses.loss_curve_explorer, [("delta", 0.5), ("delta", 2.5), ("target", -1.0)]),
        "losses.loss_landscape_explorer": Scenario(
            lambda: losses.loss_landscape_explorer(*_line_data()),
            [("loss", "MAE"), ("shift", 3.0), ("loss", "Huber"), ("delta", 2.0)]),
        "memory.memory_explorer": Scenario(
            lambda: memory.memory_explorer(dict(_memory_runs())),
            [("T", 40), ("cell", "GRU"), ("T", 5), ("cell", "RNN"), ("T", 10),
             ("cell", "LSTM")]),
        "optimizers.optimizer_explorer": Scenario(
            optimizers.optimizer_explorer,
            [("num_steps", 1000), ("surface", "Beale"), ("lr_scale", 0.71),
             ("surface", "Rosenbrock"), ("lr_scale", 0.83), ("surface", "saddle"),
             ("lr_scale", 1.17)]),
        "pathologies.pathologies_explorer": Scenario(
            lambda: pathologies.pathologies_explorer(*_digit_batch()),
            [("depth", 20), ("activation", "relu"), ("init", "normal, std 1"),
             ("activation", "tanh"), ("init", "normal, std 0.01"), ("activation", "sigmoid")]),
        "perceptron.decision_boundary_explorer": Scenario(
            lambda: perceptron.decision_boundary_explorer(_perceptron_data()),
            [("w1", v) for v in (0.3, -1.0, 2.0, 0.5, -0.2)] + [("dataset", "XOR")]),
        "perceptron.perceptron_training_explorer": Scenario(
            lambda: perceptron.perceptron_training_explorer(_perceptron_data(), epochs=10),
            [("epoch", e) for e in range(1, 7)] + [("dataset", "XOR")]),
        "regularization.overfitting_explorer": Scenario(
            regularization.overfitting_explorer,
            [("n_train", 200), ("p", 0.8), ("lam", regularization.L2_STRENGTHS[-1]),
             ("n_train", 30), ("lam", 1e-4), ("lam", 3e-4), ("lam", 3e-3)]),
        "training.training_explorer": Scenario(
            lambda: training.training_explorer(*_spirals()),
            [("num_hiddens", 64), ("num_epochs", 300), ("num_hiddens", 32), ("lr", 0.5),
             ("lr", 1.0), ("lr", 2.0)]),
    }


def explorers() -> dict[str, Callable[..., Any]]:
    """Every ``*_explorer`` function defined in a module of nncourse.widgets, by module.name."""
    found = {}
    modules = [nncourse.widgets] + [
        importlib.import_module(f"nncourse.widgets.{m.name}")
        for m in pkgutil.iter_modules(nncourse.widgets.__path__)]
    for module in modules:
        for name, obj in vars(module).items():
            if (name.endswith("_explorer") and not name.startswith("make_")
                    and inspect.isfunction(obj)
                    and obj.__module__ == module.__name__):
                found[f"{module.__name__.rsplit('.', 1)[-1]}.{name}"] = obj
    return dict(sorted(found.items()))


def _clear_caches() -> None:
    """Empty every functools cache of the widget modules: each visit is a first visit."""
    for name, module in list(sys.modules.items()):
        if name.startswith("nncourse.widgets"):
            for obj in vars(module).values():
                if isinstance(obj, functools._lru_cache_wrapper):
                    obj.cache_clear()


def _generic(builder: Callable[..., Any]) -> Scenario:
    """Each control to its extremes (every option of a menu), for an explorer with no scenario."""
    ex = builder()
    settings: list[tuple[str, Any]] = []
    for key, control in ex.controls.items():
        options = getattr(control, "options", None)
        if options is not None and not hasattr(control, "min"):
            values = [o[1] if isinstance(o, tuple) else o for o in options]
            settings += [(key, v) for v in values if v != control.value]
        elif hasattr(control, "min") and hasattr(control, "max"):
            if isinstance(control.value, tuple):
                settings += [(key, (control.min, control.max))]
            else:
                settings += [(key, control.max), (key, control.min)]
    return Scenario(builder, settings)


def measure(scenario: Scenario) -> list[tuple[str, float]]:
    """(setting, CPU seconds of its redraw, the fastest of REPEATS first visits)."""
    best: list[float] = [float("inf")] * len(scenario.settings)
    for _ in range(REPEATS):
        _clear_caches()
        ex = scenario.build()  # draws once: fonts and layout warm, as on first display
        for i, (control, value) in enumerate(scenario.settings):
            before = ex.redraws
            ex.controls[control].value = value
            if ex.redraws == before:  # the value did not change: redraw as a release would
                ex.redraw()
            best[i] = min(best[i], ex.last_redraw_seconds)
    return [(f"{c}={v!r}", t) for (c, v), t in zip(scenario.settings, best, strict=True)]


def run(verbose: bool = False) -> tuple[list[Line], str]:
    scenarios = _scenarios()
    lines: list[Line] = []
    rows = []
    for key, builder in explorers().items():
        scenario = scenarios.get(key)
        note = ""
        if scenario is None:
            try:
                scenario = _generic(builder)
                note = "no scenario in bench/budget_widgets.py: controls' extremes"
            except Exception as exc:  # noqa: BLE001 (named in the FAIL line)
                line = Line("widgets", f"{key}: redraw, CPU", float("nan"), REDRAW_SECONDS,
                            ok=False, note=f"no scenario in bench/budget_widgets.py and it "
                            f"cannot be built without arguments ({type(exc).__name__})")
                print_lines([line])
                lines.append(line)
                rows.append([key, "—", "—", "FAIL"])
                continue
        timings = measure(scenario)
        setting, worst = max(timings, key=lambda st: st[1])
        new = [Line("widgets", f"{key}: slowest of {len(timings)} redraws, CPU", worst,
                    REDRAW_SECONDS, note="; ".join(filter(None, [setting, note])))]
        if verbose:
            new += [Line("widgets", f"{key}: {s}", t, REDRAW_SECONDS) for s, t in timings]
        print_lines(new)
        lines += new
        rows.append([key, f"{worst:.3f}", setting, new[0].verdict()])
    report = "\n".join([
        f"Budget: a redraw (compute, draw, PNG) in at most {REDRAW_SECONDS} s of CPU time; the "
        f"slowest setting of each explorer, each setting the fastest of {REPEATS} first visits.",
        "",
        md_table(["explorer", "slowest redraw, CPU s", "at setting", "verdict"], rows, "lrll"),
    ])
    return lines, report


def main(argv: list[str] | None = None) -> int:
    lines, _ = run(verbose="--verbose" in (argv if argv is not None else sys.argv[1:]))
    return 0 if all(line.passed for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
