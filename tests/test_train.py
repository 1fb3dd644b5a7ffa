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


def test_train_seconds_budget():
    model = torch.nn.Linear(3, 1)
    hist = train.train(model, _mse, _regression(), seconds=0.2, progress=False)
    assert 0.2 <= hist.seconds < 2.0 and hist.steps > 1


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
