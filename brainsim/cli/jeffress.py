"""``brainsim jeffress``: localise a tone with the Jeffress delay-line circuit."""
from __future__ import annotations

from .args import (add_device_arguments, device_config, float_in_range, positive_float, positive_int,
                   nonnegative_float, nonnegative_int)

DESCRIPTION = """\
Simulate the Jeffress (1948) sound-localisation circuit in Brian2: Poisson auditory-nerve fibres of
two ears, driven by a pure tone with the given interaural phase difference (IPD), project through
axonal delay lines onto an array of coincidence-detector neurons whose best IPDs tile the whole
period. A population-vector decoder turns the detector spike counts into a continuous IPD estimate.
"""

EPILOG = """\
examples:
  brainsim jeffress --ipd 30
  brainsim jeffress --ipd -60 --freq 30 --detectors 48 --plot jeffress.png
  brainsim jeffress --ipd 45 --json
  brainsim jeffress --ipd 30 --device cpp_standalone --threads 2
  brainsim jeffress --ipd 30 --device cuda_standalone --build-only --build-dir cuda_project
"""


def add_parser(subparsers) -> None:
    import argparse

    p = subparsers.add_parser("jeffress", help="Jeffress coincidence-detection circuit: estimate an IPD",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ipd", type=float_in_range(-180.0, 180.0, " degrees"), required=True, metavar="DEG",
                   help="interaural phase difference in degrees, -180..180 (positive: ear 1 leads)")
    p.add_argument("--freq", type=positive_float, default=20.0, metavar="HZ", help="tone frequency (default 20)")
    p.add_argument("--duration", type=positive_float, default=100.0, metavar="MS",
                   help="stimulus duration in ms (default 100)")
    p.add_argument("--fibres", type=positive_int, default=100, metavar="N", help="fibres per ear (default 100)")
    p.add_argument("--detectors", type=positive_int, default=36, metavar="N",
                   help="coincidence detectors tiling the period (default 36, at least 3)")
    p.add_argument("--envelope-power", type=nonnegative_float, default=2.0, metavar="K",
                   help="rate = rate_max * (0.5 (1 + sin theta))^K (default 2)")
    p.add_argument("--rate-max", type=nonnegative_float, default=600.0, metavar="HZ",
                   help="peak fibre rate (default 600)")
    p.add_argument("--phase-delays", action="store_true",
                   help="fibres carry the tutorial's phase delays 0..pi/2 (compensated by the delay lines)")
    p.add_argument("--seed", type=nonnegative_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--plot", metavar="FILE.png", help="write the tuning curve with the estimate, and rasters")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    add_device_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import UserError
    from ..io import check_writable, to_json

    if args.plot:
        check_writable(args.plot)
    if args.detectors < 3:
        raise UserError("--detectors must be at least 3")

    from ..circuits.jeffress import JeffressParams
    from ..experiments.jeffress import jeffress_summary, simulate_jeffress
    from ..stimuli.ipd import IPDStimulusParams

    try:
        stimulus = IPDStimulusParams(fibres_per_ear=args.fibres, rate_max_hz=args.rate_max,
                                     envelope_power=args.envelope_power, freq_hz=args.freq,
                                     duration_ms=args.duration, phase_delays=args.phase_delays)
        circuit = JeffressParams(n_detectors=args.detectors, freq_hz=args.freq)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    run_ = simulate_jeffress(args.ipd, circuit=circuit, stimulus=stimulus, seed=args.seed,
                             device=device_config(args))
    if not run_.ran:
        print(f"generated the {args.device} project in {args.build_dir or 'a temporary directory'} "
              "(--build-only: not run)")
        return 0
    summary = jeffress_summary(run_)
    if args.plot:
        from ..plotting.jeffress import plot_jeffress_trial

        plot_jeffress_trial(run_, args.plot)
        summary["plot"] = args.plot
    if args.json:
        print(to_json(summary, indent=None))
        return 0
    if summary["silent"]:
        print(f"IPD {summary['ipd_deg']:.1f} deg: no detector spiked, no estimate "
              "(try more fibres, a higher rate or a longer stimulus)")
        return 0
    counts = summary["detector_counts"]
    print(f"Jeffress circuit: {args.detectors} detectors, {args.fibres} fibres/ear, {args.freq:g} Hz tone, "
          f"{args.duration:g} ms, device {args.device}")
    print(f"  true IPD       {summary['ipd_deg']:8.2f} deg  (ITD {summary['itd_ms']:.3f} ms)")
    print(f"  estimate       {summary['estimate_deg']:8.2f} deg  (population vector)")
    print(f"  error          {summary['error_deg']:8.2f} deg")
    print(f"  peak detector  {summary['peak_detector_ipd_deg']:8.2f} deg  "
          f"({max(counts)} spikes; {summary['detector_spikes']} detector spikes in all)")
    if args.plot:
        print(f"  figure         {args.plot}")
    return 0
