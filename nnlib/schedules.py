"""Learning-rate schedules: pure functions of the epoch under thin schedulers that set ``lr``.

A schedule is ``schedule(epoch, lr0, **hyper) -> lr`` for epoch = 0, 1, 2, ... and never looks
at an optimizer. A scheduler remembers ``lr0 = optimizer.lr`` when it is made, sets
``optimizer.lr = schedule(0, lr0, ...)`` at once, and ``step()`` (called once per epoch, after
the epoch's ``optimizer.step()`` calls) moves to the next epoch, as torch.optim.lr_scheduler does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from nnlib._validate import check_positive, check_positive_int
from nnlib.optim import Optimizer

__all__ = [
    "step_lr",
    "exponential_lr",
    "cosine_lr",
    "linear_warmup",
    "warmup_cosine_lr",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearWarmup",
    "WarmupCosineLR",
]


def _check_count(value: Any, fn: str, name: str) -> int:
    """Return ``value`` as an int, or raise ValueError unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{fn}: {name} must be an integer >= 0, got {value!r}")
    return int(value)


def step_lr(epoch: int, lr0: float, step_size: int, gamma: float = 0.1) -> float:
    """lr = lr0 * gamma ** (epoch // step_size), torch.optim.lr_scheduler.StepLR."""
    fn = "step_lr"
    epoch = _check_count(epoch, fn, "epoch")
    check_positive(lr0, fn, "lr0", allow_zero=True)
    step_size = check_positive_int(step_size, fn, "step_size")
    check_positive(gamma, fn, "gamma")
    return lr0 * gamma ** (epoch // step_size)


def exponential_lr(epoch: int, lr0: float, gamma: float) -> float:
    """lr = lr0 * gamma ** epoch, torch.optim.lr_scheduler.ExponentialLR."""
    fn = "exponential_lr"
    epoch = _check_count(epoch, fn, "epoch")
    check_positive(lr0, fn, "lr0", allow_zero=True)
    check_positive(gamma, fn, "gamma")
    return lr0 * gamma**epoch


def cosine_lr(epoch: int, lr0: float, T_max: int, eta_min: float = 0.0) -> float:
    """lr = eta_min + (lr0 - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, the closed form of
    torch.optim.lr_scheduler.CosineAnnealingLR.

    lr falls from lr0 at epoch 0 to eta_min at epoch T_max; after T_max it rises again (the
    cosine is periodic, as in torch), so choose T_max = the number of epochs you train.
    """
    fn = "cosine_lr"
    epoch = _check_count(epoch, fn, "epoch")
    check_positive(lr0, fn, "lr0", allow_zero=True)
    T_max = check_positive_int(T_max, fn, "T_max")
    check_positive(eta_min, fn, "eta_min", allow_zero=True)
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


def linear_warmup(epoch: int, lr0: float, warmup_epochs: int) -> float:
    """lr = lr0 * min(1, (epoch + 1) / warmup_epochs): lr0 / warmup_epochs at epoch 0, rising
    linearly to lr0 at epoch warmup_epochs - 1, then constant.

    The +1 keeps the first epoch's lr above 0. torch.optim.lr_scheduler.LinearLR with
    start_factor = 1 / warmup_epochs, end_factor = 1, total_iters = warmup_epochs - 1 is the
    same schedule. warmup_epochs = 0 means no warmup (lr = lr0).
    """
    fn = "linear_warmup"
    epoch = _check_count(epoch, fn, "epoch")
    check_positive(lr0, fn, "lr0", allow_zero=True)
    warmup_epochs = _check_count(warmup_epochs, fn, "warmup_epochs")
    if epoch >= warmup_epochs:
        return lr0
    return lr0 * (epoch + 1) / warmup_epochs


def warmup_cosine_lr(
    epoch: int, lr0: float, warmup_epochs: int, T_max: int, eta_min: float = 0.0
) -> float:
    """``linear_warmup`` for the first warmup_epochs epochs, then ``cosine_lr`` restarted at 0:
    lr = cosine_lr(epoch - warmup_epochs, lr0, T_max, eta_min).

    T_max counts the cosine epochs after the warmup, so lr reaches eta_min at epoch
    warmup_epochs + T_max. torch: SequentialLR([LinearLR(...), CosineAnnealingLR(T_max,
    eta_min)], milestones=[warmup_epochs]).
    """
    fn = "warmup_cosine_lr"
    epoch = _check_count(epoch, fn, "epoch")
    check_positive(lr0, fn, "lr0", allow_zero=True)
    warmup_epochs = _check_count(warmup_epochs, fn, "warmup_epochs")
    T_max = check_positive_int(T_max, fn, "T_max")
    check_positive(eta_min, fn, "eta_min", allow_zero=True)
    if epoch < warmup_epochs:
        return linear_warmup(epoch, lr0, warmup_epochs)
    return cosine_lr(epoch - warmup_epochs, lr0, T_max, eta_min)


class LRScheduler:
    """Sets ``optimizer.lr = schedule(epoch, lr0, **hyper)``; ``step()`` advances one epoch.

    ``lr0`` is the optimizer's lr when the scheduler is made. Subclasses set ``schedule``.
    """

    schedule: ClassVar[Callable[..., float] | None] = None

    def __init__(self, optimizer: Optimizer, **hyper: Any) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            got = type(optimizer).__name__
            raise TypeError(f"{name}: optimizer must be an Optimizer (e.g. SGD), got {got}")
        if type(self).schedule is None:
            raise NotImplementedError(f"{name} must set a schedule")
        self.optimizer = optimizer
        self.lr0: float = optimizer.lr
        self.hyper: dict[str, Any] = dict(hyper)
        self.epoch = 0
        # epoch 0's lr; this also checks the hyperparameters, naming the schedule function
        self.optimizer.lr = self.get_lr()

    def get_lr(self) -> float:
        """The schedule's lr for the current epoch."""
        schedule = type(self).schedule
        assert schedule is not None
        return schedule(self.epoch, self.lr0, **self.hyper)

    def step(self) -> None:
        """Move to the next epoch and set the optimizer's lr for it."""
        self.epoch += 1
        self.optimizer.lr = self.get_lr()

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(epoch={self.epoch}, lr0={self.lr0!r}, {hyper})"


class StepLR(LRScheduler):
    """Multiply lr by gamma every step_size epochs; ``step_lr`` (torch's StepLR)."""

    schedule = staticmethod(step_lr)

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)


class ExponentialLR(LRScheduler):
    """Multiply lr by gamma every epoch; ``exponential_lr`` (torch's ExponentialLR)."""

    schedule = staticmethod(exponential_lr)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, gamma=gamma)


class CosineAnnealingLR(LRScheduler):
    """Cosine from lr0 down to eta_min over T_max epochs; ``cosine_lr`` (torch's
    CosineAnnealingLR)."""

    schedule = staticmethod(cosine_lr)

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)


class LinearWarmup(LRScheduler):
    """Linear ramp up to lr0 over warmup_epochs epochs; ``linear_warmup``."""

    schedule = staticmethod(linear_warmup)

    def __init__(self, optimizer: Optimizer, warmup_epochs: int) -> None:
        super().__init__(optimizer, warmup_epochs=warmup_epochs)


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine annealing over T_max epochs; ``warmup_cosine_lr``."""

    schedule = staticmethod(warmup_cosine_lr)

    def __init__(
        self, optimizer: Optimizer, warmup_epochs: int, T_max: int, eta_min: float = 0.0
    ) -> None:
        super().__init__(optimizer, warmup_epochs=warmup_epochs, T_max=T_max, eta_min=eta_min)
