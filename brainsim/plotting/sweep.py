"""Figures of a sweep table (``OUT/results.csv``), in the seeds' two styles.

``box``       one box per setting, several metrics side by side (seed 000: "each model trained 10
              times", train and test boxes, means marked by white circles).
``errorbar``  mean +- std over seeds against one parameter, one series per metric and per value of
              the other parameters that vary (seed 002: accuracy against envelope power, training
              and test, ``capsize=5``).

Only rows with status ``ok`` and a value for the metric count. Standard deviations are sample
standard deviations (ddof=1; 0 for a single run). Agg backend, atomic writes.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import UserError  # noqa: E402
from ..io import save_figure  # noqa: E402

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


def prepare(out_dir, x: str | None, ys: list[str], where: list[str] | None = None):
    """Checked inputs of a plot: ok rows (filtered), x column, metric list, the other varying params."""
    import pandas as pd

    frame, params, metrics = load_results(out_dir)
    if not ys:
        raise UserError("give at least one --y METRIC")
    for y in ys:
        if y not in metrics:
            raise UserError(f"unknown metric {y!r}; the table has {', '.join(metrics) or 'no metrics yet'}")
    if x is not None and x != SETTING and x not in params:
        raise UserError(f"unknown parameter {x!r} for --x; the table has {', '.join(params + [SETTING])}")
    frame = _filter(frame, where or [], params)
    frame = frame[frame["status"] == "ok"]
    for y in ys:
        frame = frame.assign(**{y: pd.to_numeric(frame[y], errors="coerce")})
    if frame.empty:
        raise UserError(f"no finished runs to plot in {out_dir}" + (" (after --where)" if where else ""))
    varying = [p for p in params if p != x and frame[p].astype(str).nunique(dropna=False) > 1]
    orders = _spec_orders(out_dir)
    if x == SETTING or x is None:
        combos = sorted({tuple(r) for r in frame[varying].itertuples(index=False, name=None)},
                        key=lambda t: [_value_key(orders, p, v) for p, v in zip(varying, t)])
        labels = [", ".join(f"{p}={_label(v)}" for p, v in zip(varying, t)) or "all" for t in combos]
        orders[SETTING] = labels
        frame = frame.assign(**{SETTING: frame.apply(
            lambda r: ", ".join(f"{p}={_label(r[p])}" for p in varying) or "all", axis=1)})
        varying = []
        x = SETTING
    frame.attrs["orders"] = orders
    return frame, x, varying


def summary_table(frame, x: str, ys: list[str], series: list[str]):
    """Per (x, other varying params, metric): n, mean, std (ddof=1), median, min, max."""
    import pandas as pd

    out = []
    keys = [x] + series
    for y in ys:
        data = frame.dropna(subset=[y])
        if data.empty:
            continue
        grouped = data.groupby(keys, dropna=False, sort=False)[y]
        stats = grouped.agg(["count", "mean", "std", "median", "min", "max"]).reset_index()
        stats["std"] = stats["std"].fillna(0.0)
        stats.insert(len(keys), "metric", y)
        out.append(stats.rename(columns={"count": "n"}))
    if not out:
        raise UserError(f"no values of {', '.join(ys)} among the finished runs")
    table = pd.concat(out, ignore_index=True)
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
    """[(label, metric, series values, {x value: array of values})], series in a stable order."""
    orders = frame.attrs.get("orders", {})
    xs = sorted(frame[x].dropna().unique().tolist(), key=lambda v: _value_key(orders, x, v))
    if series:
        combos = sorted({tuple(r) for r in frame[series].itertuples(index=False, name=None)},
                        key=lambda t: [_value_key(orders, s, v) for s, v in zip(series, t)])
    else:
        combos = [()]
    out = []
    for y in ys:
        for combo in combos:
            sel = frame
            for s, v in zip(series, combo):
                sel = sel[sel[s] == v]
            sel = sel.dropna(subset=[y])
            data = {xv: sel.loc[sel[x] == xv, y].to_numpy(float) for xv in xs}
            if any(len(v) for v in data.values()):
                out.append((_series_label(y, combo, series, len(ys)), y, combo, data))
    return xs, out


def _ylabel(ys: list[str]) -> str:
    return ys[0] if len(ys) == 1 else " / ".join(ys)


def box_plot(frame, x: str, ys: list[str], series: list[str], path, title: str = "") -> Path:
    """One box per x value and metric (quartiles, median, mean as a white circle)."""
    xs, groups = _groups(frame, x, ys, series)
    m = max(1, len(groups))
    width = 0.8 / m
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(xs) * max(1, m / 2) + 2.5), 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    centres = np.arange(len(xs), dtype=float)
    for j, (label, _, _, data) in enumerate(groups):
        positions = centres + (j - (m - 1) / 2) * width
        values = [data[xv] if len(data[xv]) else np.array([np.nan]) for xv in xs]
        bp = ax.boxplot(values, positions=positions, widths=width * 0.9, showmeans=True, patch_artist=True,
                        meanprops=MEAN_PROPS, manage_ticks=False)
        color = colors[j % len(colors)]
        for box in bp["boxes"]:
            box.set_facecolor(color)
            box.set_alpha(0.8)
        for med in bp["medians"]:
            med.set_color("black")
        ax.plot([], [], color=color, lw=8, label=label)
    labels = [_label(v) for v in xs]
    ax.set_xticks(centres)
    long = max((len(t) for t in labels), default=0) > 6 or len(labels) > 8
    ax.set_xticklabels(labels, rotation=55 if long else 0, ha="right" if long else "center")
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_xlabel(x)
    ax.set_ylabel(_ylabel(ys))
    if len(groups) > 1:
        ax.legend(loc="best", fontsize="small")
    n_runs = len(frame)
    ax.set_title(title or f"{n_runs} runs (box: quartiles, line: median, circle: mean)", fontsize="medium")
    return _save(fig, path)


def errorbar_plot(frame, x: str, ys: list[str], series: list[str], path, title: str = "",
                  logx: bool = False) -> Path:
    """Mean +- std (ddof=1) over seeds against x, one series per metric and other varying parameter."""
    xs, groups = _groups(frame, x, ys, series)
    numeric = _numeric(frame, x)
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    for label, _, _, data in groups:
        pts = [(xv, v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0) for xv, v in data.items() if len(v)]
        if not pts:
            continue
        px = [p[0] if numeric else xs.index(p[0]) for p in pts]
        ax.errorbar(px, [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-", capsize=5, label=label)
    if not numeric:
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([_label(v) for v in xs])
    if logx:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{_ylabel(ys)} (mean +/- std)")
    if len(groups) > 1:
        ax.legend(loc="best", fontsize="small")
    seeds = frame.groupby([x] + series, dropna=False).size()
    n_text = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    ax.set_title(title or f"mean +/- std over {n_text} runs per point", fontsize="medium")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(out_dir, x: str | None, ys: list[str], *, kind: str = "auto", path=None,
               where: list[str] | None = None, title: str = "", logx: bool = False) -> dict:
    """Draw one figure of a sweep table; returns the figure path, the kind drawn and the summary rows.
    The summary (n, mean, std, median, min, max per point) is written beside the figure as CSV."""
    from ..io import write_text

    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    frame, x, series = prepare(out_dir, x, ys, where)
    kind = choose_kind(kind, frame, x)
    if kind == "errorbar" and x == SETTING:
        raise UserError("the error-bar plot needs --x PARAMETER")
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
        errorbar_plot(frame, x, ys, series, path, title, logx=logx)
    summary_path = path.with_name(path.stem + "_summary.csv")
    write_text(summary_path, summary.to_csv(index=False))
    return {"figure": str(path), "summary_csv": str(summary_path), "kind": kind, "x": x, "series": series,
            "summary": summary.to_dict(orient="records")}
