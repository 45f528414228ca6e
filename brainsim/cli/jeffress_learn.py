"""``brainsim jeffress-learn``: a Jeffress circuit that learns its delay lines, then localises tones."""
from __future__ import annotations

DESCRIPTION = """\
Train a Jeffress coincidence-detector array whose delay lines wire themselves, then evaluate it as
'brainsim jeffress' evaluates the hand-wired array. Each detector has a lagging-variable delay line
from each ear (a chain of first-order stages whose time constant is a state variable, so the delay
can change during the run). At every detector spike a local rule moves the detector's delay
difference by the lines' timing mismatch (how much later than its delay each line's input arrived);
lateral inhibition, an adaptive threshold and a repulsion of detectors that fire together make the
detectors share the tones, so their best IPDs spread over the period. Training is one Brian2 run
(no Python between tones); the circuit is then frozen, its tuning curves measured, and 200 test
tones decoded by the population vector.
"""

EPILOG = """\
examples:
  brainsim jeffress-learn                                  (1000 tones, cpp_standalone)
  brainsim jeffress-learn --init equal --seed 2 --plot learn.png --save learn.json
  brainsim jeffress-learn --w-inh 0 --theta-plus 0 --no-winner-only   (ablation: no competition)
  brainsim jeffress-learn --theta-plus 0                   (ablation: no homeostasis)
  brainsim jeffress-learn --presentations 50 --detectors 8 --test 20 --device runtime --json
"""


def add_parser(subparsers) -> None:
    import argparse

    from ..experiments.jeffress_learning import JeffressLearnConfig
    from .options import add_options

    p = subparsers.add_parser("jeffress-learn", help="Jeffress circuit that learns its delays (lagging variables)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plot", metavar="FILE.png", help="write the figure: delays over training, best-IPD tiling "
                   "against the hand-wired array, tuning curves, error against the true IPD")
    p.add_argument("--save", metavar="FILE.json", help="write the JSON summary to this file")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead of a text summary")
    p.set_defaults(func=run, config_options=add_options(p, JeffressLearnConfig))


def run(args) -> int:
    from ..io import check_figure_path, check_writable, to_json, write_json

    if args.plot:
        check_figure_path(args.plot)
    if args.save:
        check_writable(args.save)
    config = args.config_options.build(args)
    config.device.check_applies(args.config_options.given(args))
    from ..circuits.jeffress import JeffressParams
    from ..experiments.jeffress_learning import summary, train_and_evaluate

    result = train_and_evaluate(config, progress=True)
    out = summary(result)
    hand_wired = JeffressParams(n_detectors=config.circuit.n_detectors).best_ipd_rad
    if args.plot:
        from ..plotting.jeffress_learning import plot_learning

        plot_learning(result, hand_wired, args.plot)
        out["plot"] = args.plot
    if args.save:
        write_json(args.save, out)
    if args.json:
        print(to_json(out, indent=None))
        return 0
    cov, cfg = out["coverage"], config
    mae = "none (all test tones silent)" if out["mae_deg"] is None else f"{out['mae_deg']:.2f} deg"
    print(f"self-wiring Jeffress circuit: {cfg.circuit.n_detectors} detectors, init {cfg.circuit.init}, "
          f"{cfg.training.n_presentations} training tones, seed {cfg.seed}, device {cfg.device.name}")
    print(f"  training       {out['wall_s']['training']:.1f} s wall, {out['cpu_s']['training']:.1f} s CPU "
          f"(simulation {out['wall_s']['training_simulation']:.1f} s)")
    print(f"  coverage       {cov['detectors_inside']} best IPDs in (-90, 90) deg, widest gap "
          f"{cov['max_gap_deg']:.1f} deg (target <= 20)")
    print(f"  test MAE       {mae} over {out['n_test']} tones (target <= 5; "
          f"{100 * out['fraction_within_7.5_deg']:.1f} % within 7.5 deg)")
    if out["mae_tuning_rates_deg"] is not None:
        print(f"  without noise  {out['mae_tuning_rates_deg']:.2f} deg decoding the tuning curves' mean rates "
              f"at the test IPDs (test tones: {out['mean_test_rate_hz']:.1f} Hz per detector)")
    for name, path in (("figure", args.plot), ("summary", args.save)):
        if path:
            print(f"  {name:<14} {path}")
    return 0
