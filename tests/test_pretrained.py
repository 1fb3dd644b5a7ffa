import pytest
import torch

from unigen import pretrained


def test_save_load_round_trip(tmp_path):
    model, hist = pretrained.train_recipe("ddim_digits_unet", steps=2, progress=False)
    file = pretrained.save("ddim_digits_unet", model, hist.seconds, file=tmp_path / "w.pt")
    loaded, meta = pretrained.load("ddim_digits_unet", file=file)
    assert meta["recipe"] == pretrained.RECIPES["ddim_digits_unet"]
    x, t = torch.randn(3, 1, 8, 8), torch.rand(3)
    torch.testing.assert_close(loaded(x, t), model(x, t))
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_recipe_mismatch_is_refused(tmp_path, monkeypatch):
    model = pretrained.build("ddim_digits_unet")
    file = pretrained.save("ddim_digits_unet", model, 0.0, file=tmp_path / "w.pt")
    changed = dict(pretrained.RECIPES["ddim_digits_unet"], steps=1)
    monkeypatch.setitem(pretrained.RECIPES, "ddim_digits_unet", changed)
    with pytest.raises(ValueError, match="rerun"):
        pretrained.load("ddim_digits_unet", file=file)


def test_shipped_checkpoints_load():
    for name in pretrained.all_recipes():
        model, meta = pretrained.load(name)
        assert meta["recipe"]["steps"] > 0 and meta["seconds"] > 0
        assert sum(p.numel() for p in model.parameters()) == sum(
            p.numel() for p in pretrained.build(name).parameters())


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="name"):
        pretrained.path("no_such_model")
    with pytest.raises(FileNotFoundError, match="train_weights"):
        pretrained.load("ddim_digits_unet", file=tmp_path / "missing.pt")


def test_class_conditional_recipe_trains_with_labels(tmp_path):
    model, hist = pretrained.train_recipe("cfg_digits_unet", steps=2, progress=False)
    assert model.config.n_classes == pretrained.RECIPES["cfg_digits_unet"]["n_classes"]
    x, t = torch.randn(3, 1, 8, 8), torch.rand(3)
    y = torch.tensor([0, 9, 10])  # 10 is the null label
    assert model(x, t, y).shape == x.shape
    file = pretrained.save("cfg_digits_unet", model, hist.seconds, file=tmp_path / "c.pt")
    loaded, _ = pretrained.load("cfg_digits_unet", file=file)
    torch.testing.assert_close(loaded(x, t, y), model(x, t, y))


def test_digit_recipes_keep_their_best_weights_by_validation(monkeypatch):
    """Every recipe trained on the digits evaluates on the validation split (with labels when the
    recipe is class-conditional); ``patience`` reaches ``train.train``, and is refused for a recipe
    without a validation split."""
    for name in ("ddim_digits_unet", "cfg_digits_unet", "cm_digits_unet"):
        assert pretrained.RECIPES[name]["val"] == "digits/val"
    plain = pretrained.validation(pretrained.RECIPES["ddim_digits_unet"], patience=3)
    assert plain["val_data"].shape[1:] == (1, 8, 8) and plain["patience"] == 3
    x, y = pretrained.validation(pretrained.RECIPES["cfg_digits_unet"])["val_data"]
    assert len(x) == len(y) and y.max() <= 9
    assert pretrained.validation(pretrained.RECIPES["tool_word_problems_ar"]) == {}
    with pytest.raises(ValueError, match="patience"):
        pretrained.train_recipe("tool_word_problems_ar", steps=2, patience=3, progress=False)
    with pytest.raises(ValueError, match="validation split"):
        pretrained.validation(dict(pretrained.RECIPES["ddim_digits_unet"], val="digits/nope"))
    every = dict(pretrained.RECIPES["ddim_digits_unet"], eval_every=2)
    monkeypatch.setitem(pretrained.RECIPES, "ddim_digits_unet", every)
    _, hist = pretrained.train_recipe("ddim_digits_unet", steps=4, progress=False)
    assert hist.val_steps == [2, 4] and hist.best_step in (2, 4)
