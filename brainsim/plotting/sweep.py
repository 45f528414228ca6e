"""Figures of a sweep table (``OUT/results.csv``), in the seeds' two styles.

``box``       one box per setting, several metrics side by side (seed 000: "each model trained 10
              times", train and test boxes, means marked by white circles).
``errorbar``  mean +- std over seeds against one parameter, one series per metric and per value of
              the other parameters that vary (seed 002: accuracy against envelope power, training
              and test, ``capsize=5``).

Only rows with status ``ok`` and a value for the metric count. The title states on how many runs the
points (boxes) stand ("n = 3 runs per point"); where that differs between points each is labelled with
its own n, and a point with fewer runs than it should have (the spec's seeds: a run failed, gave no
value, e.g. a Jeffress run whose trials were all silent, or has not run yet) is marked (red, hollow;
"n=2/3"). The summary CSV has ``n``, ``runs`` (the runs the point should have)
and ``missing`` (runs - n) per point. Standard deviations are sample standard deviations (ddof=1; 0
for a single run). Agg backend, atomic writes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import save_figure
from . import pyplot

plt = pyplot()

KINDS = ("auto", "box", "errorbar")
SETTING = "setting"
MEAN_PROPS = {"marker": "o", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 5}


def load_results(out_dir):
    """(DataFrame of the table, parameter columns, metric columns); UserError if there is no table."""
    import pandas as pd

    from ..sweeps.table import TABLE, read_table, split_columns

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory (give the --out of a sweep)")
    columns, rows = read_table(out_dir)
    if not columns:
        raise UserError(f"{out_dir / TABLE} not found: run 'brainsim sweep SPEC --out {out_dir}' first")
    params, metrics = split_columns(columns)
    frame = pd.read_csv(out_dir / TABLE, keep_default_na=True)
    return frame, params, metrics


def _filter(frame, where: list[str], columns: list[str]):
    import pandas as pd

    for clause in where or []:
        name, eq, value = clause.partition("=")
        name = name.strip()
        if not eq or name not in columns:
            raise UserError(f"--where {clause!r}: expected NAME=VALUE with NAME one of {', '.join(columns)}")
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            try:
                number = float(value)
            except ValueError:
                raise UserError(f"--where {clause!r}: {name} is numeric, {value!r} is not a number") from None
            frame = frame[np.isclose(column.astype(float), number)]
        else:
            frame = frame[column.astype(str).str.lower() == value.strip().lower()]
    return frame


def _label(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sort_key(value):
    return (0, float(value), "") if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        else (1, 0.0, str(value))


def _spec_orders(out_dir) -> dict:
    """Order of every grid parameter's values in the sweep's spec (sweep.json), to keep it in plots."""
    import json

    from ..sweeps.table import SWEEP_JSON

    try:
        grid = json.loads((Path(out_dir) / SWEEP_JSON).read_text())["spec"]["grid"]
        return {k: list(v) for k, v in grid.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _value_key(orders: dict, name: str, value):
    order = orders.get(name, [])
    for i, v in enumerate(order):
        if v == value or (isinstance(v, (int, float)) and isinstance(value, (int, float))
                          and not isinstance(v, bool) and np.isclose(v, value)):
            return (0, i, 0.0, "")
    return (1, 0, *_sort_key(value)[1:])


def _spec_seeds(out_dir) -> int | None:
    """How many seeds the sweep's spec runs per setting (sweep.json), or None."""
    import json

    from ..sweeps.table import SWEEP_JSON

    try:
        return len(json.loads((Path(out_dir) / SWEEP_JSON).read_text())["spec"]["seeds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _setting_label(row, varying: list[str]) -> str:
    return ", ".join(f"{p}={_label(row[p])}" for p in varying) or "all"


def prepare(out_dir, x: str | None, ys: list[str], where: list[str] | None = None):
    """Checked inputs of a plot: ok rows (filtered), x column, metric list, the other varying params.
    ``frame.attrs``: ``orders`` (the spec's order of values), ``all_runs`` (every row of the filtered
    table, whatever its status) and ``spec_seeds`` (seeds per setting in the spec, or None)."""
    import pandas as pd

    frame, params, metrics = load_results(out_dir)
    if not ys:
        raise UserError("give at least one --y METRIC")
    for y in ys:
        if y not in metrics:
            raise UserError(f"unknown metric {y!r}; the table has {', '.join(metrics) or 'no metrics yet'}")
    if x is not None and x != SETTING and x not in params:
        raise UserError(f"unknown parameter {x!r} for --x; the table has {', '.join(params + [SETTING])}")
    everything = _filter(frame, where or [], params)
    for y in ys:
        everything = everything.assign(**{y: pd.to_numeric(everything[y], errors="coerce")})
    frame = everything[everything["status"] == "ok"]
    if frame.empty:
        raise UserError(f"no finished runs to plot in {out_dir}" + (" (after --where)" if where else ""))
    varying = [p for p in params if p != x and everything[p].astype(str).nunique(dropna=False) > 1]
    orders = _spec_orders(out_dir)
    if x == SETTING or x is None:
        combos = sorted({tuple(r) for r in everything[varying].itertuples(index=False, name=None)},
                        key=lambda t: [_value_key(orders, p, v) for p, v in zip(varying, t)])
        orders[SETTING] = [", ".join(f"{p}={_label(v)}" for p, v in zip(varying, t)) or "all" for t in combos]
        everything = everything.assign(**{SETTING: everything.apply(lambda r: _setting_label(r, varying), axis=1)})
        frame = everything[everything["status"] == "ok"]
        varying = []
        x = SETTING
    frame.attrs["orders"] = orders
    frame.attrs["all_runs"] = everything
    frame.attrs["spec_seeds"] = _spec_seeds(out_dir)
    return frame, x, varying


def _expected_runs(frame, keys: list[str]) -> dict:
    """{point key (x value, series values...): the runs it should stand on}: the table's rows for it
    (any status) or the spec's seeds per setting, whichever is more."""
    everything = frame.attrs.get("all_runs", frame)
    seeds = frame.attrs.get("spec_seeds") or 0
    sizes = everything.groupby(keys, dropna=False, sort=False).size()
    return {(k if isinstance(k, tuple) else (k,)): max(int(v), seeds) for k, v in sizes.items()}


def summary_table(frame, x: str, ys: list[str], series: list[str]):
    """Per (x, other varying params, metric): n (runs with a value), runs (the runs the point should
    have), missing (runs - n), mean, std (ddof=1), median, min, max. Points without any value are
    rows with n = 0 (their statistics empty)."""
    import pandas as pd

    out = []
    keys = [x] + series
    expected = _expected_runs(frame, keys)
    everything = frame.attrs.get("all_runs", frame)
    points = everything[keys].drop_duplicates()
    for y in ys:
        data = frame.dropna(subset=[y])
        if data.empty:   # no run has a value of this metric: every point with n = 0
            stats = points.assign(count=0, **{k: np.nan for k in ("mean", "std", "median", "min", "max")})
        else:
            stats = data.groupby(keys, dropna=False, sort=False)[y].agg(
                ["count", "mean", "std", "median", "min", "max"]).reset_index()
            stats = points.merge(stats, on=keys, how="left")
        stats["count"] = stats["count"].fillna(0).astype(int)
        stats.loc[stats["count"] > 0, "std"] = stats.loc[stats["count"] > 0, "std"].fillna(0.0)
        stats = stats.rename(columns={"count": "n"})
        stats.insert(len(keys), "metric", y)
        runs = [expected.get(tuple(r), 0) for r in stats[keys].itertuples(index=False, name=None)]
        stats.insert(len(keys) + 2, "runs", runs)
        stats.insert(len(keys) + 3, "missing", stats["runs"] - stats["n"])
        out.append(stats)
    table = pd.concat(out, ignore_index=True)
    if not (table["n"] > 0).any():
        raise UserError(f"no values of {', '.join(ys)} among the finished runs")
    orders = frame.attrs.get("orders", {})
    order = sorted(range(len(table)), key=lambda i: (_value_key(orders, x, table[x].iloc[i]),
                                                      [_value_key(orders, s, table[s].iloc[i]) for s in series]))
    return table.iloc[order].reset_index(drop=True)


def _series_label(metric: str, values: tuple, series: list[str], n_metrics: int) -> str:
    parts = [metric] if n_metrics > 1 or not series else []
    parts += [f"{s}={_label(v)}" for s, v in zip(series, values)]
    return ", ".join(parts)


def _numeric(frame, x: str) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(frame[x]) and not pd.api.types.is_bool_dtype(frame[x])


def choose_kind(kind: str, frame, x: str) -> str:
    """``kind``, or for auto: error bars for a numeric x with more than 2 values, box plots otherwise."""
    if kind != "auto":
        return kind
    return "errorbar" if x != SETTING and _numeric(frame, x) and frame[x].nunique() > 2 else "box"


def _groups(frame, x: str, ys: list[str], series: list[str]):
    """(x values, [(label, metric, series values, {x value: array of values}, {x value: runs expected})]),
    series in a stable order."""
    orders = frame.attrs.get("orders", {})
    everything = frame.attrs.get("all_runs", frame)
    xs = sorted(everything[x].dropna().unique().tolist(), key=lambda v: _value_key(orders, x, v))
    if series:
        combos = sorted({tuple(r) for r in everything[series].itertuples(index=False, name=None)},
                        key=lambda t: [_value_key(orders, s, v) for s, v in zip(series, t)])
    else:
        combos = [()]
    expected = _expected_runs(frame, [x] + series)
    out = []
    for y in ys:
        for combo in combos:
            sel = frame
            for s, v in zip(series, combo):
                sel = sel[sel[s] == v]
            sel = sel.dropna(subset=[y])
            data = {xv: sel.loc[sel[x] == xv, y].to_numpy(float) for xv in xs}
            runs = {xv: expected.get((xv, *combo), 0) for xv in xs}
            if any(len(v) for v in data.values()):
                out.append((_series_label(y, combo, series, len(ys)), y, combo, data, runs))
    return xs, out


def _ylabel(ys: list[str]) -> str:
    return ys[0] if len(ys) == 1 else " / ".join(ys)


MISSING_COLOR = "tab:red"
MISSING_LABEL = "fewer runs than the spec's seeds\n(failed, no value, not run): n=values/runs"


def _n_text(n: int, runs: int) -> str:
    return f"n={n}" if n >= runs else f"n={n}/{runs}"


def _uniform(groups) -> bool:
    """True when every point has all the runs it should and they are equally many: the title's
    "n = N runs per point" then says it for every point, which is labelled only otherwise."""
    counts = {(len(v), runs[xv]) for *_, data, runs in groups for xv, v in data.items() if runs[xv] or len(v)}
    return len(counts) == 1 and all(n == r for n, r in counts)


def _n_summary(groups) -> tuple[str, int]:
    """("3" or "2-3": runs with a value per point, number of points with fewer runs than they should have)."""
    ns = [len(v) for *_, data, _ in groups for v in data.values() if len(v)]
    short = sum(1 for *_, data, runs in groups for xv, v in data.items() if runs[xv] and len(v) < runs[xv])
    lo, hi = (min(ns), max(ns)) if ns else (0, 0)
    return (f"{lo}" if lo == hi else f"{lo}-{hi}"), short


def box_plot(frame, x: str, ys: list[str], series: list[str], path, title: str = "") -> Path:
    """One box per x value and metric (quartiles, median, mean as a white circle), each with its n."""
    return _save(box_figure(frame, x, ys, series, title), path)


def box_figure(frame, x: str, ys: list[str], series: list[str], title: str = ""):
    xs, groups = _groups(frame, x, ys, series)
    m = max(1, len(groups))
    width = 0.8 / m
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(xs) * max(1, m / 2) + 2.5), 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    centres = np.arange(len(xs), dtype=float)
    tops = []
    for j, (label, _, _, data, runs) in enumerate(groups):
        positions = centres + (j - (m - 1) / 2) * width
        values = [data[xv] if len(data[xv]) else np.array([np.nan]) for xv in xs]
        bp = ax.boxplot(values, positions=positions, widths=width * 0.9, showmeans=True, patch_artist=True,
                        meanprops=MEAN_PROPS, manage_ticks=False)
        color = colors[j % len(colors)]
        for box, xv in zip(bp["boxes"], xs):
            box.set_facecolor(color)
            box.set_alpha(0.8)
            if len(data[xv]) < runs[xv]:
                box.set_edgecolor(MISSING_COLOR)
                box.set_linewidth(2)
        for med in bp["medians"]:
            med.set_color("black")
        ax.plot([], [], color=color, lw=8, label=label)
        for pos, xv in zip(positions, xs):
            tops.append((pos, np.nanmax(data[xv]) if len(data[xv]) else np.nan, len(data[xv]), runs[xv]))
    finite = [t for _, t, _, _ in tops if np.isfinite(t)]
    low, high = ax.get_ylim()
    for pos, top, n, runs in ([] if _uniform(groups) else tops):
        ax.annotate(_n_text(n, runs), (pos, top if np.isfinite(top) else low), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize=7, color=MISSING_COLOR if n < runs else "black")
    if finite and not _uniform(groups):
        ax.set_ylim(low, high + 0.08 * (high - low))
    labels = [_label(v) for v in xs]
    ax.set_xticks(centres)
    long = max((len(t) for t in labels), default=0) > 6 or len(labels) > 8
    ax.set_xticklabels(labels, rotation=55 if long else 0, ha="right" if long else "center")
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_xlabel(x)
    ax.set_ylabel(_ylabel(ys))
    n_text, short = _n_summary(groups)
    if short:
        ax.plot([], [], color=MISSING_COLOR, lw=2, label=MISSING_LABEL)
    if len(groups) > 1 or short:
        ax.legend(loc="best", fontsize="small")
    stated = f"n = {n_text} runs per box" + (f"; {short} with fewer than the spec's" if short else "")
    ax.set_title(f"{title}\n{stated}" if title else
                 f"{len(frame)} ok runs, {stated}\n(box: quartiles, line: median, circle: mean)", fontsize="medium")
    return fig


def errorbar_plot(frame, x: str, ys: list[str], series: list[str], path, title: str = "",
                  logx: bool = False, reference=None, reference_label: str = "reference") -> Path:
    """Mean +- std (ddof=1) over seeds against x, one series per metric and other varying parameter;
    every point labelled with its n, points with fewer runs than they should have marked;
    ``reference``: (x, y) points drawn beside them (e.g. a paper's figures)."""
    return _save(errorbar_figure(frame, x, ys, series, title, logx, reference, reference_label), path)


def errorbar_figure(frame, x: str, ys: list[str], series: list[str], title: str = "", logx: bool = False,
                    reference=None, reference_label: str = "reference"):
    xs, groups = _groups(frame, x, ys, series)
    numeric = _numeric(frame, x)
    label_points = not _uniform(groups)
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    for label, _, _, data, runs in groups:
        pts = [(xv, v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0, len(v), runs[xv]) for xv, v in data.items() if len(v)]
        for xv, v in data.items():      # a point without any value: its n at the bottom of the axes
            if not len(v) and runs[xv]:
                ax.annotate(_n_text(0, runs[xv]), (xv if numeric else xs.index(xv), 0.02),
                            xycoords=("data", "axes fraction"), ha="center", fontsize=7, color=MISSING_COLOR)
        if not pts:
            continue
        px = [p[0] if numeric else xs.index(p[0]) for p in pts]
        bars = ax.errorbar(px, [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-", capsize=5, label=label)
        color = bars.lines[0].get_color()
        for xp, (_, mean, std, n, expected) in zip(px, pts):
            short = n < expected
            if short:
                ax.plot([xp], [mean], "o", ms=10, mfc="none", mec=MISSING_COLOR, mew=2)
            if label_points:
                ax.annotate(_n_text(n, expected), (xp, mean + std), textcoords="offset points", xytext=(0, 5),
                            ha="center", fontsize=7, color=MISSING_COLOR if short else color)
    ref = sorted(reference or [])
    if ref:
        if not numeric:    # categorical x: a reference point sits on its category
            ref = [(xs.index(rx), ry) for rx, ry in ref if rx in xs]
        ax.plot([r[0] for r in ref], [r[1] for r in ref], "s--", color="0.45", mfc="white", label=reference_label)
    if not numeric:
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([_label(v) for v in xs])
        ax.set_xlim(-0.5, len(xs) - 0.5)
    span = sorted(set(xs) | {r[0] for r in ref}) if numeric else xs
    if logx:
        ax.set_xscale("symlog", linthresh=1.0)
    elif numeric and len(span) > 1:    # every x of the sweep (also those without any value) and of the reference
        pad = 0.05 * (max(span) - min(span))
        ax.set_xlim(min(span) - pad, max(span) + pad)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{_ylabel(ys)} (mean +/- std)")
    n_text, short = _n_summary(groups)
    if short:
        ax.plot([], [], "o", ms=10, mfc="none", mec=MISSING_COLOR, mew=2, ls="none", label=MISSING_LABEL)
    if len(groups) > 1 or short or ref:
        ax.legend(loc="best", fontsize="small")
    stated = f"mean +/- std over n = {n_text} runs per point" + (
        f"; {short} point{'s' if short > 1 else ''} with fewer runs than the spec's seeds" if short else "")
    ax.set_title(f"{title}\n{stated}" if title else stated, fontsize="medium")
    ax.grid(alpha=0.3)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(out_dir, x: str | None, ys: list[str], *, kind: str = "auto", path=None,
               where: list[str] | None = None, title: str = "", logx: bool = False,
               reference=None, reference_label: str = "reference") -> dict:
    """Draw one figure of a sweep table; returns the figure path, the kind drawn and the summary rows.
    The summary (n, runs, missing, mean, std, median, min, max per point) is written beside the
    figure as CSV. ``reference``: (x, y) points drawn beside the error bars (error-bar plot only)."""
    from ..io import write_text

    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    frame, x, series = prepare(out_dir, x, ys, where)
    kind = choose_kind(kind, frame, x)
    if kind == "errorbar" and x == SETTING:
        raise UserError("the error-bar plot needs --x PARAMETER")
    if reference and kind != "errorbar":
        raise UserError("--reference needs the error-bar plot: give --x PARAMETER --kind errorbar")
    if path is None:
        path = Path(out_dir) / "plots" / f"{'+'.join(ys)}_vs_{x}_{kind}.png"
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserError(f"figure {path}: use a .png, .svg or .pdf name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    summary = summary_table(frame, x, ys, series)
    if kind == "box":
        box_plot(frame, x, ys, series, path, title)
    else:
        errorbar_plot(frame, x, ys, series, path, title, logx=logx, reference=reference,
                      reference_label=reference_label)
    summary_path = path.with_name(path.stem + "_summary.csv")
    write_text(summary_path, summary.to_csv(index=False))
    return {"figure": str(path), "summary_csv": str(summary_path), "kind": kind, "x": x, "series": series,
            "summary": summary.to_dict(orient="records")}
