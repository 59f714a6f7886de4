"""Every lesson teaches and grades what the course map and the issues promise.

The lists below are the syllabus (shared/COURSE.md's lesson map and the seed topics); a lesson
that loses a graded exercise, a widget or a promised topic fails here, by name.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.nbtools import ROOT

# lesson -> (functions graded by name, topics its text must name (regexes, case-insensitive))
SYLLABUS: dict[str, tuple[list[str], list[str]]] = {
    "00_getting_started": (["one_hot", "standardize"], [r"broadcast"]),
    "01_neuron_and_perceptron": (
        ["weighted_sum", "step", "sigmoid_unit", "perceptron_update", "train_perceptron"],
        [r"XOR"],
    ),
    "02_activation_functions": (
        ["sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "relu", "relu_derivative",
         "leaky_relu", "leaky_relu_derivative", "softmax", "softmax_jacobian"],
        [r"overflow"],
    ),
    "03_loss_functions": (
        ["mse_loss", "mae_loss", "huber_loss", "bce_with_logits_loss",
         "softmax_cross_entropy_loss", "hinge_loss"],
        [r"cross-entropy"],
    ),
    "04_forward_propagation_and_initialisation": (
        ["linear_forward", "mlp_forward", "xavier_uniform", "he_normal"],
        [r"Xavier", r"\bHe\b"],
    ),
    "05_backpropagation_and_gradient_checking": (
        ["numerical_gradient", "rel_error", "linear_backward", "relu_backward",
         "sigmoid_backward", "softmax_cross_entropy_backward", "two_layer_loss_and_grads",
         "sgd_step"],
        [r"gradient check"],
    ),
    "06_training_loop_and_evaluation": (
        ["minibatches", "train_val_test_split", "train_with_validation", "confusion_matrix",
         "precision_recall_f1", "kfold_indices", "cross_validate", "early_stopping_step"],
        [r"hold-out", r"cross-validation", r"precision", r"recall", r"\bF1\b",
         r"early stopping", r"MNIST-1D", r"digits", r"threshold", r"macro"],
    ),
    "07_optimizers": (
        ["sgd", "sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop", "adam", "adamw",
         "exponential_lr", "step_lr", "cosine_lr", "linear_warmup"],
        [r"torch\.optim", r"bias correction", r"Rosenbrock", r"Beale", r"saddle",
         r"ill-conditioned", r"exponential", r"warm-?up"],
    ),
    "08_regularisation_and_normalisation": (
        ["l1_penalty", "l2_penalty", "dropout_forward", "dropout_backward", "random_shift",
         "add_gaussian_noise", "batchnorm_forward", "batchnorm_backward", "layernorm_forward",
         "layernorm_backward"],
        [r"overfitting", r"running (mean|statistics|average)", r"inverted dropout",
         r"augmentation", r"test time|eval"],
    ),
    "09_pathologies_and_tuning": (
        ["layer_grad_norms", "diagnose_gradients", "clip_by_value", "clip_by_norm",
         "random_search", "architecture_search"],
        [r"vanishing", r"exploding", r"grid search", r"random search", r"architecture search",
         r"NaN"],
    ),
    "10_convolution_and_pooling": (
        ["conv_output_size", "conv2d_forward_naive", "conv2d_backward_naive",
         "conv2d_forward_fast", "conv2d_backward_fast", "max_pool2d_forward",
         "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"],
        [r"stride", r"padding", r"cross-correlation", r"max pooling", r"average pooling",
         r"sliding_window_view", r"im2col", r"receptive field", r"1 × 1 convolution",
         r"feature map", r"load_sample_images", r"digits", r"speed-up"],
    ),
    "11_cnns_and_transfer_learning": (
        ["batchnorm2d_forward", "batchnorm2d_backward", "replace_head", "extract_features"],
        [r"Conv2d", r"Conv1d", r"MaxPool2d", r"BatchNorm2d", r"MNIST-1D", r"digits",
         r"feature map", r"filters", r"augmentation", r"transfer learning", r"fine-tun",
         r"frozen", r"load_state_dict", r"SHA-256", r"labell?ed examples per class"],
    ),
    "12_recurrent_networks_and_bptt": (
        ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
         "embedding_forward", "embedding_backward", "temporal_linear_forward",
         "temporal_linear_backward", "temporal_softmax_cross_entropy_loss"],
        [r"backpropagation through time", r"shared|same weights", r"embedding",
         r"time-distributed", r"mask", r"census", r"licence", r"temperature",
         r"vanish", r"truncated BPTT", r"clip"],
    ),
    "13_lstm_and_gru": (
        ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
         "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"],
        [r"forget gate", r"i, f, g, o", r"r, z, n", r"reset gate", r"update gate",
         r"adding problem", r"MNIST-1D", r"vanish", r"cell state"],
    ),
    "14_seq2seq_and_attention": (
        ["scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
         "multihead_self_attention", "positional_encoding", "greedy_decode",
         "decoder_attention_forward", "decoder_attention_backward", "teacher_forcing_batch"],
        [r"encoder", r"teacher forcing", r"scaled dot-product", r"mask", r"multi-head",
         r"positional encoding", r"permutation-equivariant", r"transformer", r"revers",
         r"greedy decoding", r"YYYY-MM-DD", r"exact match"],
    ),
}


def _notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)


def test_the_syllabus_lists_every_lesson_folder():
    folders = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    assert folders == sorted(SYLLABUS), "add the new lesson to SYLLABUS with what it grades"


@pytest.mark.parametrize("name", sorted(SYLLABUS))
def test_lesson_grades_each_promised_function_by_name(name):
    graded, _ = SYLLABUS[name]
    cells = _notebook(name).cells
    defined_then_tested = set()
    for cell, nxt in zip(cells, cells[1:], strict=False):
        solution = cell.metadata.get("nbgrader", {}).get("solution")
        is_test = nxt.metadata.get("nbgrader", {}).get("grade") and nxt.cell_type == "code"
        if cell.cell_type == "code" and solution and is_test:
            for fn in re.findall(r"^def (\w+)\(", cell.source, flags=re.M):
                if re.search(rf"\b{fn}\b", nxt.source) and nxt.metadata["nbgrader"]["points"]:
                    defined_then_tested.add(fn)
    missing = [fn for fn in graded if fn not in defined_then_tested]
    assert not missing, f"{name}: no solution cell + graded test cell for {missing}"


@pytest.mark.parametrize("name", sorted(SYLLABUS))
def test_lesson_names_its_topics_has_a_widget_and_a_written_question(name):
    _, topics = SYLLABUS[name]
    nb = _notebook(name)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    missing = [t for t in topics if not re.search(t, text, flags=re.I)]
    assert not missing, f"{name}: its text never mentions {missing}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "nncourse.widgets" in code, f"{name}: no widget from nncourse.widgets"
    written = [
        c for c in nb.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert written, f"{name}: no manually graded written answer cell"
