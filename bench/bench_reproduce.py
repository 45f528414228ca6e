"""Every shipped model reproduced by its manifest's command (run once per change to a trainer).

For each model directory in models/ (or those given with --model), runs the ``command`` recorded
in its manifest.json again, with ``--out`` in a scratch directory, and compares weights and scores
with the shipped ones (``brainsim.experiments.reproduce``): bit-identical weights are required where
the training is deterministic (CPU, same versions, torch CPU capability and processor), otherwise the
test accuracy within --tolerance-points (default: three standard errors of the shipped test accuracy,
at least 0.5 points). Prints a table and exits 1 if any model fails.

    python bench/bench_reproduce.py                                   # all shipped models (~4 min CPU)
    python bench/bench_reproduce.py --model models/ipd_seed           # the quick one (~15 s)
    python bench/bench_reproduce.py --python /path/to/venv/bin/python # with another tested set
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainsim.errors import UserError  # noqa: E402
from brainsim.experiments.reproduce import model_directories, reproduce_model  # noqa: E402
from brainsim.io import to_json, write_text  # noqa: E402


def _versions(row: dict) -> str:
    v = row.get("reproduced_versions") or {}
    return ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "numpy", "numba") if k in v)


def table(rows: list[dict]) -> str:
    head = ("| model | command | identical weights | max abs dW | shipped test acc | reproduced test acc "
            "| required | CPU s | result |")
    lines = [head, "|---|---|---|---:|---:|---:|---|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | `{r['command']}` | - | - | {100 * r['original_test_accuracy']:.2f} % | - "
                         f"| - | {r['cpu_seconds']:.0f} | FAILED ({r['error']}) |")
            continue
        required = ("bit identity" if r["identity_required"]
                    else f"accuracy within {100 * r['tolerance']:.1f} points")
        lines.append(
            f"| {r['model']} | `{r['command']}` | {'yes' if r['identical_weights'] else 'no'} "
            f"| {r['max_abs_weight_diff']:.3g} | {100 * r['original_test_accuracy']:.2f} % "
            f"| {100 * r['reproduced_test_accuracy']:.2f} % | {required} | {r['cpu_seconds']:.0f} "
            f"| {'ok' if r['passed'] else 'FAILED'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="model directory (repeatable; default: every one in models/)")
    ap.add_argument("--python", default=sys.executable, help="interpreter that runs the commands (default: this one)")
    ap.add_argument("--tolerance-points", type=float,
                    help="allowed test-accuracy difference where bit identity is not required (default: three "
                         "standard errors of the shipped model's test accuracy, at least 0.5)")
    ap.add_argument("--work-dir", help="keep the reproductions here (default: a temporary directory, removed)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON here")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as markdown here")
    args = ap.parse_args(argv)

    models = [Path(m) for m in args.model] if args.model else model_directories(ROOT / "models")
    if not models:
        sys.exit("bench_reproduce: no model directories found")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_reproduce_") as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        for model in models:
            print(f"reproducing {model} ...", file=sys.stderr, flush=True)
            try:
                tolerance = None if args.tolerance_points is None else args.tolerance_points / 100
                row = reproduce_model(model, work, python=args.python, tolerance=tolerance)
            except UserError as exc:
                sys.exit(f"bench_reproduce: {exc}")
            rows.append(row)
            detail = row.get("error") or (f"identical weights: {row['identical_weights']}, "
                                          f"test accuracy {100 * row['original_test_accuracy']:.2f} -> "
                                          f"{100 * row['reproduced_test_accuracy']:.2f} %, {row['requirement']}")
            print(f"  {model.name}: {'ok' if row['passed'] else 'FAILED'} ({detail}); {row['cpu_seconds']:.0f} s CPU",
                  file=sys.stderr, flush=True)
    text = table(rows)
    print(f"== reproduction of the shipped models with {args.python} ({_versions(rows[0]) if rows else ''})")
    print(text)
    for r in rows:
        if "error" not in r and not r["training_curve_identical"]:
            print(f"{r['model']}: training loss first differs at epoch {r['first_epoch_loss_differs']}; "
                  f"CPU capability shipped {r['original_cpu_capability']}, here {r['reproduced_cpu_capability']}")
    if args.markdown:
        write_text(args.markdown, text + "\n")
    if args.json:
        write_text(args.json, to_json(rows) + "\n")
    failed = [r["model"] for r in rows if not r["passed"]]
    if failed:
        print(f"FAILED: {', '.join(failed)} not reproduced by the manifest's command")
        return 1
    print(f"all {len(rows)} models reproduced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
