"""brainsim delays: learn a synaptic delay (lagging variables in Brian2, or differentiable delays in torch)."""
from __future__ import annotations

import argparse

from .args import add_overwrite_options, overwrite_from, positive_float, rerun_with_resume

TASKS = ("offset", "toy", "impulse", "ipd")
METHODS = ("lagging", "torch")
SHARED_TASK = ("initial_delay_ms", "max_delay_ms")   # one option each, for both methods
SHARED_TORCH = ("epochs", "surrogate")               # torch, toy and ipd

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
the Erlang closed form (mean K*tau_d, sd sqrt(K)*tau_d). --task ipd trains IPD networks with learnable
input delays, with fibre phase delays and with neither (minutes); with --out DIR it writes summary.json
and delays_ms.npy there and checkpoints after every epoch, and --resume continues a killed run."""

EXAMPLES = """\
examples:
  brainsim delays --method lagging --offset-ms 7 --seed 1 --plot lagging.png
  brainsim delays --method torch --offset-ms 7 --seed 1 --json
  brainsim delays --task toy --seed 0 --plot toy.png
  brainsim delays --task impulse --plot impulse.png
  brainsim delays --task ipd --seed 0 --out runs/ipd_delays                # minutes; checkpoints every epoch
  brainsim delays --task ipd --seed 0 --out runs/ipd_delays --resume       # continue it after a kill"""


def add_parser(subparsers) -> None:
    from ..devices import DeviceConfig
    from ..experiments.delays import (IPD_CHECKPOINT, IPD_DELAYS, IPD_SUMMARY, DelayTask, ImpulseParams,
                                      IPDDelayParams, LaggingRunParams, ToyParams, TorchRunParams)
    from .options import add_options, section

    p = subparsers.add_parser("delays", help="delay learning: lagging variables (Brian2) or differentiable delays (torch)",
                              description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default=None, choices=METHODS,
                   help="lagging (Brian2) or torch (default: lagging; toy: torch)")
    p.add_argument("--task", default="offset", choices=TASKS,
                   help="offset (learn one offset, default), toy (seed 001's toy problem, torch), "
                        "impulse (lag-chain impulse response vs closed form, Brian2) or ipd (IPD network "
                        "with learnable input delays instead of fibre phase delays, torch; minutes)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--plot", metavar="FILE.png", help="figure: delay trajectory and alignment before/after "
                                                      "(impulse: responses against the closed form)")
    task = add_options(p, DelayTask)
    impulse = add_options(p, ImpulseParams, notes={"stages": f"--initial-delay-ms sets their delay, default {ImpulseParams().delay_ms:g} ms"})
    add_options(p, LaggingRunParams, only=SHARED_TASK, title="task")
    lagging = add_options(p, LaggingRunParams, exclude=SHARED_TASK, shared=SHARED_TASK, title="lagging")
    section(p, "lagging").add_argument("--tau-ms", type=positive_float, default=None, metavar="MS",
                                      help="initial stage time constant tau_d (sets the initial delay K*tau_d - dt)")
    device = add_options(p, DeviceConfig, title="simulation device (lagging, impulse)")
    torch = add_options(p, TorchRunParams, exclude=SHARED_TASK, shared=SHARED_TASK, title="torch",
                        notes={"epochs": "toy: 300; ipd: the preset's"})
    toy = add_options(p, ToyParams, only=(), shared=SHARED_TORCH)
    ipd = add_options(p, IPDDelayParams, only=("tau_hidden_ms", "hidden", "n_train", "n_test", "conditions"),
                      shared=SHARED_TORCH, title="ipd (--task ipd)")
    ipd_section = section(p, "ipd (--task ipd)")
    ipd_section.add_argument("--out", metavar="DIR", default=None,
                             help=f"output directory: {IPD_SUMMARY} (what --json prints) and {IPD_DELAYS} (the learned "
                                  f"delays, with the delays condition) at the end, and {IPD_CHECKPOINT} after every "
                                  "epoch while the run is unfinished (default: none, nothing written but --plot)")
    ipd_section.add_argument("--resume", action="store_true",
                             help="continue the interrupted run in --out from its checkpoint (same options; "
                                  "finished conditions are kept; the result equals an uninterrupted run's)")
    add_overwrite_options(ipd_section, f"a finished run ({IPD_SUMMARY})")
    section(p, "torch").add_argument(
        "--deterministic", action="store_true",
        help="one torch thread and torch's deterministic algorithms: the result then does not depend on the "
             "machine's core count, as --task ipd's otherwise does (docs/delays.md)")
    p.set_defaults(func=run, task_options=task, impulse_options=impulse, lagging_options=lagging,
                   device_options=device, torch_options=torch, toy_options=toy, ipd_options=ipd,
                   resume_hint=_resume_hint)


