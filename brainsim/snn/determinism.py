"""Deterministic torch runs: the ``--deterministic`` switch of ``brainsim ipd train`` and ``brainsim delays``.

Measured (docs/ipd_training.md, "Determinism"): on the CPU every torch trainer of the project repeats
bit for bit with the same number of threads. The IPD network's training does not even depend on that
number, but the learnable-delay network of ``brainsim delays --task ipd`` does, and torch runs as many
threads as the machine has cores unless told otherwise, so the same command gives other results on
machines with other core counts (or with ``OMP_NUM_THREADS`` set). On CUDA, several of torch's
default kernels add with atomics in a varying order.

:func:`deterministic_torch` removes both: one intra-op thread, ``torch.use_deterministic_algorithms``
(an operation without a deterministic implementation then raises, reported as a UserError), cuDNN
without autotuning and cuBLAS with a fixed workspace (``CUBLAS_WORKSPACE_CONFIG``, read when CUDA
starts, so it is set here only if CUDA has not started yet in this process).

Across machines, even with the same versions and the same torch CPU capability (AVX512), the
rounding differs with the processor model (measured 2026-12-04: ``models/ipd_seed`` retrained on a
second AVX512 machine differs from the first epoch's loss on), so a manifest records
:func:`cpu_identity` too.
"""
from __future__ import annotations

import hashlib
import os
import platform
from contextlib import contextmanager

from ..errors import UserError

CUBLAS_WORKSPACE = ":4096:8"


def cpu_identity() -> str:
    """The processor model as a short string: vendor, family / model / stepping and a hash of the
    instruction-set flags from /proc/cpuinfo on Linux (a virtual machine's model name is often
    generic), else :func:`platform.processor`. Two machines with the same identity round alike."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break   # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    if "flags" not in fields:
        return platform.processor() or platform.machine() or "unknown"
    flags = hashlib.sha256(" ".join(sorted(fields["flags"].split())).encode()).hexdigest()[:12]
    return (f"{fields.get('vendor_id', '?')} {fields.get('cpu family', '?')}/{fields.get('model', '?')}/"
            f"{fields.get('stepping', '?')} flags {flags}")


@contextmanager
def deterministic_torch(enabled: bool = True):
    """Run the block deterministically (see the module docstring); restores torch's settings after."""
    if not enabled:
        yield
        return
    import torch

    if not torch.cuda.is_initialized():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    except RuntimeError as exc:
        if "deterministic" not in str(exc):
            raise
        raise UserError(f"--deterministic: {str(exc).strip().splitlines()[0]}") from None
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2], previous[3]
