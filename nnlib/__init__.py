"""nnlib: the course's reference NumPy library.

Functional pairs (``*_forward -> (out, cache)``, ``*_backward(dout, cache)``) underneath,
PyTorch-named modules on top. Everything a notebook needs is importable from here; each
concept also lives in its own module (``nnlib.activations``, ``nnlib.losses``, ...).
"""

from nnlib.activations import (
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_forward,
    log_softmax,
    log_softmax_backward,
    log_softmax_forward,
    relu,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    softmax_jacobian,
    tanh,
    tanh_backward,
    tanh_forward,
)
from nnlib.attention import (
    MultiheadAttention,
    TransformerBlock,
    decoder_attention_backward,
    decoder_attention_forward,
    positional_encoding,
    scaled_dot_product_attention_backward,
    scaled_dot_product_attention_forward,
)
from nnlib.backprop import sgd_step, two_layer_loss_and_grads
from nnlib.basics import one_hot, standardize
from nnlib.conv import (
    AvgPool2d,
    Conv1d,
    Conv2d,
    MaxPool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv_output_size,
    max_pool2d_backward,
    max_pool2d_forward,
)
from nnlib.data import (
    load_digits,
    load_mnist1d,
    make_circles,
    make_moons,
    make_spirals,
    train_val_test_split,
)
from nnlib.datasets import dataset_available, load_dataset
from nnlib.diagnostics import (
    clip_by_norm,
    clip_by_value,
    clip_grad_norm_,
    clip_grad_value_,
    deep_mlp,
    diagnose_gradients,
    grad_norms,
    gradient_growth,
    layer_grad_norms,
)
from nnlib.gradcheck import (
    check_gradients,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
)
from nnlib.init import he_normal, he_uniform, xavier_normal, xavier_uniform
from nnlib.layers import Flatten, linear_backward, linear_forward
from nnlib.losses import (
    bce_with_logits_loss,
    hinge_loss,
    huber_loss,
    mae_loss,
    mse_loss,
    softmax_cross_entropy_loss,
)
from nnlib.metrics import (
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_f1,
)
from nnlib.mlp import activation_statistics, hidden_activations, init_mlp, mlp_forward
from nnlib.modules import (
    BatchNorm1d,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dropout,
    HuberLoss,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    MSELoss,
    MultiClassHingeLoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from nnlib.normalization import (
    BatchNorm2d,
    batchnorm2d_backward,
    batchnorm2d_forward,
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from nnlib.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    adagrad,
    adam,
    adamw,
    rmsprop,
    sgd,
)
from nnlib.perceptron import (
    make_separable,
    perceptron_history,
    perceptron_predict,
    perceptron_update,
    sigmoid_unit,
    train_perceptron,
    weighted_sum,
    xor_data,
)
from nnlib.regularization import (
    add_gaussian_noise,
    dropout_backward,
    dropout_forward,
    l1_penalty,
    l2_penalty,
    random_shift,
)
from nnlib.rnn import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    embedding_backward,
    embedding_forward,
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_linear_backward,
    temporal_linear_forward,
    temporal_softmax_cross_entropy_loss,
)
from nnlib.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    LRScheduler,
    StepLR,
    WarmupCosineLR,
    cosine_lr,
    exponential_lr,
    linear_warmup,
    step_lr,
    warmup_cosine_lr,
)
from nnlib.text import CharVocab, load_names
from nnlib.training import (
    Callback,
    EarlyStopping,
    History,
    accuracy,
    cross_validate,
    evaluate,
    fit,
    kfold_indices,
    minibatches,
    predict,
)
from nnlib.tuning import (
    LogUniform,
    SearchResult,
    Trial,
    Uniform,
    architecture_search,
    grid_search,
    log_uniform,
    random_search,
)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
