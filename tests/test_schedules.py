"""Tests for nnlib.schedules: pure learning-rate schedules and the schedulers that set
``optimizer.lr``, checked against torch.optim.lr_scheduler where torch has an equivalent."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from oracles import require_torch

from nnlib.modules import Parameter
from nnlib.optim import SGD, Adam
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

LR0 = 0.3
NUM_EPOCHS = 25



def _torch_lrs(make_scheduler, num_epochs=NUM_EPOCHS):
    """The lr torch uses in epochs 0 .. num_epochs - 1 (one optimizer.step per epoch)."""
    torch = require_torch()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=LR0)
    sched = make_scheduler(torch.optim.lr_scheduler, opt)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notes are not under test
        for _ in range(num_epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(lrs)


# name: (pure schedule with its hyperparameters, scheduler class, torch scheduler factory)
CASES = {
    "step": (lambda e: step_lr(e, LR0, step_size=4, gamma=0.5),
             lambda o: StepLR(o, step_size=4, gamma=0.5),
             lambda s, o: s.StepLR(o, step_size=4, gamma=0.5)),
    "step_default_gamma": (lambda e: step_lr(e, LR0, step_size=7),
                           lambda o: StepLR(o, step_size=7),
                           lambda s, o: s.StepLR(o, step_size=7)),
    "exponential": (lambda e: exponential_lr(e, LR0, gamma=0.9),
                    lambda o: ExponentialLR(o, gamma=0.9),
                    lambda s, o: s.ExponentialLR(o, gamma=0.9)),
    "cosine": (lambda e: cosine_lr(e, LR0, T_max=NUM_EPOCHS - 1),
               lambda o: CosineAnnealingLR(o, T_max=NUM_EPOCHS - 1),
               lambda s, o: s.CosineAnnealingLR(o, T_max=NUM_EPOCHS - 1)),
    "cosine_eta_min": (lambda e: cosine_lr(e, LR0, T_max=10, eta_min=0.01),
                       lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.01),
                       lambda s, o: s.CosineAnnealingLR(o, T_max=10, eta_min=0.01)),
    "linear_warmup": (lambda e: linear_warmup(e, LR0, warmup_epochs=5),
                      lambda o: LinearWarmup(o, warmup_epochs=5),
                      lambda s, o: s.LinearLR(o, start_factor=1 / 5, end_factor=1.0,
                                              total_iters=4)),
    "warmup_cosine": (lambda e: warmup_cosine_lr(e, LR0, warmup_epochs=5, T_max=15, eta_min=0.02),
                      lambda o: WarmupCosineLR(o, warmup_epochs=5, T_max=15, eta_min=0.02),
                      lambda s, o: s.SequentialLR(o, [
                          s.LinearLR(o, start_factor=1 / 5, end_factor=1.0, total_iters=4),
                          s.CosineAnnealingLR(o, T_max=15, eta_min=0.02)], milestones=[5])),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_schedules_match_torch(case):
    schedule, make, make_torch = CASES[case]
    expected = _torch_lrs(make_torch)
    got = np.array([schedule(e) for e in range(NUM_EPOCHS)])
    # torch's cosine is recursive past epoch 0, so it carries a little rounding
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12,
                               err_msg=f"{case}: the pure schedule differs from torch")

    opt = SGD([Parameter(np.zeros(1))], lr=LR0)
    sched = make(opt)
    lrs = []
    for _ in range(NUM_EPOCHS):
        lrs.append(opt.lr)
        sched.step()
    np.testing.assert_allclose(lrs, expected, rtol=0, atol=1e-12,
                               err_msg=f"{case}: the scheduler differs from torch")


def test_hand_values():
    assert step_lr(0, 1.0, 3, 0.5) == 1.0 and step_lr(2, 1.0, 3, 0.5) == 1.0
    assert step_lr(3, 1.0, 3, 0.5) == 0.5 and step_lr(7, 1.0, 3, 0.5) == 0.25
    assert exponential_lr(3, 2.0, 0.5) == 0.25
    assert cosine_lr(0, 1.0, 10) == 1.0
    assert cosine_lr(5, 1.0, 10, eta_min=0.2) == pytest.approx(0.6)
    assert cosine_lr(10, 1.0, 10, eta_min=0.2) == pytest.approx(0.2)
    assert [linear_warmup(e, 1.0, 4) for e in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert linear_warmup(0, 1.0, 0) == 1.0
    lrs = [warmup_cosine_lr(e, 1.0, warmup_epochs=2, T_max=4) for e in range(7)]
    np.testing.assert_allclose(lrs, [0.5, 1.0, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5,
                                     (1 + math.cos(3 * math.pi / 4)) / 2, 0.0], atol=1e-15)


def test_scheduler_sets_optimizer_lr_and_training_uses_it():
    p = Parameter(np.array([1.0]))
    opt = Adam([p], lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    assert sched.lr0 == 0.1 and opt.lr == 0.1 and sched.epoch == 0
    sched.step()
    assert sched.epoch == 1 and opt.lr == 0.05 and opt.defaults["lr"] == 0.05
    p.grad[...] = 1.0
    opt.step()  # Adam's first step moves by about lr
    np.testing.assert_allclose(p.data, [0.95], rtol=1e-6)
    assert "StepLR(epoch=1" in repr(sched)


def test_warmup_scheduler_sets_the_first_epoch_lr_at_once():
    opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    LinearWarmup(opt, warmup_epochs=4)
    assert opt.lr == 0.25, "the scheduler must set epoch 0's lr when it is made"


BAD = [
    (lambda: step_lr(-1, 0.1, 2), "step_lr: epoch must be an integer >= 0"),
    (lambda: step_lr(1.5, 0.1, 2), "step_lr: epoch"),
    (lambda: step_lr(0, -0.1, 2), "step_lr: lr0"),
    (lambda: step_lr(0, 0.1, 0), "step_lr: step_size must be a positive integer"),
    (lambda: step_lr(0, 0.1, 2, gamma=-0.5), "step_lr: gamma"),
    (lambda: exponential_lr(0, 0.1, 0.0), "exponential_lr: gamma"),
    (lambda: cosine_lr(0, 0.1, 0), "cosine_lr: T_max"),
    (lambda: cosine_lr(0, 0.1, 5, eta_min=-1.0), "cosine_lr: eta_min"),
    (lambda: linear_warmup(0, 0.1, -2), "linear_warmup: warmup_epochs"),
    (lambda: warmup_cosine_lr(0, 0.1, 2, 0), "warmup_cosine_lr: T_max"),
    (lambda: StepLR(SGD([Parameter(np.ones(1))], lr=0.1), step_size=0), "step_lr: step_size"),
    (lambda: CosineAnnealingLR(SGD([Parameter(np.ones(1))], lr=0.1), T_max=-3),
     "cosine_lr: T_max"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m.split(":")[0] + str(i)
                                                    for i, (_, m) in enumerate(BAD)])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_scheduler_construction():
    with pytest.raises(TypeError, match="StepLR: optimizer must be an Optimizer"):
        StepLR([Parameter(np.ones(1))], step_size=2)
    with pytest.raises(NotImplementedError):
        LRScheduler(SGD([Parameter(np.ones(1))], lr=0.1))
