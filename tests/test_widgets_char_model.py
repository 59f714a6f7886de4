"""The sampling explorer of lesson 12: temperature, prefix and seed redraw the next-character
distribution and the sampled names of a character RNN (work counted, never timed)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.char_model as char_widgets
from nncourse.widgets.char_model import (
    NUM_NAMES,
    PARAM_KEYS,
    clean_prefix,
    draw_sampling,
    next_char_probs,
    sample_names,
    sampling_explorer,
)
from nnlib.activations import softmax
from nnlib.rnn import embedding_forward, rnn_forward
from nnlib.text import CharVocab, load_names


@pytest.fixture(scope="module")
def vocab():
    return CharVocab(load_names())


@pytest.fixture(scope="module")
def params(vocab):
    """A random model of the lesson's shapes (V = 28, D = 16, H = 64)."""
    g = np.random.default_rng(5)
    V, D, H = len(vocab), 16, 64
    return {"W_embed": g.normal(size=(V, D)), "Wx": g.normal(size=(D, H)) / 4,
            "Wh": g.normal(size=(H, H)) / 8, "b": g.normal(size=H) / 10,
            "W_out": g.normal(size=(H, V)), "b_out": g.normal(size=V)}


def bars(fig):
    return np.array([p.get_height() for p in fig.axes[0].patches])


def shown_names(fig):
    return [t.get_text() for t in fig.axes[1].texts]


def _logits(params, vocab, prefix):
    idx = np.array([[vocab.boundary_index, *vocab.encode(prefix)]])
    h = rnn_forward(embedding_forward(idx, params["W_embed"])[0], np.zeros((1, 64)),
                    params["Wx"], params["Wh"], params["b"])[0]
    return h[0, -1] @ params["W_out"] + params["b_out"]


def test_next_char_probs_is_the_tempered_softmax_after_the_prefix(params, vocab):
    for prefix, t in [("", 1.0), ("ma", 1.0), ("ma", 0.3), ("jo", 2.0)]:
        p = next_char_probs(params, vocab, prefix, t)
        want = softmax(_logits(params, vocab, prefix) / t)
        want[vocab.pad_index] = 0
        np.testing.assert_allclose(p, want / want.sum(), rtol=1e-12)
        assert p[vocab.pad_index] == 0 and p.sum() == pytest.approx(1)
    cold = next_char_probs(params, vocab, "ma", 0.01)
    assert cold.max() > 0.999, "a temperature near 0 is the argmax"
    hot = next_char_probs(params, vocab, "ma", 1e4)
    np.testing.assert_allclose(hot[1:], 1 / 27, rtol=1e-2)


def test_sampled_names_start_with_the_prefix_and_are_reproducible(params, vocab):
    a = sample_names(params, vocab, prefix="Ma", temperature=1.0, rng=np.random.default_rng(0))
    b = sample_names(params, vocab, prefix="ma", temperature=1.0, rng=np.random.default_rng(0))
    c = sample_names(params, vocab, prefix="ma", temperature=1.0, rng=np.random.default_rng(1))
    assert a == b != c and len(a) == NUM_NAMES
    assert all(n.startswith("ma") and set(n) <= set("abcdefghijklmnopqrstuvwxyz") for n in a)
    assert all(len(n) <= char_widgets.MAX_LEN for n in a)


def test_sampling_follows_a_model_whose_answer_is_known(vocab):
    """W_out = 0: every step predicts from b_out alone, so the distribution is known."""
    V, D, H = len(vocab), 2, 3
    params = {"W_embed": np.zeros((V, D)), "Wx": np.zeros((D, H)), "Wh": np.zeros((H, H)),
              "b": np.zeros(H), "W_out": np.zeros((H, V)), "b_out": np.zeros(V)}
    params["b_out"][vocab.stoi["a"]] = 5.0
    assert sample_names(params, vocab, temperature=0.05, rng=np.random.default_rng(0),
                        num=3, max_len=6) == ["aaaaaa"] * 3
    params["b_out"][vocab.boundary_index] = 50.0
    assert sample_names(params, vocab, prefix="bo", rng=np.random.default_rng(0),
                        num=2) == ["bo", "bo"]
    # two equally likely letters at temperature 1: about half each, over many draws
    params["b_out"][:] = -50.0
    params["b_out"][[vocab.stoi["x"], vocab.stoi["y"]]] = 0.0
    first = [n[0] for n in sample_names(params, vocab, rng=np.random.default_rng(2), num=2000,
                                        max_len=1)]
    assert abs(first.count("x") - 1000) < 100 and set(first) == {"x", "y"}


def test_clean_prefix_drops_what_the_vocabulary_lacks(vocab):
    assert clean_prefix(" Ma-rie1 ", vocab) == ("marie", "-1")
    assert clean_prefix("._a", vocab) == ("a", "._")


