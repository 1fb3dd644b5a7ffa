import copy
import math

import pytest
import torch

from unigen import train


def _regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    return x, y


def _mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_train_reduces_loss_and_returns_history():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    hist = train.train(model, _mse, _regression(), steps=300, lr=3e-2, batch_size=64, progress=False,
                       generator=torch.Generator().manual_seed(0), ema_decay=0.9)
    assert hist.steps == 300 and hist.losses[-1] < 0.01 * hist.losses[0]
    assert hist.ema is not None and hist.seconds > 0
    assert not any(p.requires_grad for p in hist.ema.parameters())
    assert len(hist.smoothed(50)) == 251


def test_train_is_reproducible():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        runs.append(train.train(model, _mse, _regression(), steps=20, progress=False,
                                generator=torch.Generator().manual_seed(1)).losses)
    assert runs[0] == runs[1]


def test_train_seconds_budget(monkeypatch):
    """A time budget stops at the first step past it, on a fake clock that ticks 0.01 s per reading."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(train.time, "perf_counter", lambda: 0.01 * next(ticks))
    model = torch.nn.Linear(3, 1)
    hist = train.train(model, _mse, _regression(), seconds=0.2, progress=False)
    assert 0.2 <= hist.seconds < 0.25 and hist.steps == 20


def test_ema_tracks_average():
    model = torch.nn.Linear(1, 1, bias=False)
    ema = train.EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    w0 = ema.model.weight.item()
    ema.update(model)
    assert abs(ema.model.weight.item() - (0.5 * w0 + 0.5)) < 1e-7


def test_batches_cover_each_epoch():
    data = torch.arange(10)
    it = train.batches(data, 5, torch.Generator().manual_seed(0))
    assert sorted(torch.cat([next(it), next(it)]).tolist()) == list(range(10))


def test_train_bad_input():
    model = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="budget"):
        train.train(model, _mse, _regression())
    with pytest.raises(ValueError, match="steps"):
        train.train(model, _mse, _regression(), steps=0)
    with pytest.raises(ValueError, match="lr"):
        train.train(model, _mse, _regression(), steps=1, lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        next(train.batches(torch.ones(3), 0))
    with pytest.raises(ValueError, match="decay"):
        train.EMA(model, 1.5)
    with pytest.raises(FloatingPointError):
        train.train(model, lambda m, b: torch.tensor(float("nan"), requires_grad=True), torch.ones(4, 3),
                    steps=2, progress=False)


def test_budget_schedule_decays_with_the_clock():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x = torch.randn(64, 2)
    loss_fn = lambda m, b: (m(b) ** 2).mean()  # noqa: E731
    before = [p.detach().clone() for p in model.parameters()]
    hist = train.train(model, loss_fn, x, steps=10_000, seconds=0.3, batch_size=8, lr=0.1,
                       schedule="budget", progress=False)
    assert hist.steps < 10_000                        # the clock ended the run
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert hist.losses[-1] < hist.losses[0]
    # the default keeps the old behaviour: cosine over steps
    h1 = train.train(torch.nn.Linear(2, 1), loss_fn, x, steps=5, batch_size=8, progress=False)
    assert h1.steps == 5
    with pytest.raises(ValueError, match="schedule"):
        train.train(model, loss_fn, x, steps=5, schedule="linear", progress=False)


def _overfitting_problem():
    """32 noisy points that a wide MLP can memorise: the validation loss falls, then rises."""
    gen = torch.Generator().manual_seed(0)

    def sample(n):
        x = torch.randn(n, 2, generator=gen)
        return x, torch.sin(2 * x[:, :1]) + 0.5 * torch.randn(n, 1, generator=gen)
    data, val = sample(32), sample(512)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 128), torch.nn.Tanh(), torch.nn.Linear(128, 128),
                                torch.nn.Tanh(), torch.nn.Linear(128, 1))
    loss = lambda m, batch: (m(batch[0]) - batch[1]).square().mean()  # noqa: E731
    return model, loss, data, val


def test_early_stopping_keeps_the_best_weights_of_an_overfitting_model():
    model, loss, data, val = _overfitting_problem()
    full = copy.deepcopy(model)
    settings = dict(lr=3e-3, batch_size=32, progress=False, val_data=val, eval_every=20)
    h_full = train.train(full, loss, data, steps=600, **settings)
    best = min(h_full.val_losses)
    assert h_full.val_losses[0] > best + 0.1                            # it learns first ...
    assert h_full.val_losses[-1] > best + 0.1                           # ... then overfits
    assert not h_full.stopped_early and h_full.steps == 600
    with torch.no_grad():                                               # the best weights came back
        assert abs(loss(full, val).item() - best) < 1e-6
    h_stop = train.train(model, loss, data, steps=600, patience=4, **settings)
    assert h_stop.stopped_early and h_stop.steps < 300
    assert h_stop.best_step == h_stop.val_steps[h_stop.val_losses.index(min(h_stop.val_losses))]
    with torch.no_grad():
        assert loss(model, val).item() < h_full.val_losses[-1] - 0.1


def test_early_stopping_bad_input():
    model, loss, data, val = _overfitting_problem()
    with pytest.raises(ValueError, match="eval_every"):
        train.train(model, loss, data, steps=5, val_data=val, eval_every=0, progress=False)
    with pytest.raises(ValueError, match="patience"):
        train.train(model, loss, data, steps=5, val_data=val, patience=0, progress=False)
    with pytest.raises(ValueError, match="val_data"):
        train.train(model, loss, data, steps=5, val_data=[1, 2], progress=False)


def test_a_noisy_validation_loss_sees_the_same_noise_at_every_evaluation():
    """A loss with a ``generator`` keyword is validated with one fixed draw: a model whose weights
    never change (a step of 1e-30 is lost in float32) gets the same validation loss every time, although the training calls
    (default generator) keep drawing fresh noise. A loss without the keyword is called as before."""
    train_gen = torch.Generator().manual_seed(1)
    calls = []

    def noisy(m, x, generator=train_gen):
        calls.append(generator is train_gen)
        noise = torch.randn(x.shape, generator=generator)
        return (m(x + noise) - x).square().mean()

    model = torch.nn.Linear(2, 2)
    data, val = torch.randn(64, 2), torch.randn(128, 2)
    hist = train.train(model, noisy, data, steps=40, lr=1e-30, batch_size=16, progress=False,
                       val_data=val, eval_every=10)
    assert len(hist.val_losses) == 4 and max(hist.val_losses) == min(hist.val_losses)
    assert calls.count(False) == 4 and calls.count(True) == 40   # 4 evaluations, 40 training steps
    assert len(set(hist.losses)) == 40                              # training noise kept changing
    unseeded = train.train(model, lambda m, x: noisy(m, x), data, steps=40, lr=1e-30,
                           batch_size=16, progress=False, val_data=val, eval_every=10)
    assert len(set(unseeded.val_losses)) == 4                       # without it: a new draw each time


def test_the_last_step_is_always_a_candidate():
    """A budget that is not a multiple of ``eval_every`` still evaluates its final weights."""
    model, loss, data, val = _overfitting_problem()
    hist = train.train(model, loss, data, steps=50, lr=1e-3, batch_size=32, progress=False,
                       val_data=val, eval_every=20)
    assert hist.val_steps == [20, 40, 50]


def _lr_per_step(steps, **kw):
    """The learning rate of each step, read off a loss with constant gradient: Adam then moves
    the weight by exactly the learning rate per step."""
    w = torch.nn.Parameter(torch.zeros(()))
    model = torch.nn.Module()
    model.w = w
    seen = []

    def loss_fn(m, batch):
        seen.append(m.w.item())
        return m.w * 1.0

    train.train(model, loss_fn, torch.zeros(4, 1), steps=steps, batch_size=4, lr=0.1,
                progress=False, **kw)
    seen.append(w.item())
    return -torch.tensor(seen, dtype=torch.float64).diff()


def test_warmup_ramps_then_follows_the_cosine():
    lr = _lr_per_step(10, warmup_steps=4)
    expect = [0.1 * (s + 1) / 4 for s in range(4)]
    expect += [0.05 * (1 + math.cos(math.pi * s / 6)) for s in range(6)]
    torch.testing.assert_close(lr, torch.tensor(expect, dtype=torch.float64),
                               atol=1e-6, rtol=1e-4)
    # without warm-up, the default cosine over all the steps
    lr0 = _lr_per_step(10)
    expect0 = [0.05 * (1 + math.cos(math.pi * s / 10)) for s in range(10)]
    torch.testing.assert_close(lr0, torch.tensor(expect0, dtype=torch.float64),
                               atol=1e-6, rtol=1e-4)


def test_warmup_default_is_the_old_loop_and_bad_input():
    runs = []
    for kw in ({}, {"warmup_steps": 0}):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        runs.append(train.train(model, _mse, _regression(), steps=20, progress=False,
                                generator=torch.Generator().manual_seed(1), **kw).losses)
    assert runs[0] == runs[1]
    model = torch.nn.Linear(3, 1)
    for bad in (-1, 1.5, True, 20):
        with pytest.raises(ValueError, match="warmup_steps"):
            train.train(model, _mse, _regression(), steps=20, warmup_steps=bad, progress=False)
