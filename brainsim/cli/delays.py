"""brainsim delays: learn a synaptic delay (lagging variables in Brian2, or differentiable delays in torch)."""
from __future__ import annotations

import argparse
import math

from .args import add_device_arguments, positive_float, positive_int

DESCRIPTION = """\
Learn a delay. SG1 emits a random spike pattern, repeated; SG2 emits the same pattern OFFSET ms
earlier; the delay on SG2 is learned until the delayed SG2 coincides with SG1.

  lagging  Brian2: SG2 drives a K-stage lagging variable (mean delay K*tau_d, tau_d a state
           variable); every SG1 spike samples the on-time (K) and late (K+1) taps and the delay
           moves towards the stronger one during the run (see docs/delays.md).
  torch    a differentiable delay layer (interpolated shift) trained by gradient ascent on the
           coincidence of the exponentially filtered inputs.

--task toy runs seed 001's toy problem instead (torch: recover planted shifts of several inputs per
class). --task impulse simulates the lag chain's impulse response for several K and compares it with
the Erlang closed form (mean K*tau_d, sd sqrt(K)*tau_d)."""

EXAMPLES = """\
examples:
  brainsim delays --method lagging --offset-ms 7 --seed 1 --plot lagging.png
  brainsim delays --method torch --offset-ms 7 --seed 1 --json
  brainsim delays --task toy --seed 0 --plot toy.png
  brainsim delays --task impulse --plot impulse.png"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("delays", help="delay learning: lagging variables (Brian2) or differentiable delays (torch)",
                              description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default=None, help="lagging (Brian2) or torch (default: lagging; toy: torch)")
    p.add_argument("--task", default="offset",
                   help="offset (learn one offset, default), toy (seed 001's toy problem, torch), "
                        "impulse (lag-chain impulse response vs closed form, Brian2) or ipd (IPD network "
                        "with learnable input delays instead of fibre phase delays, torch; minutes)")
    p.add_argument("--offset-ms", type=positive_float, default=7.0,
                   help="how much earlier SG2 fires than SG1, in ms (default: 7)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the pattern (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--plot", metavar="FILE.png", help="figure: delay trajectory and alignment before/after "
                                                      "(impulse: responses against the closed form)")
    p.add_argument("--impulse-stages", default="1,2,4,8,16", help="K values of --task impulse (default: 1,2,4,8,16)")
    common = p.add_argument_group("task")
    common.add_argument("--max-delay-ms", type=positive_float, default=20.0, help="largest delay (default: 20)")
    common.add_argument("--initial-delay-ms", type=positive_float, default=None,
                        help="delay at the start (default: 1 ms, longer for large K*dt: tau_d >= 4/3 dt)")
    common.add_argument("--dt-ms", type=positive_float, default=0.1, help="time step in ms (default: 0.1)")
    common.add_argument("--pattern-spikes", type=positive_int, default=4, help="spikes per pattern (default: 4)")
    common.add_argument("--period-ms", type=positive_float, default=100.0, help="pattern period (default: 100)")
    common.add_argument("--min-gap-ms", type=positive_float, default=20.0,
                        help="minimum gap between pattern spikes (default: 20)")
    lag = p.add_argument_group("lagging")
    lag.add_argument("--stages", "-K", type=positive_int, default=8, help="stages K of the lag chain (default: 8)")
    lag.add_argument("--tau-ms", type=positive_float, default=None,
                     help="initial stage time constant tau_d (sets the initial delay K*tau_d - dt)")
    lag.add_argument("--duration-s", type=positive_float, default=1.5, help="simulated time (default: 1.5 s)")
    lag.add_argument("--tau-learn-ms", type=positive_float, default=200.0,
                     help="time constant of the delay's relaxation to the offset (default: 200)")
    lag.add_argument("--tau-c-ms", type=positive_float, default=50.0,
                     help="memory of the coincidence traces (default: 50)")
    add_device_arguments(p)
    tch = p.add_argument_group("torch")
    tch.add_argument("--epochs", type=positive_int, default=None, help="gradient steps (default: 150; toy: 300)")
    tch.add_argument("--surrogate", default="interpolate", help="interpolate (default) or straight_through")
    tch.add_argument("--filter-tau-ms", type=positive_float, default=5.0,
                     help="synaptic filter of the coincidence objective (default: 5)")
    tch.add_argument("--deterministic", action="store_true",
                     help="one torch thread and torch's deterministic algorithms: the result then does not depend "
                          "on the machine's core count, as --task ipd's otherwise does (docs/delays.md)")
    ipd = p.add_argument_group("ipd (--task ipd)")
    ipd.add_argument("--tau-hidden-ms", type=positive_float, default=None,
                     help="hidden membrane time constant (default: the seed protocol's 20 ms)")
    ipd.add_argument("--conditions", default="delays,phase,plain",
                     help="networks to train: delays (plain ears + learnable delays), phase (tutorial input "
                          "with fibre phase delays), plain (plain ears, no delays); default: all three")
    p.set_defaults(func=run)


def _without_arrays(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("traces", "loss", "initial")}


def _parse_stages(text: str) -> list[int]:
    from ..errors import UserError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--impulse-stages must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UserError(f"the number of stages K must be a positive integer, got {text!r}")
    return values


def run(args) -> int:
    if not args.deterministic:
        return _run(args)
    from ..errors import UserError

    if not (args.task in ("toy", "ipd") or (args.task == "offset" and args.method == "torch")):
        raise UserError("--deterministic applies to the torch runs (--method torch, --task toy, --task ipd); "
                        "the Brian2 runs repeat bit for bit without it")
    from ..snn.determinism import deterministic_torch

    with deterministic_torch():
        return _run(args)


def _run(args) -> int:
    from ..errors import UserError
    from ..io import check_writable, to_json

    if args.task not in ("offset", "toy", "impulse", "ipd"):
        raise UserError(f"unknown task {args.task!r}; choose offset, toy, impulse or ipd")
    if args.method is not None and args.method not in ("lagging", "torch"):
        raise UserError(f"unknown method {args.method!r}; choose lagging or torch")
    if args.task in ("toy", "ipd") and args.method == "lagging":
        raise UserError(f"the {args.task} task is learned with --method torch")
    if args.task == "impulse" and args.method == "torch":
        raise UserError("the impulse response belongs to the lagging method")
    method = args.method or ("torch" if args.task == "toy" else "lagging")
    if args.plot:
        check_writable(args.plot)
    if args.initial_delay_ms is not None and args.tau_ms is not None:
        raise UserError("give --initial-delay-ms or --tau-ms, not both")
    # Start short (the rule is local; the nearest positive lag is the matched one), but with
    # tau_d >= 4/3 dt: at tau_d = dt the Euler chain is a shift register without spread to learn from.
    short = math.ceil(((4 / 3) * args.stages - 1) * args.dt_ms * 10) / 10
    initial = max(1.0, short) if args.initial_delay_ms is None else args.initial_delay_ms
    if args.tau_ms is not None:
        initial = args.stages * args.tau_ms - args.dt_ms

    from ..experiments import delays as ex

    if args.task == "impulse":
        return _impulse(args, ex, to_json)
    if args.task == "toy":
        return _toy(args, ex, to_json)
    if args.task == "ipd":
        return _ipd(args, ex, to_json)

    pattern = ex.PatternParams(period_ms=args.period_ms, n_spikes=args.pattern_spikes,
                               min_gap_ms=args.min_gap_ms, dt_ms=args.dt_ms)
    if method == "lagging":
        from ..circuits.lagging import DelayLearnerParams
        from .args import device_config

        circuit = DelayLearnerParams(stages=args.stages, initial_delay_ms=initial, max_delay_ms=args.max_delay_ms,
                                     tau_c_ms=args.tau_c_ms, tau_learn_ms=args.tau_learn_ms, dt_ms=args.dt_ms)
        ex.validate_offset(args.offset_ms, circuit.max_delay_ms, circuit.min_delay_ms)
        params = ex.LaggingRunParams(stages=args.stages, initial_delay_ms=initial, max_delay_ms=args.max_delay_ms,
                                     tau_c_ms=args.tau_c_ms, tau_learn_ms=args.tau_learn_ms,
                                     duration_s=args.duration_s)
        config = device_config(args)
        if config.build_only:
            raise UserError("--build-only is not supported here: the delay is read from the run")
        result = ex.run_lagging(args.offset_ms, args.seed, params, pattern, device=config, record_trace=bool(args.plot))
        line = (f"lagging (K={args.stages}, {config.name}): learned delay {result['learned_delay_ms']:.3f} ms for offset "
                f"{args.offset_ms:g} ms, error {result['error_ms']:.3f} ms; {result['simulated_s']:g} s simulated, "
                f"within 0.5 ms after {result['simulated_s_needed']} s ({result['wall_s']:.1f} s wall)")
    else:
        if initial > args.max_delay_ms:
            raise UserError(f"initial delay {initial:g} ms is beyond the maximum delay {args.max_delay_ms:g} ms")
        ex.validate_offset(args.offset_ms, args.max_delay_ms)
        params = ex.TorchRunParams(initial_delay_ms=initial, max_delay_ms=args.max_delay_ms,
                                   filter_tau_ms=args.filter_tau_ms, epochs=args.epochs or 150,
                                   surrogate=args.surrogate)
        result = ex.run_torch(args.offset_ms, args.seed, params, pattern)
        line = (f"torch ({args.surrogate}): learned delay {result['learned_delay_ms']:.3f} ms for offset "
                f"{args.offset_ms:g} ms, error {result['error_ms']:.3f} ms; {result['epochs']} epochs, "
                f"within 0.5 ms after {result['epochs_needed']} epochs ({result['wall_s']:.1f} s wall)")
    if args.plot:
        from ..plotting.delays import plot_run

        plot_run(result, args.plot)
    print(to_json(_without_arrays(result), indent=None) if args.json else line)
    return 0


def _impulse(args, ex, to_json) -> int:
    stages = _parse_stages(args.impulse_stages)
    delay = 5.0 if args.initial_delay_ms is None else args.initial_delay_ms
    responses = ex.impulse_responses(stages, delay_ms=delay)
    if args.plot:
        from ..plotting.delays import plot_impulse_responses

        plot_impulse_responses(responses, args.plot)
    keys = ("stages", "tau_ms", "mean_ms", "expected_mean_ms", "sd_ms", "expected_sd_ms", "max_abs_diff", "peak")
    if args.json:
        print(to_json({"impulse_response": [{k: r[k] for k in keys} for r in responses]}, indent=None))
    else:
        for r in responses:
            print(f"K={r['stages']:>2}: mean {r['mean_ms']:.3f} ms (K*tau_d {r['expected_mean_ms']:.3f}), "
                  f"sd {r['sd_ms']:.3f} ms (sqrt(K)*tau_d {r['expected_sd_ms']:.3f}), "
                  f"max |sim - Erlang| {100 * r['max_abs_diff'] / r['peak']:.1f}% of the peak")
    return 0


def _toy(args, ex, to_json) -> int:
    result = ex.toy_problem(args.seed, ex.ToyParams(epochs=args.epochs or 300, surrogate=args.surrogate))
    if args.plot:
        from ..plotting.delays import plot_toy

        plot_toy(result, args.plot)
    if args.json:
        summary = _without_arrays(result)
        summary.update(planted=result["planted"], learned=result["learned"].round(3))
        print(to_json(summary, indent=None))
    else:
        p = result["params"]
        print(f"toy problem (seed {args.seed}): {p['classes']} classes x {p['inputs'] - 1} shifted inputs; "
              f"recovered {100 * result['recovered_fraction']:.1f}% within 0.5 step, mean |error| "
              f"{result['mean_abs_error']:.3f} steps ({result['wall_s']:.1f} s)")
    return 0


def _ipd(args, ex, to_json) -> int:
    import sys

    from ..errors import UserError

    conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    unknown = [c for c in conditions if c not in ("delays", "phase", "plain")]
    if unknown or not conditions:
        raise UserError(f"unknown condition(s) {', '.join(unknown) or '(none)'}; choose from delays, phase, plain")
    params = ex.IPDDelayParams(epochs=args.epochs, tau_hidden_ms=args.tau_hidden_ms, surrogate=args.surrogate)
    out = ex.run_ipd_delays(args.seed, params, conditions=conditions, progress=sys.stderr.isatty())
    if args.plot:
        from ..plotting.delays import plot_ipd

        plot_ipd(out, args.plot)
    if args.json:
        summary = {"seed": out["seed"], "protocol": out["protocol"], "params": out["params"],
                   "results": {k: {kk: vv for kk, vv in v.items() if kk != "delays_ms"}
                               for k, v in out["results"].items()}}
        print(to_json(summary, indent=None))
    else:
        for name, r in out["results"].items():
            print(f"ipd {name:>6}: test accuracy {100 * r['test_accuracy']:.1f}%, mean |error| "
                  f"{r['test_mae_deg']:.1f} deg ({r['train_seconds']:.0f} s training)")
    return 0
