"""Benchmark: how far can the IPD network family go? Per-step readout networks vs the LIF network.

    python bench/bench_ipd_ceiling.py [--units relu binary] [--hidden 128] [--epochs 20]
                                      [--model models/ipd_best] [--n-test 8192] [--test-seed 1]

The LIF network of ``--preset best`` scores about 90 %: its output is the time average of a linear
map of binary hidden spikes, and each hidden neuron sees (with tau 1 ms) essentially one 1-ms step of
input. This script trains the same shape of network without the spiking dynamics, to show what that
shape can reach on the same data:

  relu    h_t = relu(W1 x_t + b1), scores = mean_t (W2 h_t + b2)      graded, memoryless units
  binary  h_t = H(W1 x_t - 1),     scores = mean_t W2 h_t              binary, memoryless units with the
                                                                       LIF network's threshold and
                                                                       sigmoid surrogate (slope 5)

Both are trained on the best preset's protocol (fresh training stimuli every epoch, stream
[seed, 0, epoch]; 8192 per epoch, batch 128, Adam lr 0.005 with cosine decay to 5 %) and scored, like
``brainsim ipd evaluate --seed S``, on fresh test stimuli of stream [S, 1]. ``--model`` adds a trained
brainsim model evaluated on the same test stimuli. The gap between ``binary`` and ``relu`` is the cost of
binary units; the gap between the LIF model and ``binary`` the cost of the LIF dynamics (leak and the
seeds' one-step-late reset, which drops the input of the step after a spike).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainsim.errors import UserError  # noqa: E402
from brainsim.experiments.ipd import IPDEvaluation, evaluate_model, protocol_from  # noqa: E402
from brainsim.snn.core import spike_fn  # noqa: E402
from brainsim.snn.training import batches  # noqa: E402
from brainsim.stimuli.ipd import DEFAULT_CLASSES, TUTORIAL, test_stimuli, training_stimuli  # noqa: E402


class PerStepNet(torch.nn.Module):
    """Input (batch, T, 200) -> per-step hidden units -> per-step linear outputs, averaged over time."""

    def __init__(self, unit: str, n_in: int, n_hidden: int, n_classes: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        graded = unit == "relu"
        self.unit = unit
        self.fc1 = torch.nn.Linear(n_in, n_hidden, bias=graded)
        self.fc2 = torch.nn.Linear(n_hidden, n_classes, bias=graded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = self.fc1(x)
        hidden = torch.relu(current) if self.unit == "relu" else spike_fn(current - 1.0, 5.0)
        return self.fc2(hidden).mean(1)


def accuracy(scores: torch.Tensor, ipd: np.ndarray) -> float:
    return float((scores.argmax(1).numpy() == DEFAULT_CLASSES.to_class(ipd)).mean())


def train_per_step(unit: str, hidden: int, epochs: int, seed: int, test) -> tuple[float, float]:
    protocol = protocol_from("best", hidden=hidden, epochs=epochs, seed=seed)
    optim = protocol.optim_config()
    net = PerStepNet(unit, test.spikes.shape[2], hidden, DEFAULT_CLASSES.n_classes, seed)
    adam = torch.optim.Adam(net.parameters(), lr=optim.lr)
    t0 = time.process_time()
    for epoch in range(epochs):
        for group in adam.param_groups:
            group["lr"] = optim.lr_at(epoch)
        stim = training_stimuli(TUTORIAL, protocol.seed, protocol.n_train, epoch if protocol.fresh_data else None)
        x_all = torch.from_numpy(stim.spikes)
        y_all = torch.from_numpy(DEFAULT_CLASSES.to_class(stim.ipd))
        for idx in batches(len(y_all), optim.batch_size, seed, epoch):
            idx = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(net(x_all[idx].float()), y_all[idx])
            adam.zero_grad()
            loss.backward()
            adam.step()
        print(f"  {unit} epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}", file=sys.stderr, flush=True)
    cpu = time.process_time() - t0
    with torch.no_grad():
        scores = torch.cat([net(torch.from_numpy(test.spikes[i:i + 512]).float())
                            for i in range(0, len(test.ipd), 512)])
    return accuracy(scores, test.ipd), cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", nargs="+", choices=("relu", "binary"), default=["relu", "binary"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0, help="training seed (weights, data streams)")
    ap.add_argument("--model", help="a brainsim IPD model directory to score on the same test stimuli")
    ap.add_argument("--n-test", type=int, default=8192)
    ap.add_argument("--test-seed", type=int, default=1)
    args = ap.parse_args(argv)
    if min(args.hidden, args.epochs, args.n_test) < 1:
        ap.error("--hidden, --epochs and --n-test must be positive")
    if args.model:
        from brainsim.netspec import read_model

        try:  # before minutes of training, not after
            read_model(args.model)
        except UserError as exc:
            ap.error(str(exc))
    torch.set_num_threads(1)
    test = test_stimuli(TUTORIAL, args.test_seed, args.n_test)
    se = 100 * math.sqrt(0.9 * 0.1 / args.n_test)
    rows = []
    for unit in args.units:
        acc, cpu = train_per_step(unit, args.hidden, args.epochs, args.seed, test)
        rows.append((f"per-step {unit}, {args.hidden} hidden, {args.epochs} epochs", acc, f"{cpu:.0f} s CPU"))
    if args.model:
        result = evaluate_model(args.model, IPDEvaluation(seed=args.test_seed, n_test=args.n_test))
        rows.append((f"LIF model {args.model}", result["accuracy"], ""))
    print(f"== IPD ceiling: {args.n_test} fresh test stimuli, stream [{args.test_seed}, 1] "
          f"(standard error ~{se:.2f} points at 90 %) ==")
    for name, acc, note in rows:
        print(f"{name:<48} {100 * acc:6.2f} %  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
