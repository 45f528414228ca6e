"""``brainsim jeffress``: localise a tone with the Jeffress delay-line circuit."""
from __future__ import annotations

from .args import float_in_range

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
  brainsim jeffress --ipd 30 --refractory-ms 0 --export-nir jeffress.nir    # the detector array as NIR

--export-nir writes the circuit as a NIR graph (delay lines as Delay nodes, detectors as LIF; one input
bin = one simulation step, the fibres in the stimulus's order), which brainsim nir-run or another NIR
reader runs. NIR's LIF has no refractory period: with --refractory-ms 0 the graph is the circuit that
was simulated, up to the input a detector loses in its spike's own step (docs/nir.md).
"""


def add_parser(subparsers) -> None:
    import argparse

    from ..experiments.jeffress import IPD_RANGE_DEG, JeffressConfig
    from .options import add_options

    p = subparsers.add_parser("jeffress", help="Jeffress coincidence-detection circuit: estimate an IPD",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ipd", type=float_in_range(*IPD_RANGE_DEG, " degrees"), required=True, metavar="DEG",
                   help="interaural phase difference in degrees, -180..180 (positive: ear 1 leads)")
    p.add_argument("--plot", metavar="FILE.png", help="write the tuning curve with the estimate, and rasters")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    p.add_argument("--export-nir", metavar="FILE.nir", help="also write the detector array as a NIR graph")
    p.set_defaults(func=run, config_options=add_options(p, JeffressConfig))


def run(args) -> int:
    from ..io import check_figure_path, to_json

    if args.plot:
        check_figure_path(args.plot)
    from ..experiments.jeffress import jeffress_summary, simulate_jeffress

    config = args.config_options.build(args)
    config.device.check_applies(args.config_options.given(args))
    if args.export_nir:
        import sys

        from ..bridge.nir_jeffress import export_jeffress_nir

        export_jeffress_nir(config.circuit, config.stimulus, args.export_nir)
        note = (f"; its detectors are not refractory (the circuit's are, for {config.circuit.refractory_ms:g} ms: "
                "--refractory-ms 0 exports the circuit as simulated)" if config.circuit.refractory_ms > 0 else "")
        print(f"jeffress: wrote the NIR graph {args.export_nir}{note}", file=sys.stderr)
    run_ = simulate_jeffress(args.ipd, config, progress=True)
    device = config.device
    if not run_.ran:
        print(f"generated the {device.name} project in {device.build_dir or 'a temporary directory'} "
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
    stim = config.stimulus
    print(f"Jeffress circuit: {config.circuit.n_detectors} detectors, {stim.fibres_per_ear} fibres/ear, "
          f"{stim.freq_hz:g} Hz tone, {stim.duration_ms:g} ms, device {device.name}")
    print(f"  true IPD       {summary['ipd_deg']:8.2f} deg  (ITD {summary['itd_ms']:.3f} ms)")
    print(f"  estimate       {summary['estimate_deg']:8.2f} deg  (population vector)")
    print(f"  error          {summary['error_deg']:8.2f} deg")
    print(f"  peak detector  {summary['peak_detector_ipd_deg']:8.2f} deg  "
          f"({max(counts)} spikes; {summary['detector_spikes']} detector spikes in all)")
    if args.plot:
        print(f"  figure         {args.plot}")
    return 0