def test_default_state_and_every_control_redraws_the_drawn_data(params, vocab):
    ex = sampling_explorer(params, vocab, known=["maria"], prefix="ma")
    assert ex.redraws == 1 and set(ex.controls) == {"temperature", "prefix", "seed"}
    assert len(ex.figure.axes) == 2 and len(bars(ex.figure)) == len(vocab) - 1
    np.testing.assert_allclose(bars(ex.figure), next_char_probs(params, vocab, "ma", 1.0)[1:])
    names = shown_names(ex.figure)
    assert len(names) == NUM_NAMES and all(n.startswith("ma") for n in names)
    assert "after 'ma' at T = 1.00" in ex.figure.axes[0].get_title()

    before = bars(ex.figure).copy()
    ex.controls["temperature"].value = 0.3
    assert bars(ex.figure).max() > before.max(), "a lower temperature sharpens"
    ex.controls["temperature"].value = 2.0
    assert bars(ex.figure).max() < before.max(), "a higher temperature flattens"

    ex.controls["prefix"].value = "jo"
    assert "after 'jo'" in ex.figure.axes[0].get_title()
    np.testing.assert_allclose(bars(ex.figure), next_char_probs(params, vocab, "jo", 2.0)[1:])
    assert all(n.startswith("jo") for n in shown_names(ex.figure))

    names = shown_names(ex.figure)
    ex.controls["seed"].value = 7
    assert shown_names(ex.figure) != names
    assert shown_names(ex.figure) == sample_names(params, vocab, prefix="jo", temperature=2.0,
                                                  rng=np.random.default_rng(7))
    ex.controls["prefix"].value = "jo!"
    assert "ignored: '!'" in ex.figure.axes[0].get_title()
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"
    assert ex.redraws == 6


def test_known_names_are_drawn_plain_and_new_ones_bold(vocab):
    V = len(vocab)
    params = {"W_embed": np.zeros((V, 1)), "Wx": np.zeros((1, 1)), "Wh": np.zeros((1, 1)),
              "b": np.zeros(1), "W_out": np.zeros((1, V)), "b_out": np.full(V, -50.0)}
    params["b_out"][vocab.boundary_index] = 0.0
    fig = Figure()
    assert draw_sampling(fig, params, vocab, prefix="ann", known={"ann"}) == ["ann"] * NUM_NAMES
    assert {t.get_fontweight() for t in fig.axes[1].texts} == {"normal"}
    fig = Figure()
    draw_sampling(fig, params, vocab, prefix="zzq", known={"ann"})
    assert {t.get_fontweight() for t in fig.axes[1].texts} == {"bold"}


def test_each_move_samples_once_and_redraws_once(params, vocab):
    ex = sampling_explorer(params, vocab, prefix="ma")
    moves = [("temperature", 0.5), ("prefix", "el"), ("seed", 3), ("temperature", 1.9),
             ("prefix", ""), ("seed", 50)]
    for name, value in moves:
        work = redraw_work(ex, name, value, watch=[(char_widgets, "sample_names"),
                                                   (char_widgets, "next_char_probs")])
        assert_one_cheap_redraw(work, sample_names=1, next_char_probs=1)


def test_the_static_figure_is_drawn_by_the_same_function(params, vocab):
    fig = Figure(figsize=(9.0, 3.4))
    names = draw_sampling(fig, params, vocab, prefix="ma", temperature=1.0, seed=0)
    ex = sampling_explorer(params, vocab, prefix="ma")
    np.testing.assert_array_equal(bars(fig), bars(ex.figure))
    assert names == shown_names(ex.figure)


def test_errors_name_the_function(params, vocab):
    with pytest.raises(ValueError, match=r"^sampling_explorer: temperature must be in"):
        sampling_explorer(params, vocab, temperature=5.0)
    with pytest.raises(ValueError, match=r"^next_char_probs: temperature must be a positive"):
        next_char_probs(params, vocab, "a", 0.0)
    with pytest.raises(ValueError, match=r"^sampling_explorer: params lacks \['Wh'\]"):
        sampling_explorer({k: v for k, v in params.items() if k != "Wh"}, vocab)
    with pytest.raises(ValueError, match=r"^sample_names: vocab must be a CharVocab"):
        sample_names(params, "abc", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^sample_names: rng must be a numpy Generator"):
        sample_names(params, vocab, rng=0)
    with pytest.raises(ValueError, match=r"do not match the vocabulary's V = 5"):
        next_char_probs(params, CharVocab(["abc"]))
    assert PARAM_KEYS == ("W_embed", "Wx", "Wh", "b", "W_out", "b_out")