def _resume_hint(args, command: str) -> str | None:
    """How to continue an interrupted run: only --task ipd with --out checkpoints."""
    return rerun_with_resume(args, command) if args.task == "ipd" and args.out is not None else None


def run(args) -> int:
    from ..errors import UserError

    if not args.deterministic:
        return _run(args)
    torch_run = args.task in ("toy", "ipd") or (args.task == "offset" and args.method == "torch")
    if not torch_run:
        raise UserError("--deterministic applies to the torch runs (--method torch, --task toy, --task ipd); "
                        "the Brian2 runs repeat bit for bit without it")
    from ..snn.determinism import deterministic_torch

    with deterministic_torch():
        return _run(args)


def _run(args) -> int:
    from dataclasses import replace

    from ..errors import UserError
    from ..io import check_figure_path, to_json

    if args.task in ("toy", "ipd") and args.method == "lagging":
        raise UserError(f"the {args.task} task is learned with --method torch")
    if args.task == "impulse" and args.method == "torch":
        raise UserError("the impulse response belongs to the lagging method")
    method = args.method or ("torch" if args.task == "toy" else "lagging")
    device_given = args.device_options.given(args)
    if args.task in ("toy", "ipd") or (args.task == "offset" and method == "torch"):
        if device_given:
            flags = ", ".join("--" + n.replace("_", "-") for n in device_given)
            raise UserError(f"{flags}: the Brian2 device options apply to --method lagging and --task impulse, "
                            "not to the torch runs; leave them out")
    else:
        device = args.device_options.build(args)
        device.check_applies(device_given)
        if device.build_only:
            raise UserError("--build-only is not supported here: the result is read from the run")
    out_flags = [flag for flag, on in (("--out", args.out is not None), ("--resume", args.resume),
                                       ("--force", args.force), ("--overwrite-shipped", args.overwrite_shipped)) if on]
    if args.task != "ipd" and out_flags:
        raise UserError(f"{out_flags[0]} applies to --task ipd (the other tasks take seconds and write only --plot)")
    if args.out is None and out_flags:
        raise UserError(f"{out_flags[0]} applies to the run in --out DIR; give --out")
    if args.plot:
        check_figure_path(args.plot)
    if "initial_delay_ms" in args and args.tau_ms is not None:
        raise UserError("give --initial-delay-ms or --tau-ms, not both")

    from ..experiments import delays as ex

    if args.task == "impulse":
        return _impulse(args, ex, to_json)
    if args.task == "toy":
        return _toy(args, ex, to_json)
    if args.task == "ipd":
        return _ipd(args, ex, to_json)

    task = args.task_options.build(args)
    pattern = task.pattern
    if method == "lagging":
        from ..circuits.lagging import delay_for_tau_ms, min_delay_ms

        params = args.lagging_options.build(args)
        if args.tau_ms is not None:
            initial = delay_for_tau_ms(params.circuit.stages, args.tau_ms, pattern.dt_ms)
            params = replace(params, circuit=replace(params.circuit, initial_delay_ms=initial))
        circuit = params.circuit
        circuit.check(pattern.dt_ms)
        ex.validate_offset(task.offset_ms, circuit.max_delay_ms, min_delay_ms(circuit.stages, pattern.dt_ms))
        config = args.device_options.build(args)
        run_ = ex.run_lagging(task.offset_ms, task.seed, params, pattern, device=config,
                              record_trace=bool(args.plot), progress=True)
        result = run_.summary
        line = (f"lagging (K={circuit.stages}, {config.name}): learned delay {result['learned_delay_ms']:.3f} ms for "
                f"offset {task.offset_ms:g} ms, error {result['error_ms']:.3f} ms; {result['simulated_s']:g} s "
                f"simulated, within {params.tolerance_ms:g} ms after {result['simulated_s_needed']} s "
                f"({result['wall_s']:.1f} s wall)")
    else:
        params = args.torch_options.build(args)
        ex.validate_offset(task.offset_ms, params.max_delay_ms)
        run_ = ex.run_torch(task.offset_ms, task.seed, params, pattern)
        result = run_.summary
        line = (f"torch ({params.surrogate}): learned delay {result['learned_delay_ms']:.3f} ms for offset "
                f"{task.offset_ms:g} ms, error {result['error_ms']:.3f} ms; {result['epochs']} epochs, "
                f"within {params.tolerance_ms:g} ms after {result['epochs_needed']} epochs ({result['wall_s']:.1f} s wall)")
    if args.plot:
        from ..plotting.delays import plot_run

        plot_run(run_, args.plot)
    print(to_json(result, indent=None) if args.json else line)
    return 0


