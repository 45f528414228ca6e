"""Training loop of the IPD networks (Adam, mini-batches, per-epoch callback for checkpoints).

The loop is the seeds' one (shuffle, ``n // batch`` full batches per epoch, Adam, cross-entropy of
the readout scores) with two additions used by the ``best`` preset: a cosine learning-rate schedule
and optionally fresh stimuli every epoch (``epoch_data`` is a function of the epoch number).
Randomness: the batch order of epoch ``e`` comes from ``numpy.random.default_rng([seed, 2, e])`` so
a resumed run is identical to an uninterrupted one.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import UserError
from ..io import atomic_path
from .core import readout_loss
from .models import IPDNet

TRAINING_STATE = ("model", "optimizer", "history")   # what every training checkpoint holds

@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    lr_schedule: str = "constant"   # constant, or cosine (to lr_final_fraction * lr at the last epoch)
    lr_final_fraction: float = 0.05
    correct_rate: float = 0.5       # pop readout targets
    incorrect_rate: float = 0.0

    def lr_at(self, epoch: int) -> float:
        if self.lr_schedule == "constant" or self.epochs <= 1:
            return self.lr
        frac = epoch / (self.epochs - 1)
        low = self.lr * self.lr_final_fraction
        return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * frac))


def batches(n: int, batch_size: int, seed: int, epoch: int):
    order = np.random.default_rng([int(seed), 2, int(epoch)]).permutation(n)
    for i in range(n // batch_size):
        yield order[i * batch_size:(i + 1) * batch_size]


def to_input(spikes: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(spikes)).to(device=device, dtype=torch.float32)


def train_epochs(model: IPDNet, epoch_data: Callable[[int], tuple[np.ndarray, np.ndarray]], optim: OptimConfig,
                 seed: int, device="cpu", start_epoch: int = 0, optimizer_state: dict | None = None,
                 history: list | None = None, on_epoch_end: Callable | None = None,
                 on_batch_end: Callable | None = None) -> list[dict]:
    """Train for epochs ``start_epoch .. optim.epochs-1``. ``epoch_data(e)`` returns (spikes bool
    (n, T, fibres), labels int (n,)). ``on_epoch_end(epoch, history, optimizer)`` may checkpoint.
    Returns the history: one dict per epoch (loss, train_batch_accuracy, lr, seconds)."""
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=optim.lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    history = list(history or [])
    readout = model.config.readout
    for epoch in range(start_epoch, optim.epochs):
        t0 = time.perf_counter()
        lr = optim.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        spikes, labels = epoch_data(epoch)
        losses, correct, seen = [], 0, 0
        model.train()
        for idx in batches(len(labels), optim.batch_size, seed, epoch):
            x = to_input(spikes[idx], device)
            y = torch.from_numpy(labels[idx]).to(device)
            scores = model(x, traces=False)["scores"]
            loss = readout_loss(scores, y, readout, optim.correct_rate, optim.incorrect_rate)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.project()
            losses.append(loss.item())
            correct += int((scores.argmax(1) == y).sum())
            seen += len(idx)
            if on_batch_end is not None:
                on_batch_end()
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                        "train_batch_accuracy": correct / max(seen, 1), "lr": lr,
                        "seconds": time.perf_counter() - t0})
        if on_epoch_end is not None:
            on_epoch_end(epoch, history, optimizer)
    return history


def save_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, history: list[dict],
                    **meta) -> None:
    """Write a training checkpoint atomically: the model's and the optimiser's state, the history and
    ``meta`` (plain values and tensors only, so that :func:`load_checkpoint` unpickles no code).
    :func:`train_epochs` continues from it with ``start_epoch=len(history)``."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({**meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history}, tmp)


def load_checkpoint(path) -> dict:
    """The state :func:`save_checkpoint` wrote; a damaged file (or one that is no training
    checkpoint) is a one-line UserError naming it."""
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, pickle and torch raise many types on damaged files
        if isinstance(exc, pickle.UnpicklingError):  # torch's text here advises weights_only=False: unsafe
            reason = "damaged, or holds pickled Python objects, which are never loaded"
        else:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            first = lines[0].split(". This is an internal miniz error")[0][:200] if lines else ""
            reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        raise UserError(f"cannot read checkpoint {path} ({reason})") from None
    if not isinstance(state, dict) or not all(key in state for key in TRAINING_STATE):
        raise UserError(f"{path} is not a training checkpoint (no model, optimizer and history)")
    return state


