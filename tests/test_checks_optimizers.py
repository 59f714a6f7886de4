"""nncourse.checks.optimizers: lesson 07's checks, run in process on right and wrong rules.

The notebook's solution cells and nnlib's rules pass the visible and the hidden checks; the
shared update-rule contract (``_contract.call_update_rule``) names each way of breaking it; each
classic mistake in a rule or a schedule fails with the message that names its cause (the wrong
rules are written inline as one correct rule with a ``bug`` switch); hidden messages give away
neither the inputs nor the expected values.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib.optim
import nnlib.schedules
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import optimizers as checks
from nncourse.checks._contract import call_update_rule
from nncourse.testing import GradingError

NAME = "07_optimizers"
RULES = ["sgd", "sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop", "adam", "adamw"]
SCHEDULES = ["exponential_lr", "step_lr", "cosine_lr", "linear_warmup"]


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


@pytest.mark.parametrize("exercise", RULES + SCHEDULES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


REFERENCES = {
    "sgd": lambda w, dw, state, **h: nnlib.optim.sgd(w, dw, state, **h),
    "sgd_momentum": lambda w, dw, state, **h: nnlib.optim.sgd(w, dw, state, **h),
    "sgd_nesterov": lambda w, dw, state, **h: nnlib.optim.sgd(w, dw, state, nesterov=True, **h),
    "adagrad": lambda w, dw, state, **h: nnlib.optim.adagrad(w, dw, state, **h),
    "rmsprop": lambda w, dw, state, **h: nnlib.optim.rmsprop(w, dw, state, **h),
    "adam": lambda w, dw, state, **h: nnlib.optim.adam(w, dw, state, **h),
    "adamw": lambda w, dw, state, **h: nnlib.optim.adamw(w, dw, state, **h),
    "exponential_lr": lambda *a: nnlib.schedules.exponential_lr(*a),
    "step_lr": lambda *a: nnlib.schedules.step_lr(*a),
    "cosine_lr": lambda *a: nnlib.schedules.cosine_lr(*a),
    "linear_warmup": lambda *a: nnlib.schedules.linear_warmup(*a),
}


@pytest.mark.parametrize("exercise", RULES + SCHEDULES)
def test_the_reference_passes_the_hidden_checks_and_is_refused_by_the_visible_ones(exercise):
    getattr(checks, f"{exercise}_hidden")(REFERENCES[exercise])
    with pytest.raises(GradingError, match="reference implementation"):
        getattr(checks, exercise)(REFERENCES[exercise])


@pytest.mark.parametrize("exercise", RULES + SCHEDULES)
def test_each_check_lists_what_it_verifies(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 3, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__


def test_the_check_cells_call_the_module_and_fit_on_a_screen():
    for cell in read(source_path(NAME)).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= 6, cell.id
            assert "from nncourse.checks import optimizers as checks" in lines


def test_not_written_yet():
    def stub(w, dw, state, *, lr):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        checks.sgd(stub)


# --- the shared update-rule contract ------------------------------------------------------------


def _momentum(bug=None):
    def sgd_momentum(w, dw, state, *, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        g = dw if bug == "no_copy" and weight_decay == 0 else dw + weight_decay * w
        previous = state.get("momentum_buffer")
        first = (not previous) if bug == "truthy" else previous is None
        if first:
            buf = {"zero_start": momentum * np.zeros_like(g) + (1 - dampening) * g,
                   "update_first": momentum * g + (1 - dampening) * g,
                   "lr_in_buffer": lr * g, "no_copy": g}.get(bug, g.copy())
        else:
            mu = 0.9 if bug == "fixed_09" else momentum
            tau = momentum if bug == "one_minus_momentum" else dampening
            buf = mu * previous + (1 - tau) * g
            if bug == "inplace_state":
                previous *= 0
        next_w = w - (buf if bug == "lr_in_buffer" else lr * buf)
        key = "buffer" if bug == "missing_key" else "momentum_buffer"
        if bug == "inplace_w":
            w -= lr * buf
            return w, {**state, key: buf}
        if bug == "assign_state":
            state[key] = buf
            return next_w, dict(state)
        if bug == "none":
            return None
        if bug == "swapped_return":
            return {**state, key: buf}, next_w
        if bug == "list_return":
            return [next_w, {**state, key: buf}]
        if bug == "array_only":
            return next_w
        if bug == "raises":
            raise KeyError("momentum_buffer")
        return next_w, {**state, key: buf}
    return sgd_momentum


@pytest.mark.parametrize(("bug", "message"), [
    ("truthy", r"write `if previous is None:`"),
    ("none", r"returned None: did you forget `return`\?"),
    ("swapped_return", r"put next_w first, then next_state"),
    ("list_return", r"return a tuple, `return next_w, next_state`"),
    ("array_only", r"\(next_w alone\?\)"),
    ("inplace_w", r"modified its input w in place"),
    ("inplace_state", r"changed the state dict it was given.*b = momentum \* b \+ \.\.\."),
    ("assign_state", r"changed the state dict it was given"),
    ("missing_key", r"has no key 'momentum_buffer'"),
    ("no_copy", r"is the array dw \(or w\) itself"),
    ("raises", r"sgd_momentum raised KeyError"),
    # the rule itself
    ("zero_start", r"the first buffer is g itself, undampened"),
    ("update_first", r"you started the buffer at g and then also applied the update"),
    ("lr_in_buffer", r"the buffer holds gradients, not steps"),
    ("one_minus_momentum", r"you used \(1 - momentum\) \* g"),
    ("fixed_09", r"not a fixed 0\.9"),
])
def test_sgd_momentum_messages(bug, message):
    checks.sgd_momentum(_momentum())
    with pytest.raises(GradingError, match=message):
        checks.sgd_momentum(_momentum(bug))


def test_call_update_rule_state_shaped_len_w_and_step_not_a_number():
    def rule(w, dw, state, *, lr):
        v = state.get("v", np.zeros(len(w))) + dw * dw
        return w - lr * dw / (np.sqrt(v) + 1), {"v": v, "step": np.array([1])}

    with pytest.raises(GradingError, match=r"state array shaped \(len\(w\),\)"):
        call_update_rule(rule, np.ones((2, 3)), np.ones((2, 3)), {}, dict(lr=0.1), name="rule")
    with pytest.raises(GradingError, match=r"next_state\['step'\] .* not a single whole number"):
        call_update_rule(rule, np.ones(3), np.ones(3), {}, dict(lr=0.1), name="rule",
                         state_keys=("v", "step"), step_key="step")
    with pytest.raises(GradingError, match="rule should be a function"):
        call_update_rule(None, np.ones(3), np.ones(3), {}, {}, name="rule")


# --- sgd and sgd_nesterov -----------------------------------------------------------------------


def test_sgd_messages():
    def sgd(w, dw, state, *, lr, weight_decay=0.0):
        return w - lr * (dw + weight_decay * w), state

    with pytest.raises(GradingError, match="returned the very dict it was given"):
        checks.sgd(sgd)

    def sgd_no_decay(w, dw, state, *, lr, weight_decay=0.0):
        return w - lr * dw, dict(state)

    with pytest.raises(GradingError, match=r"weight_decay=0\.5\)\[0\] \(g = dw \+ weight_decay"):
        checks.sgd(sgd_no_decay)

    def sgd_flat(w, dw, state, *, lr, weight_decay=0.0):
        return (w - lr * (dw + weight_decay * w)).ravel(), dict(state)

    with pytest.raises(GradingError, match=r"has shape \(6,\), but w has shape \(2, 3\)"):
        checks.sgd(sgd_flat)

    def sgd_uphill(w, dw, state, *, lr, weight_decay=0.0):
        return w + lr * (dw + weight_decay * w), dict(state)

    with pytest.raises(GradingError, match=r"w \+ lr \* dw: the step goes uphill"):
        checks.sgd(sgd_uphill)


def test_sgd_returning_an_empty_state_fails_visible_and_hidden():
    def sgd_empty(w, dw, state, *, lr, weight_decay=0.0):
        return w - lr * (dw + weight_decay * w), {}

    with pytest.raises(GradingError, match=r"return dict\(state\), a new copy .*, not \{\}"):
        checks.sgd(sgd_empty)
    with pytest.raises(GradingError, match=r"len\(next_state\): next_state = dict\(state\)"):
        checks.sgd_hidden(sgd_empty)


def _nesterov(bug=None):
    def sgd_nesterov(w, dw, state, *, lr, momentum=0.9, weight_decay=0.0):
        g = dw + weight_decay * w
        previous = state.get("momentum_buffer")
        mu = 0.9 if bug == "fixed_09" else momentum
        buf_g = dw if bug == "no_decay_in_buffer" else g
        if previous is None:
            buf = lr * buf_g if bug == "velocity" else buf_g.copy()
        else:
            buf = mu * previous + buf_g
        step_b = previous if (bug == "old_buffer" and previous is not None) else buf
        if bug == "old_buffer_from_zero":
            step_b = np.zeros_like(w) if previous is None else previous
        step = {"plain": buf, "both_scaled": momentum * (g + buf),
                "dw_in_step": dw + momentum * buf}.get(bug, g + momentum * step_b)
        return w - lr * step, {**state, "momentum_buffer": buf}
    return sgd_nesterov


@pytest.mark.parametrize(("bug", "message"), [
    ("velocity", r"the velocity form v = momentum \* v - lr \* g is a different convention"),
    ("plain", r"the step of plain momentum"),
    ("both_scaled", r"momentum scales both terms"),
    ("old_buffer", r"used the OLD buffer b1"),
    ("old_buffer_from_zero", r"or of g \+ momentum \* b with the OLD buffer, which is 0 before"),
    ("fixed_09", r"pass momentum=momentum on to it"),
    ("no_decay_in_buffer", r"the weight decay is missing from the buffer"),
    ("dw_in_step", r"stepped with dw \+ momentum \* b"),
])
def test_sgd_nesterov_messages(bug, message):
    checks.sgd_nesterov(_nesterov())
    with pytest.raises(GradingError, match=message):
        checks.sgd_nesterov(_nesterov(bug))


# --- adagrad and rmsprop ------------------------------------------------------------------------


def _adagrad(bug=None):
    def adagrad(w, dw, state, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10):
        t = state.get("step", 0) + (0 if bug == "t0" else 1)
        g = dw + weight_decay * w
        start = {"int": np.full_like(w, initial_accumulator_value, dtype=int),
                 "len_w": np.full(len(w), initial_accumulator_value)}.get(
            bug, np.full_like(w, initial_accumulator_value))
        if bug == "no_initial_value":
            start = np.zeros_like(w)
        s = state.get("sum", start)
        old = s
        if bug == "inplace":
            s += dw * dw if bug == "dw_squared" else g * g
        else:
            s = s + (dw * dw if bug in ("dw_squared", "decay_in_step") else g * g)
        lr_t = {"decay_first": lr / (1 + t * lr_decay),
                "geometric": lr / (1 + lr_decay) ** (t - 1)}.get(bug, lr / (1 + (t - 1) * lr_decay))
        denom = np.sqrt(s + eps) if bug == "eps_inside" else np.sqrt(s) + eps
        if bug == "old_sum":
            denom = np.sqrt(old) + eps
        step = np.array([t]) if bug == "step_array" else t
        if bug in ("decay_in_step", "decay_in_step_g2"):
            return (w - lr_t * (dw / denom + weight_decay * w),
                    {**state, "step": step, "sum": s})
        return w - lr_t * g / denom, {**state, "step": step, "sum": s}
    return adagrad


@pytest.mark.parametrize(("bug", "message"), [
    ("t0", r'state\["step"\] is 0 after the first step of adagrad, expected 1'),
    ("int", r"is the accumulator an integer array"),
    ("len_w", r"Is a state array shaped \(len\(w\),\)"),
    ("inplace", r"changed the state dict.*s = s \+ g \* g, not s \+= g \* g"),
    ("dw_squared", r"not dw\*\*2"),
    ("decay_first", r"used lr / \(1 \+ lr_decay\): lr_t = lr / \(1 \+ \(t - 1\) \* lr_decay\)"),
    ("geometric", r"a geometric decay"),
    ("eps_inside", r"put eps inside the square root, sqrt\(s \+ eps\)"),
    ("step_array", r"next_state\['step'\] returned by adagrad is array\(\[1\]\), not a single"),
    ("decay_in_step", r"the weight decay was added to the step, after the division"),
    ("decay_in_step_g2", r"the weight decay was added to the step, after the division"),
    ("no_initial_value", r"came back 9 = g\*\*2, expected 25: the sum started at 0"),
    ("old_sum", r"square root of the OLD sum \(0 before the first step\)"),
])
def test_adagrad_messages(bug, message):
    checks.adagrad(_adagrad())
    with pytest.raises(GradingError, match=message):
        checks.adagrad(_adagrad(bug))


def _rmsprop(bug=None):
    def rmsprop(w, dw, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        g = dw + weight_decay * w
        a = {"swapped": 1 - alpha, "fixed": 0.99}.get(bug, alpha)
        previous = state.get("square_avg", g * g if bug == "starts_at_g2" else np.zeros_like(w))
        sq = dw * dw if bug in ("decay_in_step", "dw_squared") else g * g
        v = a * previous + (1 - a) * sq
        v_used = v / (1 - alpha) if bug == "bias_corrected" else v
        denom = np.sqrt(v_used + eps) if bug == "eps_inside" else np.sqrt(v_used) + eps
        if bug in ("decay_in_step", "decay_in_step_g2"):
            return w - lr * (dw / denom + weight_decay * w), {**state, "square_avg": v}
        return w - lr * g / denom, {**state, "square_avg": v}
    return rmsprop


@pytest.mark.parametrize(("bug", "message"), [
    ("swapped", r"alpha and 1 - alpha are swapped"),
    ("fixed", r"not a fixed 0\.99"),
    ("starts_at_g2", r"v starts at 0 \(not at g\*\*2\)"),
    ("eps_inside", r"rmsprop put eps inside the square root"),
    ("bias_corrected", r"PyTorch's RMSprop has none"),
    ("decay_in_step", r"the weight decay was added to the step, after the division"),
    ("decay_in_step_g2", r"the weight decay was added to the step, after the division"),
    ("dw_squared", r"v averages the square of g = dw \+ weight_decay \* w"),
])
def test_rmsprop_messages(bug, message):
    checks.rmsprop(_rmsprop())
    with pytest.raises(GradingError, match=message):
        checks.rmsprop(_rmsprop(bug))


# --- adam and adamw -----------------------------------------------------------------------------


def _adam(bug=None):
    def adam(w, dw, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        b1, b2 = (0.9, 0.999) if bug == "fixed_betas" else betas
        if bug == "swapped":
            b1, b2 = b2, b1
        t = state.get("step", 0) + (0 if bug == "t0" else 1)
        g = dw if bug == "decoupled" else dw + weight_decay * w
        m = (b2 if bug == "m_beta2" else b1) * state.get("exp_avg", np.zeros_like(w)) + (
            1 - (b2 if bug == "m_beta2" else b1)) * g
        gv = dw if bug == "v_from_dw" else g
        v = b2 * state.get("exp_avg_sq", np.zeros_like(w)) + (1 - b2) * gv * gv
        c1 = 1 - (b1 * t if bug == "beta_times_t" else b1 ** t)
        c2 = 1 - (b2 * t if bug == "beta_times_t" else b2 ** t)
        with np.errstate(all="ignore"):
            m_hat = m if bug in ("no_correction", "only_v") else m / c1
            v_hat = v if bug in ("no_correction", "only_m") else v / c2
            denom = np.sqrt(v_hat + eps) if bug == "eps_inside" else np.sqrt(v_hat) + eps
            next_w = w - lr * m_hat / denom
        if bug == "decoupled":
            next_w = next_w - lr * weight_decay * w
        stored_m = m_hat if bug == "store_m_hat" else m
        stored_v = v_hat if bug == "store_v_hat" else v
        return next_w, {**state, "step": t, "exp_avg": stored_m, "exp_avg_sq": stored_v}
    return adam


@pytest.mark.parametrize(("bug", "message"), [
    ("t0", r"returned inf or NaN: either t = 0 in 1 - beta\*\*t"),
    ("swapped", r"beta1 and beta2 are swapped"),
    ("m_beta2", r"m uses beta2 instead of beta1"),
    ("store_m_hat", r"it holds the corrected m_hat"),
    ("store_v_hat", r"it holds the corrected v_hat"),
    ("no_correction", r"Adam without bias correction"),
    ("only_m", r"only m was corrected"),
    ("only_v", r"only v was corrected"),
    ("eps_inside", r"put eps inside the square root, sqrt\(v_hat \+ eps\)"),
    ("beta_times_t", r"did you write beta1 \* t instead of beta1 \*\* t"),
    ("fixed_betas", r"Take beta1 and beta2 from the `betas` argument"),
    ("v_from_dw", r"v from g \* g, not dw \* dw"),
    ("decoupled", r"adam's weight_decay is the coupled L2 term"),
])
def test_adam_messages(bug, message):
    checks.adam(_adam())
    with pytest.raises(GradingError, match=message):
        checks.adam(_adam(bug))


def _adamw(bug=None):
    adam = _adam()

    def adamw(w, dw, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        if bug == "coupled":
            return adam(w, dw, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        if bug == "decay_after":
            next_w, next_state = adam(w, dw, state, lr=lr, betas=betas, eps=eps)
            return next_w * (1 - lr * weight_decay), next_state
        shrunk = w * (1 - (weight_decay if bug == "no_lr" else lr * weight_decay))
        if bug == "double":
            return adam(shrunk, dw, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        if bug == "defaults":
            return adam(shrunk, dw, state, lr=lr)
        return adam(shrunk, dw, state, lr=lr, betas=betas, eps=eps)
    return adamw


@pytest.mark.parametrize(("bug", "message"), [
    ("coupled", r"added weight_decay \* w to the gradient \(Adam's coupled L2 term\)"),
    ("double", r"the decay is applied twice"),
    ("no_lr", r"the decay is scaled by the learning rate"),
    ("decay_after", r"decayed the weights after the Adam step"),
    ("defaults", r"If adamw calls adam, pass betas and eps on to it"),
])
def test_adamw_messages(bug, message):
    checks.adamw(_adamw())
    with pytest.raises(GradingError, match=message):
        checks.adamw(_adamw(bug))


# --- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda e, lr0, gamma: lr0 * gamma ^ e, r"`\^` is bitwise XOR"),
    (lambda e, lr0, gamma: None, r"returned None: did you forget `return`"),
    (lambda e, lr0, gamma: [lr0 * gamma ** k for k in range(e + 1)], r"a single number"),
    (lambda e, lr0, gamma: lr0 * gamma ** (e + 1), r"decays one epoch early"),
    (lambda e, lr0, gamma: lr0 * gamma * e, r"grows with the epoch"),
    (lambda e, lr0, gamma: lr0 * e ** gamma, r"not epoch \*\* gamma"),
    (lambda e, lr0, gamma: lr0 * (1 - gamma) ** e, r"fraction of the rate KEPT"),
    (lambda e, lr0, gamma: gamma ** e, r"multiply it by lr0 = 2\.0"),
    (lambda e, lr0, gamma: lr0 * np.exp(-gamma * e), r"a different exponential"),
    (lambda e, lr0, gamma: lr0 / gamma ** e, r"grows: divide by gamma \*\* epoch"),
    (lambda e, lr0, gamma: int(lr0 * gamma ** e), r"whole numbers only"),
])
def test_exponential_lr_messages(wrong, message):
    with pytest.raises(GradingError, match=message):
        checks.exponential_lr(wrong)


def test_step_lr_messages():
    with pytest.raises(GradingError, match="decays one epoch early"):
        checks.step_lr(lambda e, lr0, step_size, gamma=0.1: lr0 * gamma ** ((e + 1) // step_size))
    with pytest.raises(GradingError, match="forget `return`"):
        checks.step_lr(lambda e, lr0, step_size, gamma=0.1: None)
    with pytest.raises(GradingError, match=r"gamma = 0\.1 by default"):
        checks.step_lr(lambda e, lr0, step_size, gamma=0.5: lr0 * gamma ** (e // step_size))
    with pytest.raises(GradingError, match=r"the default value of gamma .* is wrong"):
        checks.step_lr(lambda e, lr0, step_size, gamma=0.5: lr0 * gamma ** (e // step_size))
    with pytest.raises(GradingError, match="odd sizes"):
        checks.step_lr_hidden(lambda e, lr0, step_size, gamma=0.5: lr0 * gamma ** (e // step_size))
    with pytest.raises(GradingError, match=r"epoch / step_size is a fraction.*epoch // step_size"):
        checks.step_lr(lambda e, lr0, step_size, gamma=0.1: lr0 * gamma ** (e / step_size))


def test_cosine_lr_messages():
    with pytest.raises(GradingError, match=r"it ends at eta_min = 0 at epoch T_max"):
        checks.cosine_lr(lambda e, lr0, T_max, eta_min=0.0: eta_min + (lr0 - eta_min) * (
            1 + np.cos(np.pi * e / (T_max + 1))) / 2)


def _warmup(bug=None):
    def linear_warmup(epoch, lr0, warmup_epochs):
        if bug == "no_branch":
            return lr0 * min(1, (epoch + 1) / warmup_epochs)
        if bug == "keeps_rising":
            return lr0 * (epoch + 1) / warmup_epochs if warmup_epochs else lr0
        if epoch >= warmup_epochs:
            return None if bug == "none" else lr0
        if bug == "floor_div":
            return lr0 * (epoch + 1) // warmup_epochs
        return lr0 * (epoch if bug == "from_zero" else epoch + 1) / warmup_epochs
    return linear_warmup


@pytest.mark.parametrize(("bug", "message"), [
    ("none", r"Every branch of an if must end with a return"),
    ("from_zero", r"starts at 0: an epoch at rate 0 is wasted"),
    ("keeps_rising", r"keeps rising after the warm-up"),
    ("no_branch", r"divided by warmup_epochs = 0"),
    ("floor_div", r"// is integer division, it rounds down"),
])
def test_linear_warmup_messages(bug, message):
    checks.linear_warmup(_warmup())
    with pytest.raises(GradingError, match=message):
        checks.linear_warmup(_warmup(bug))


# --- what a hidden check says -------------------------------------------------------------------

HIDDEN_CASES = [
    ("adam", _adam("no_correction")),
    ("adagrad", _adagrad("geometric")),
    ("sgd_momentum", _momentum("one_minus_momentum")),
    ("exponential_lr", lambda e, lr0, gamma: lr0 * gamma ** (e + 1)),
]


@pytest.mark.parametrize(("exercise", "wrong"), HIDDEN_CASES)
def test_hidden_messages_show_no_expected_values(exercise, wrong):
    with pytest.raises(GradingError) as info:
        getattr(checks, f"{exercise}_hidden")(wrong)
    message = str(info.value)
    assert "hidden case" in message
    assert not re.search(r"\[[\d\s.,e+-]{6,}\]", message), message
    assert not re.search(r"\d\.\d{5,}", message), message
