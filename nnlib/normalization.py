"""Batch normalisation and layer normalisation as ``*_forward`` / ``*_backward`` pairs, and their
modules (``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``).

Both follow PyTorch (``torch.nn.BatchNorm1d``, ``torch.nn.LayerNorm``):

- normalise with the **biased** variance (divide by N, or by D for layer norm) and put ``eps``
  inside the square root: ``x_hat = (x - mean) / sqrt(var + eps)``, then ``gamma * x_hat + beta``;
- batch norm in training mode also updates the running statistics, with the **unbiased** batch
  variance (divide by N - 1) and torch's momentum:
  ``running = (1 - momentum) * running + momentum * batch_statistic``; in evaluation mode it
  normalises with the running statistics and changes nothing;
- layer norm normalises each example over its last axis and behaves the same in both modes;
- spatial batch norm (``batchnorm2d_*``, ``BatchNorm2d``) normalises each channel of
  ``(N, C, H, W)`` images over the batch and both spatial axes (N H W values per channel).

``batchnorm_forward`` is pure: it returns the new running statistics instead of writing into
the arrays it was given (the module ``BatchNorm1d`` keeps them as buffers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_ndim, check_positive, check_positive_int
from nnlib.module import Module, Parameter, _require_cache

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
    "batchnorm2d_forward",
    "batchnorm2d_backward",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
]

#: (x_hat (N, D), gamma (D,), inv_std (D,), training): what batchnorm_backward needs.
BatchNormCache = tuple[np.ndarray, np.ndarray, np.ndarray, bool]
#: (x_hat (..., D), gamma (D,), inv_std (..., 1)): what layernorm_backward needs.
LayerNormCache = tuple[np.ndarray, np.ndarray, np.ndarray]


def _feature_vector(v: ArrayLike, D: int, fn: str, name: str) -> np.ndarray:
    v = as_array(v, fn, name)
    if v.shape != (D,):
        raise ValueError(f"{fn}: {name} must have shape ({D},) to match x's D={D}, got {v.shape}")
    return v


def _check_eps(eps: Any, fn: str) -> float:
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: eps must be a number > 0, got {eps!r}") from None
    check_positive(value, fn, "eps")
    return value


def _channel_vector(v: ArrayLike, C: int, fn: str, name: str) -> np.ndarray:
    v = as_array(v, fn, name)
    if v.shape != (C,):
        raise ValueError(
            f"{fn}: {name} must have shape ({C},), one entry per channel of x (C={C}), "
            f"got {v.shape}"
        )
    return v


def _check_bn_hyper(fn: str, training: Any, momentum: Any, eps: Any) -> tuple[float, float]:
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"{fn}: training must be True or False, got {training!r}")
    try:
        momentum = float(momentum)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: momentum must be a number in [0, 1], got {momentum!r}") from None
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{fn}: momentum must be in [0, 1], got {momentum!r}")
    return momentum, _check_eps(eps, fn)


# ---------------------------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------------------------


def batchnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, BatchNormCache, np.ndarray, np.ndarray]:
    """out = gamma * (x - mean) / sqrt(var + eps) + beta, per feature over the batch.

    Shapes: x (N, D); gamma, beta, running_mean, running_var (D,) -> out (N, D), cache,
    new_running_mean (D,), new_running_var (D,).

    Training: mean and var are the batch's (var biased, over N; N >= 2 as in torch), and
    new_running_mean = (1 - momentum) * running_mean + momentum * mean,
    new_running_var = (1 - momentum) * running_var + momentum * var * N / (N - 1).
    Evaluation: mean and var are running_mean and running_var, returned unchanged.
    cache = (x_hat, gamma, inv_std, training) with inv_std = 1 / sqrt(var + eps) (D,).
    Nothing passed in is modified.
    """
    fn = "batchnorm_forward"
    x = as_array(x, fn, "x")
    check_ndim(x, 2, fn, "x", "(N, D)")
    N, D = x.shape
    gamma = _feature_vector(gamma, D, fn, "gamma")
    beta = _feature_vector(beta, D, fn, "beta")
    running_mean = _feature_vector(running_mean, D, fn, "running_mean")
    running_var = _feature_vector(running_var, D, fn, "running_var")
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"{fn}: training must be True or False, got {training!r}")
    try:
        momentum = float(momentum)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: momentum must be a number in [0, 1], got {momentum!r}") from None
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{fn}: momentum must be in [0, 1], got {momentum!r}")
    eps = _check_eps(eps, fn)
    if training:
        if N < 2:
            raise ValueError(
                f"{fn}: training mode needs a batch of N >= 2 to estimate a variance, got "
                f"N={N} (torch raises too); in evaluation mode a batch of one is fine"
            )
        mean = x.mean(axis=0)
        xc = x - mean
        var = np.mean(xc * xc, axis=0)  # mean of squared deviations: no cancellation
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = xc * inv_std
        new_mean = (1.0 - momentum) * running_mean + momentum * mean
        new_var = (1.0 - momentum) * running_var + momentum * var * (N / (N - 1))
    else:
        inv_std = 1.0 / np.sqrt(running_var + eps)
        x_hat = (x - running_mean) * inv_std
        new_mean, new_var = running_mean, running_var
    out = gamma * x_hat + beta
    return out, (x_hat, gamma, inv_std, bool(training)), new_mean, new_var


def batchnorm_backward(
    dout: ArrayLike, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dgamma = sum_n dout * x_hat, dbeta = sum_n dout.  Shapes: dout (N, D) -> dx (N, D),
    dgamma (D,), dbeta (D,).

    Training (the batch statistics depend on x), with g = dout * gamma:
    dx = inv_std / N * (N * g - sum_n g - x_hat * sum_n (g * x_hat)).
    Evaluation (the running statistics are constants): dx = dout * gamma * inv_std.
    """
    fn = "batchnorm_backward"
    x_hat, gamma, inv_std, training = cache
    dout = as_array(dout, fn, "dout")
    if dout.shape != x_hat.shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {x_hat.shape}"
        )
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    g = dout * gamma
    if training:
        N = dout.shape[0]
        dx = (inv_std / N) * (N * g - g.sum(axis=0) - x_hat * np.sum(g * x_hat, axis=0))
    else:
        dx = g * inv_std
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Layer normalisation
# ---------------------------------------------------------------------------------------------


