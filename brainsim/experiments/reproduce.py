"""Reproducing a model directory from its manifest's command (``bench/bench_reproduce.py``).

Every trained model directory records in ``manifest.json`` the command that made it
(``brainsim ipd train ... --out DIR``). :func:`reproduce_model` runs that command again, with
``--out`` pointing to a scratch directory, in a subprocess of a chosen Python (this package first on
its path), and :func:`compare_model_dirs` compares the result with the original:

* **bit-identical weights are required** where the training is deterministic: on the CPU (either
  backend, any ``--threads``; on CUDA only with ``--deterministic`` and the same GPU), with the same
  versions (Python, torch, numpy, numba), the same torch CPU capability (the vector instruction set
  torch's kernels were dispatched to, e.g. ``AVX512`` or ``AVX2``: the same program gives other roundings on the other one, and IPD training
  amplifies a last-bit difference into a different network) and the same processor model
  (:func:`brainsim.snn.determinism.cpu_identity`: two AVX512 machines were measured to round
  differently too). docs/ipd_training.md, "Determinism", has the measurements;
* otherwise (CUDA, other versions, another processor, or a manifest that does not record its
  processor) the **test accuracy must agree within a tolerance**: by default three standard errors
  of the original's test accuracy on its test set, at least 0.5 points (:func:`accuracy_tolerance`),
  since a last-bit difference grows into a differently trained network.
"""
from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..netspec.modeldir import MANIFEST, WEIGHTS, read_manifest

# Versions whose equality (with the CPU capability) makes a CPU training run repeat bit for bit.
VERSION_KEYS = ("python", "torch", "numpy", "numba")
DEFAULT_TOLERANCE = 0.005  # the smallest test-accuracy tolerance, as a fraction (0.5 points)


def accuracy_tolerance(manifest: dict, floor: float = DEFAULT_TOLERANCE) -> float:
    """Three standard errors sqrt(p (1 - p) / n) of the manifest's test accuracy p on its n test
    stimuli, at least ``floor`` (fractions)."""
    scores = manifest.get("scores") or {}
    p, n = float(scores.get("test_accuracy", 0.5)), int(scores.get("n_test") or 0)
    return max(floor, 3.0 * (p * (1.0 - p) / n) ** 0.5) if n > 0 else floor


