"""``brainsim compare``: torch vs Brian2 (cuba or coba) on the same IPD test stimuli.

Only the standard library is imported here; torch and Brian2 are imported when the command runs.
"""
from __future__ import annotations


EPILOG = """examples:
  brainsim compare --model models/ipd_seed --neuron cuba --n-test 256          # bit-exact torch in Brian2
  brainsim compare --model models/ipd_best --neuron coba --n-test 2048 --plot compare.png
  brainsim compare --model exported.nir --neuron cuba --json                      # a NIR export + side file
  brainsim compare --model models/ipd_seed --device cuda_standalone --build-only # CUDA code, no GPU needed

The model is a model directory, its weights.npz (manifest beside it) or a NIR file written by the
bridge (with its .brainsim.json side file). Test stimuli: stream [SEED, 1], as 'brainsim ipd evaluate'.
"""


def add_parser(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "compare", help="torch vs Brian2 (cuba / coba) on a trained IPD network",
        description="Simulate a trained IPD network in Brian2, all test stimuli side by side in one compiled "
                    "run, and compare with torch on the same stimuli: accuracy, MAE, identical predictions, "
                    "hidden and output spike totals side by side with their ratio, per-hidden-neuron spike-count "
                    "correlation, confusion matrices, wall times.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ..experiments.compare import CompareParams
    from .options import add_options

    parser.add_argument("--model", required=True, help="model directory, weights.npz or brainsim .nir export")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", default=None, help="write the comparison figure (PNG) here")
    parser.set_defaults(func=run, compare_options=add_options(parser, CompareParams))


def spike_count_lines(r: dict) -> list[str]:
    """The spike totals of both sides, side by side with their ratio (the summary's spike fields)."""
    lines = [f"  spikes        {'torch':>10} {'Brian2':>10}   Brian2/torch"]
    for layer in ("hidden", "output"):
        t, b, ratio = r[f"torch_{layer}_spikes"], r[f"brian2_{layer}_spikes"], r[f"{layer}_spike_ratio"]
        if t is None:
            why = ("no hidden layer (membrane-only model)" if layer == "hidden" else
                   f"the {r['readout']} readout's output layer does not spike")
            lines.append(f"    {layer:<11} {why}")
        else:
            lines.append(f"    {layer:<11} {t:>10,} {b:>10,}   " + (f"{ratio:.3f}" if ratio is not None else "-"))
    ratio = r["hidden_spike_ratio"]
    if r["neuron"] == "coba" and ratio is not None and abs(ratio - 1) > 0.1:
        lines.append(f"  note: Brian2's hidden layer fires {ratio:.2f}x torch's spikes, more than 10 % off "
                     "(the shipped models: 0.97-1.01; docs/bridge.md, 'Spike counts')")
    return lines


def run(args) -> int:
    import sys

    from ..experiments.compare import check_model_path, run_comparison
    from ..io import check_figure_path, to_json

    check_model_path(args.model)
    if args.plot:
        check_figure_path(args.plot)
    params = args.compare_options.build(args)
    params.device.check_applies(args.compare_options.given(args))
    config = params.device
    comparison = run_comparison(args.model, params, progress=True)
    r = comparison.summary
    if comparison.arrays is None:
        message = f"generated the {config.name} project in {r['project_dir']} (not run)"
        print(to_json(r) if args.json else message)
        return 0
    if args.plot:
        from ..plotting.compare import comparison_figure

        comparison_figure(r, args.plot, comparison.arrays.torch_counts, comparison.arrays.brian2_counts)
    if args.json:
        print(to_json(r))
        return 0
    lines = [
        f"model {r['model']} ({r['readout']} readout, {r['n_hidden']} hidden), {r['n_test']} test stimuli (seed {r['seed']})",
        f"Brian2 {r['neuron']} on {r['device']}",
        f"  accuracy      torch {100 * r['torch_accuracy']:.2f} %   Brian2 {100 * r['brian2_accuracy']:.2f} %   "
        f"(difference {100 * r['accuracy_difference']:+.2f} points)",
        f"  MAE           torch {r['torch_mae_deg']:.2f} deg   Brian2 {r['brian2_mae_deg']:.2f} deg",
        f"  identical predictions {100 * r['identical_predictions']:.2f} %",
    ]
    lines += spike_count_lines(r)
    if r.get("hidden_count_correlation_mean") is not None:
        lines.append(f"  hidden spike-count correlation per neuron (over stimuli): mean "
                     f"{r['hidden_count_correlation_mean']:.4f}")
    if "hidden_bins_identical" in r:
        lines.append(f"  identical hidden spike bins {100 * r['hidden_bins_identical']:.4f} % "
                     f"(spike trains identical: {'yes' if r['hidden_spike_trains_identical'] else 'no'})")
    lines.append(f"  wall time     torch {r['torch_seconds']:.2f} s   Brian2 build {r['brian2_build_seconds']:.1f} s, "
                 f"run {r['brian2_run_seconds']:.2f} s")
    lines.append("confusion matrices, rows: true class, columns: predicted class   (torch | Brian2)")
    for row_t, row_b in zip(r["torch_confusion"], r["brian2_confusion"]):
        lines.append("  " + " ".join(f"{v:4d}" for v in row_t) + "   | " + " ".join(f"{v:4d}" for v in row_b))
    if args.plot:
        lines.append(f"figure: {args.plot}")
    print("\n".join(lines))
    sys.stdout.flush()
    return 0