def layernorm_forward(
    x: ArrayLike, gamma: ArrayLike, beta: ArrayLike, eps: float = 1e-5
) -> tuple[np.ndarray, LayerNormCache]:
    """out = gamma * (x - mean) / sqrt(var + eps) + beta, per example over the last axis.

    Shapes: x (N, D) or any (..., D); gamma, beta (D,) -> out (same as x), cache =
    (x_hat (same as x), gamma, inv_std (..., 1)). var is biased (over D). The same in training
    and evaluation: no running statistics.
    """
    fn = "layernorm_forward"
    x = as_array(x, fn, "x")
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have shape (..., D), got a scalar")
    D = x.shape[-1]
    gamma = _feature_vector(gamma, D, fn, "gamma")
    beta = _feature_vector(beta, D, fn, "beta")
    eps = _check_eps(eps, fn)
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def layernorm_backward(
    dout: ArrayLike, cache: LayerNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """With g = dout * gamma: dx = inv_std / D * (D * g - sum_d g - x_hat * sum_d (g * x_hat)),
    dgamma = sum of dout * x_hat and dbeta = sum of dout over every axis but the last.

    Shapes: dout (..., D) -> dx (same), dgamma (D,), dbeta (D,).
    """
    fn = "layernorm_backward"
    x_hat, gamma, inv_std = cache
    dout = as_array(dout, fn, "dout")
    if dout.shape != x_hat.shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {x_hat.shape}"
        )
    lead = tuple(range(dout.ndim - 1))
    dbeta = dout.sum(axis=lead)
    dgamma = np.sum(dout * x_hat, axis=lead)
    g = dout * gamma
    D = dout.shape[-1]
    dx = (inv_std / D) * (
        D * g - g.sum(axis=-1, keepdims=True) - x_hat * np.sum(g * x_hat, axis=-1, keepdims=True)
    )
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Spatial batch normalisation (convolutional networks)
# ---------------------------------------------------------------------------------------------