def _impulse(args, ex, to_json) -> int:
    given = args.lagging_options.given(args)
    delay = {"delay_ms": given["initial_delay_ms"]} if "initial_delay_ms" in given else {}
    params = args.impulse_options.build(args, **delay)
    responses = ex.impulse_responses(params, device=args.device_options.build(args), progress=True)
    if args.plot:
        from ..plotting.delays import plot_impulse_responses

        plot_impulse_responses(responses, args.plot)
    if args.json:
        print(to_json({"impulse_response": [r.summary() for r in responses]}, indent=None))
    else:
        for r in responses:
            print(f"K={r.stages:>2}: mean {r.mean_ms:.3f} ms (K*tau_d {r.expected_mean_ms:.3f}), "
                  f"sd {r.sd_ms:.3f} ms (sqrt(K)*tau_d {r.expected_sd_ms:.3f}), "
                  f"max |sim - Erlang| {100 * r.max_abs_diff / r.peak:.1f}% of the peak")
    return 0


def _toy(args, ex, to_json) -> int:
    seed = args.task_options.build(args).seed
    result = ex.toy_problem(seed, args.toy_options.build(args))
    if args.plot:
        from ..plotting.delays import plot_toy

        plot_toy(result, args.plot)
    summary = result.summary
    if args.json:
        print(to_json({"seed": summary["seed"], "params": summary["params"], "planted": result.planted,
                       "learned": result.learned.round(3), **{k: v for k, v in summary.items()
                                                              if k not in ("seed", "params")}}, indent=None))
    else:
        p = summary["params"]
        print(f"toy problem (seed {seed}): {p['classes']} classes x {p['inputs'] - 1} shifted inputs; "
              f"recovered {100 * summary['recovered_fraction']:.1f}% within 0.5 step, mean |error| "
              f"{summary['mean_abs_error']:.3f} steps ({summary['wall_s']:.1f} s)")
    return 0


def _ipd(args, ex, to_json) -> int:
    import sys

    seed = args.task_options.build(args).seed
    params = args.ipd_options.build(args)
    out = ex.run_ipd_delays(seed, params, progress=sys.stderr.isatty(), out_dir=args.out, resume=args.resume,
                            allow=overwrite_from(args))
    if args.plot:
        from ..plotting.delays import plot_ipd

        plot_ipd(out, args.plot)
    if args.json:
        print(to_json(out.summary, indent=None))
    else:
        for name, r in out.summary["results"].items():
            print(f"ipd {name:>6}: test accuracy {100 * r['test_accuracy']:.1f}%, mean |error| "
                  f"{r['test_mae_deg']:.1f} deg ({r['train_seconds']:.0f} s training)")
    return 0