def model_directories(root) -> list[Path]:
    """The model directories (those holding a manifest) directly below ``root``, sorted by name."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()) if root.is_dir() else []


def reproduction_argv(command: str, out_dir) -> list[str]:
    """The arguments after ``brainsim`` of a manifest's ``command`` with its ``--out`` replaced by
    ``out_dir``. UserError if the command is not a ``brainsim`` command with one ``--out``."""
    try:
        words = shlex.split(command or "")
    except ValueError as exc:
        raise UserError(f"cannot parse the recorded command {command!r}: {exc}") from None
    if not words or Path(words[0]).name != "brainsim":
        raise UserError(f"the recorded command {command!r} is not a brainsim command")
    args, n_out, i = [], 0, 1
    while i < len(words):
        word = words[i]
        if word == "--out" and i + 1 < len(words):
            args += ["--out", str(out_dir)]
            n_out += 1
            i += 2
            continue
        if word.startswith("--out="):
            args.append(f"--out={out_dir}")
            n_out += 1
        else:
            args.append(word)
        i += 1
    if n_out != 1:
        raise UserError(f"the recorded command {command!r} does not name one output directory (--out)")
    return args


def _arrays(directory: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(directory / WEIGHTS, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {directory / WEIGHTS}: {exc}") from None


def cpu_capability(manifest: dict) -> str | None:
    """The torch CPU capability a manifest records (None for manifests written before it was)."""
    return (manifest.get("machine") or {}).get("cpu_capability")


def expects_identical(original: dict, reproduced: dict) -> tuple[bool, str]:
    """Whether the reproduction of ``original`` must have bit-identical weights, and why (or why not)."""
    devices = (original.get("device", "cpu"), reproduced.get("device", "cpu"))
    if devices != ("cpu", "cpu"):
        if not (devices == ("cuda", "cuda") and original.get("deterministic")):
            return False, "trained on CUDA without --deterministic: not bit-reproducible (docs/ipd_training.md)"
        g0, g1 = ((m.get("machine") or {}).get("gpu") for m in (original, reproduced))
        if g0 != g1:
            return False, f"other GPU: {g0} vs {g1}"
    v0, v1 = original.get("versions") or {}, reproduced.get("versions") or {}
    differ = [f"{k} {v0.get(k)} vs {v1.get(k)}" for k in VERSION_KEYS if v0.get(k) != v1.get(k)]
    if differ:
        return False, "other versions: " + ", ".join(differ)
    c0, c1 = cpu_capability(original), cpu_capability(reproduced)
    if c0 is not None and c1 is not None and c0 != c1:
        return False, f"other torch CPU capability: {c0} vs {c1}"
    p0, p1 = ((m.get("machine") or {}).get("cpu") for m in (original, reproduced))
    if p0 is None or p1 is None:
        return False, "processor model not recorded (manifest from before 2026-12-04): identity cannot be expected"
    if p0 != p1:
        return False, f"other processor: {p0} vs {p1}"
    return True, f"{devices[0].upper()} training, same versions, CPU capability and processor"


def compare_model_dirs(original, reproduced, tolerance: float | None = None) -> dict:
    """Compare two model directories trained by the same command. Returns a plain dict: whether
    the weights are identical, the largest absolute difference of any weight array, test accuracies,
    whether the training curves are identical (and the first epoch whose loss differs), whether bit
    identity was required, and ``passed``. ``tolerance`` (fraction; None: :func:`accuracy_tolerance`
    of the original) applies where identity is not required."""
    original, reproduced = Path(original), Path(reproduced)
    m0, m1 = read_manifest(original), read_manifest(reproduced)
    a0, a1 = _arrays(original), _arrays(reproduced)
    common = sorted(set(a0) & set(a1))
    shapes_match = all(a0[k].shape == a1[k].shape for k in common) and {"W2"} <= set(common)
    identical = shapes_match and all(np.array_equal(a0[k], a1[k]) for k in common)
    max_abs = (max(float(np.max(np.abs(a0[k].astype(np.float64) - a1[k].astype(np.float64)), initial=0.0))
                   for k in common) if shapes_match else float("inf"))
    loss0 = [r["loss"] for r in m0.get("training_curve", [])]
    loss1 = [r["loss"] for r in m1.get("training_curve", [])]
    first_diff = next((i + 1 for i, (x, y) in enumerate(zip(loss0, loss1)) if x != y),
                      None if len(loss0) == len(loss1) else min(len(loss0), len(loss1)) + 1)
    acc0, acc1 = float(m0["scores"]["test_accuracy"]), float(m1["scores"]["test_accuracy"])
    if tolerance is None:
        tolerance = accuracy_tolerance(m0)
    need_identical, reason = expects_identical(m0, m1)
    within = abs(acc1 - acc0) <= tolerance + 1e-12
    passed = identical if need_identical else within
    return {
        "model": original.name, "command": m0.get("command"), "identical_weights": bool(identical),
        "max_abs_weight_diff": max_abs, "arrays_compared": common,
        "arrays_only_in_original": sorted(set(a0) - set(a1)), "arrays_only_in_reproduction": sorted(set(a1) - set(a0)),
        "training_curve_identical": first_diff is None, "first_epoch_loss_differs": first_diff,
        "original_test_accuracy": acc0, "reproduced_test_accuracy": acc1, "accuracy_difference": acc1 - acc0,
        "tolerance": tolerance, "identity_required": need_identical, "requirement": reason,
        "original_versions": m0.get("versions"), "reproduced_versions": m1.get("versions"),
        "original_cpu_capability": cpu_capability(m0), "reproduced_cpu_capability": cpu_capability(m1),
        "reproduced_train_cpu_seconds": m1.get("train_cpu_seconds"), "passed": bool(passed),
    }


def _package_root() -> Path:
    return Path(__file__).resolve().parents[2]


def reproduce_model(model_dir, work_dir, *, python: str | None = None, tolerance: float | None = None,
                    timeout: float | None = None, env: dict | None = None) -> dict:
    """Run ``model_dir``'s manifest command into ``work_dir/<model name>`` (which must not hold a
    model yet) with ``python`` (default: this interpreter), this package first on its path, in
    ``work_dir``; then :func:`compare_model_dirs`. Adds ``cpu_seconds`` (user + system CPU of the
    whole subprocess), ``wall_seconds``, ``argv`` and, when the command failed, ``error`` (and
    ``passed`` False)."""
    model_dir, work_dir = Path(model_dir), Path(work_dir)
    manifest = read_manifest(model_dir)
    out_dir = work_dir / model_dir.name
    if (out_dir / MANIFEST).exists():
        raise UserError(f"{out_dir} already holds a model; give an empty work directory")
    argv = reproduction_argv(manifest.get("command"), out_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(_package_root()), *filter(None, [full_env.get("PYTHONPATH")])])
    cmd = [python or sys.executable, "-m", "brainsim", *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work_dir, env=full_env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    base = {"model": model_dir.name, "command": manifest.get("command"), "argv": cmd, "cpu_seconds": cpu,
            "wall_seconds": wall, "reproduction": str(out_dir)}
    if proc.returncode != 0 or not (out_dir / MANIFEST).is_file():
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        return {**base, "passed": False, "error": f"exit {proc.returncode}: {tail[0]}",
                "original_test_accuracy": float(manifest["scores"]["test_accuracy"])}
    return {**base, **compare_model_dirs(model_dir, out_dir, tolerance)}