def batchnorm2d_forward(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, BatchNormCache, np.ndarray, np.ndarray]:
    """out = gamma * (x - mean) / sqrt(var + eps) + beta, per channel over (N, H, W).

    Shapes: x (N, C, H, W); gamma, beta, running_mean, running_var (C,) -> out (N, C, H, W),
    cache, new_running_mean (C,), new_running_var (C,).

    batchnorm_forward with every pixel of every image counted as an example: M = N H W values
    per channel (training needs M >= 2, as in torch); the running variance is updated with
    the unbiased var * M / (M - 1). cache = (x_hat (N, C, H, W), gamma, inv_std (C,),
    training). Nothing passed in is modified.
    """
    fn = "batchnorm2d_forward"
    x = as_array(x, fn, "x")
    check_ndim(x, 4, fn, "x", "(N, C, H, W)")
    N, C, H, W = x.shape
    gamma = _channel_vector(gamma, C, fn, "gamma")
    beta = _channel_vector(beta, C, fn, "beta")
    running_mean = _channel_vector(running_mean, C, fn, "running_mean")
    running_var = _channel_vector(running_var, C, fn, "running_var")
    momentum, eps = _check_bn_hyper(fn, training, momentum, eps)
    M = N * H * W
    axes = (0, 2, 3)
    if training:
        if M < 2:
            raise ValueError(
                f"{fn}: training mode needs more than one value per channel (N H W >= 2) to "
                f"estimate a variance, got x of shape {x.shape} (torch raises too)"
            )
        mean = x.mean(axis=axes)
        xc = x - mean[:, None, None]
        var = np.mean(xc * xc, axis=axes)  # mean of squared deviations: no cancellation
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = xc
        x_hat *= inv_std[:, None, None]  # in place: xc is a fresh array
        new_mean = (1.0 - momentum) * running_mean + momentum * mean
        new_var = (1.0 - momentum) * running_var + momentum * var * (M / (M - 1))
    else:
        inv_std = 1.0 / np.sqrt(running_var + eps)
        x_hat = (x - running_mean[:, None, None]) * inv_std[:, None, None]
        new_mean, new_var = running_mean, running_var
    out = gamma[:, None, None] * x_hat + beta[:, None, None]
    return out, (x_hat, gamma, inv_std, bool(training)), new_mean, new_var