def training_state_problem(state: dict) -> str | None:
    """What is wrong with the model, optimizer and history of a loaded checkpoint (None: nothing;
    :func:`state_misfit` then says whether they fit the network to train)."""
    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    model, optimizer, history = (state[k] for k in TRAINING_STATE)
    if not isinstance(model, dict) or not model or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        return "'model' is not a dict of tensors"
    if not all(v.is_floating_point() and bool(torch.isfinite(v).all()) for v in model.values()):
        return "'model' holds non-float or non-finite values"
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
            and isinstance(optimizer.get("param_groups"), list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list)
                    and all(isinstance(i, int) for i in g["params"]) for g in optimizer["param_groups"])
            and all(isinstance(i, int) and isinstance(s, dict) for i, s in optimizer["state"].items())):
        return "'optimizer' is not a torch optimizer state"
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        return "'history' is not a list of epoch records"
    for epoch, record in enumerate(history, start=1):
        if (record.keys() != history[0].keys() or not all(map(number, record.values()))   # numbers before ==
                or record.get("epoch") != epoch or not {"loss", "train_batch_accuracy"} <= record.keys()):
            return f"'history' record {epoch} is damaged"
    return None


def state_misfit(state: dict, model: torch.nn.Module) -> str | None:
    """Why a checkpoint's model and optimizer state cannot continue training ``model`` (None: they can):
    every tensor must have the shape and dtype of a fresh state's, every optimizer setting its value."""
    expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    if {k: (tuple(v.shape), v.dtype) for k, v in state["model"].items()} != expected:
        return "its tensors do not fit this network"
    fresh, saved = _fresh_optimizer_state(model), state["optimizer"]
    groups = saved["param_groups"]
    if len(groups) != len(fresh["param_groups"]) or not all(
            group.keys() == like.keys() and isinstance(group["lr"], float) and np.isfinite(group["lr"])
            and all(_same_plain(group[k], like[k]) for k in like if k != "lr")   # lr: set every epoch
            for group, like in zip(groups, fresh["param_groups"])):
        return "its optimizer settings are not those of this training"
    for index, per_param in saved["state"].items():
        like = fresh["state"].get(index)
        if like is None or per_param.keys() != like.keys() or not all(
                isinstance(v, torch.Tensor) and v.shape == like[k].shape and v.dtype == like[k].dtype
                and bool(torch.isfinite(v).all()) and (k != "step" or bool((v >= 0).all()))
                for k, v in per_param.items()):
            return "its optimizer state does not fit this network"
    return None


def _fresh_optimizer_state(model) -> dict:
    """The state dict of the optimizer that :func:`train_epochs` builds (Adam),
    after one step that changes nothing (zero gradients, on a copy of ``model``)."""
    import copy

    clone = copy.deepcopy(model)
    optimizer = torch.optim.Adam(clone.parameters())
    for p in clone.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return optimizer.state_dict()


def _same_plain(a, b) -> bool:
    """Equal plain values (numbers, bools, None, str, tuples and lists of them) of the same types."""
    if isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same_plain, a, b))
    return type(a) is type(b) and a == b


def checkpoint_to_resume(path, *, resume: bool, force: bool, label: str, what: str, fresh: str,
                         read: Callable[[Path], dict] | None = None) -> dict | None:
    """The state of the checkpoint at ``path`` to continue from, or None to start afresh. A checkpoint
    without ``resume`` is refused (one line naming --resume and --force) unless ``force``, which
    discards it; with ``resume`` it is read by ``read`` (default :func:`load_checkpoint`; the caller
    then checks that it is one of its settings); ``resume`` without a checkpoint says so on stderr
    (``label``: ``fresh``). ``what``: the interrupted work, for the refusal ("training", "run")."""
    from ..progress import note

    path = Path(path)
    if not path.is_file():
        if resume:
            note(f"{label}: --resume: no checkpoint {path}, {fresh}")
        return None
    if not resume:
        if force:
            path.unlink()
            return None
        raise UserError(f"{path.parent} holds an interrupted {what} ({path.name}): pass --resume to continue it, "
                        "or --force to start over")
    return (read or load_checkpoint)(path)


@torch.no_grad()
def predict(model: IPDNet, spikes: np.ndarray, batch_size: int = 256, device="cpu",
            keep_traces: bool = False) -> dict:
    """Run a model on dense spikes (n, T, fibres). Returns numpy ``scores`` (n, classes) and, with
    ``keep_traces``, ``output`` (n, T, n_out) and ``hidden_spikes`` (n, T, n_hidden)."""
    model.to(device)
    model.eval()
    parts: dict[str, list] = {"scores": [], "output": [], "hidden_spikes": []}
    for lo in range(0, spikes.shape[0], batch_size):
        out = model(to_input(spikes[lo:lo + batch_size], device))
        parts["scores"].append(out["scores"].cpu().numpy())
        if keep_traces:
            parts["output"].append(out["output"].cpu().numpy())
            if "hidden_spikes" in out:
                parts["hidden_spikes"].append(out["hidden_spikes"].cpu().numpy())
    result = {"scores": np.concatenate(parts["scores"])}
    if keep_traces:
        result["output"] = np.concatenate(parts["output"])
        if parts["hidden_spikes"]:
            result["hidden_spikes"] = np.concatenate(parts["hidden_spikes"])
    return result