def batchnorm2d_backward(
    dout: ArrayLike, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dgamma = sum over (N, H, W) of dout * x_hat, dbeta = sum over (N, H, W) of dout.

    Shapes: dout (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,). With M = N H W,
    training: dx = gamma * inv_std / M * (M * dout - dbeta - x_hat * dgamma) per channel (the
    batchnorm_backward formula, since sum g = gamma dbeta and sum g x_hat = gamma dgamma);
    evaluation: dx = dout * gamma * inv_std.
    """
    fn = "batchnorm2d_backward"
    x_hat, gamma, inv_std, training = cache
    dout = as_array(dout, fn, "dout")
    if dout.shape != x_hat.shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {x_hat.shape}"
        )
    axes = (0, 2, 3)
    dbeta = dout.sum(axis=axes)
    dgamma = np.sum(dout * x_hat, axis=axes)
    scale = (gamma * inv_std)[:, None, None]
    if training:
        M = dout.shape[0] * dout.shape[2] * dout.shape[3]
        dx = x_hat * (-dgamma / M)[:, None, None]
        dx += dout
        dx -= (dbeta / M)[:, None, None]
        dx *= scale
    else:
        dx = dout * scale
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class BatchNorm1d(Module):
    """out = weight * (x - mean) / sqrt(var + eps) + bias per feature.  Shapes: x (N, D) ->
    out (N, D), with D = num_features.

    Training: the batch's statistics (N >= 2), and the buffers ``running_mean`` /
    ``running_var`` move towards them by ``momentum`` (torch's convention, unbiased variance);
    ``num_batches_tracked`` counts the updates. Evaluation: the running statistics. ``weight``
    (gamma, starts at 1) and ``bias`` (beta, starts at 0) are Parameters; the buffers are not,
    but ``state_dict()`` saves them under torch's names.
    """

    _buffer_names = ("running_mean", "running_var", "num_batches_tracked")
    _forward_fn = staticmethod(batchnorm_forward)
    _backward_fn = staticmethod(batchnorm_backward)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        *,
        dtype: DTypeLike = np.float64,
    ) -> None:
        name = type(self).__name__
        self.num_features = check_positive_int(num_features, name, "num_features")
        if not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum must be in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be > 0, got {eps!r}")
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        self.running_mean: np.ndarray = np.zeros(self.num_features, dtype=dtype)
        self.running_var: np.ndarray = np.ones(self.num_features, dtype=dtype)
        self.num_batches_tracked: np.ndarray = np.array(0, dtype=np.int64)
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache, mean, var = type(self)._forward_fn(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            training=self.training, momentum=self.momentum, eps=self.eps,
        )
        if self.training:
            self.running_mean, self.running_var = mean, var
            self.num_batches_tracked = self.num_batches_tracked + 1
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        """dx; adds dgamma and dbeta into weight.grad and bias.grad."""
        dx, dgamma, dbeta = type(self)._backward_fn(dout, _require_cache(self, self._cache))
        self.weight.accumulate_grad(dgamma)
        self.bias.accumulate_grad(dbeta)
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm2d(BatchNorm1d):
    """out = weight * (x - mean) / sqrt(var + eps) + bias per channel, the statistics taken over
    (N, H, W).  Shapes: x (N, C, H, W) -> out (N, C, H, W), with C = num_features.

    Everything else as BatchNorm1d (torch.nn.BatchNorm2d): training uses and tracks the batch
    statistics (N H W >= 2), evaluation the buffers ``running_mean`` / ``running_var``, which
    ``state_dict()`` saves with ``num_batches_tracked`` under torch's names.
    """

    _forward_fn = staticmethod(batchnorm2d_forward)
    _backward_fn = staticmethod(batchnorm2d_backward)


class LayerNorm(Module):
    """out = weight * (x - mean) / sqrt(var + eps) + bias over the last axis of each example.
    Shapes: x (..., D) -> out (same), with (D,) = normalized_shape.

    The same in training and evaluation (no running statistics). ``weight`` starts at 1 and
    ``bias`` at 0. Only a normalised shape of one axis is supported (an int or a 1-tuple).
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int],
        eps: float = 1e-5,
        *,
        dtype: DTypeLike = np.float64,
    ) -> None:
        shape = normalized_shape
        if isinstance(shape, (tuple, list)) and len(shape) == 1:
            shape = shape[0]
        D = check_positive_int(shape, "LayerNorm", "normalized_shape")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be > 0, got {eps!r}")
        self.normalized_shape = (D,)
        self.eps = float(eps)
        self.weight = Parameter(np.ones(D, dtype=dtype))
        self.bias = Parameter(np.zeros(D, dtype=dtype))
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        """dx; adds dgamma and dbeta into weight.grad and bias.grad."""
        dx, dgamma, dbeta = layernorm_backward(dout, _require_cache(self, self._cache))
        self.weight.accumulate_grad(dgamma)
        self.bias.accumulate_grad(dbeta)
        return dx

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
