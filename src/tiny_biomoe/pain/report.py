"""Evaluation reports: Markdown + self-contained HTML + JSON, written atomically into one folder.

Folder content: ``report.md`` (images beside it in ``images/``), ``report.html`` (images embedded
as data URIs, opens anywhere), ``results.json`` (everything, machine-readable) and ``config.json``.
The folder is built under a temporary name next to ``out`` and renamed into place at the end, so a
failed run never leaves a half report (an existing folder of the same name is replaced).
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["write_report", "weights_banner", "PUBLISHED_AI4PAIN_2025", "published_comparison"]

#: Published results on AI4PAIN 2025 (3 classes), train -> validation and the organisers' blinded test set.
#: NOT OURS: figures as their authors report them (accuracy %, macro-F1 where given), for comparison only.
PUBLISHED_AI4PAIN_2025: dict[str, Any] = {
    "dataset": "AI4PAIN 2025, 3 classes (No_Pain, Low_Pain, High_Pain); trained on train, reported on validation; "
               "test = the organisers' blinded test set",
    "metric": "accuracy (%)",
    "sources": [
        {"name": "Organisers' baseline",
         "citation": "AI4PAIN 2025 Grand Challenge, organisers' baseline paper (Gaussian-kernel SVM on simple statistics "
                     "of the raw, unfiltered signals); figures as listed on the challenge site, "
                     "https://sites.google.com/view/ai4pain2025/baseline-results",
         "results": [
             {"modalities": ["EDA"], "validation": 45.60, "test": 38.50},
             {"modalities": ["BVP"], "validation": 56.25, "test": 45.69},
             {"modalities": ["RESP"], "validation": 49.07, "test": 45.68},
             {"modalities": ["SpO2"], "validation": 37.26, "test": 36.78},
             {"modalities": ["EDA", "BVP", "RESP", "SpO2"], "validation": 52.77, "test": 52.30},
         ]},
        {"name": "Tazin et al.",
         "citation": "Tazin et al., ICMI '25 Companion (AI4PAIN 2025 challenge paper; XGBoost on hand-crafted features)",
         "results": [
             {"modalities": ["EDA"], "validation": 73.0, "test": 57.76},
             {"modalities": ["BVP"], "validation": 68.0, "test": 62.93},
             {"modalities": ["EDA", "BVP"], "validation": 80.0, "test": 60.92},
             {"modalities": ["EDA", "BVP", "RESP"], "validation": 80.0, "test": 62.07},
             {"modalities": ["EDA", "BVP", "RESP", "SpO2"], "validation": 79.0, "test": 60.92},
         ]},
        {"name": "Javierre del Rio et al. (challenge winners)",
         "citation": "Javierre del Rio et al., ICMI '25 Companion (AI4PAIN 2025 challenge paper; physiology-guided ensemble)",
         "results": [
             {"modalities": None, "validation": 84.0, "validation_macro_f1": 0.84, "test": 70.0},
         ]},
    ],
}
_MOD_ORDER = ["EDA", "BVP", "RESP", "SpO2"]


def _modset(mods: Any) -> str:
    if mods is None:
        return "their final model"
    ms = sorted(set(mods), key=lambda m: _MOD_ORDER.index(m) if m in _MOD_ORDER else len(_MOD_ORDER))
    return "all four" if len(ms) == 4 and set(ms) == set(_MOD_ORDER) else "+".join(ms)


def published_comparison(results: Mapping[str, Any]) -> dict | None:
    """Our validation accuracies beside the published AI4PAIN 2025 figures on the same split, or ``None``
    when the results are not AI4PAIN 2025 under the ``split`` protocol.

    Rows: one per modality set (ours: the best experiment whose inputs use exactly those modalities)
    plus ``best of ours`` (any experiment). Every published number is labelled ``published`` with its
    source; ours are labelled ``ours``.
    """
    ds = results.get("dataset", {}) or {}
    edition = str((ds.get("construction") or {}).get("edition", "AI4PAIN 2025"))
    if ds.get("name") != "ai4pain" or "2026" in edition or results.get("protocol") != "split":
        return None
    ours: dict[str, tuple[float, float, str]] = {}
    best: tuple[float, float, str] | None = None
    for e in results.get("experiments", []):
        fold = next((f for f in e.get("folds", []) if f.get("fold") == "validation"), None)
        if fold is None:
            continue
        key = _modset([m for m, _ in e.get("inputs", [])])
        cand = (100 * float(fold["accuracy"]), float(fold["macro_f1"]), str(e["name"]))
        if key not in ours or cand[0] > ours[key][0]:
            ours[key] = cand
        if best is None or cand[0] > best[0]:
            best = cand
    if best is None:
        return None
    rows: dict[str, dict] = {}
    for src in PUBLISHED_AI4PAIN_2025["sources"]:
        for r in src["results"]:
            key = _modset(r["modalities"]) if r["modalities"] is not None else "best of ours"
            row = rows.setdefault(key, {"modalities": key, "published": []})
            row["published"].append({"source": src["name"], "validation": r["validation"], "test": r.get("test"),
                                     "validation_macro_f1": r.get("validation_macro_f1")})
    for key, (acc, f1, name) in ours.items():
        rows.setdefault(key, {"modalities": key, "published": []})["ours"] = {"validation": acc, "validation_macro_f1": f1,
                                                                              "experiment": name}
    rows["best of ours"]["ours"] = {"validation": best[0], "validation_macro_f1": best[1], "experiment": best[2]}
    order = [k for k in ("EDA", "BVP", "RESP", "SpO2", "EDA+BVP", "EDA+BVP+RESP", "all four") if k in rows]
    order += [k for k in rows if k not in order and k != "best of ours"] + ["best of ours"]
    return {"label": "PUBLISHED figures (not ours) beside OUR validation accuracy, same split (train -> validation)",
            "metric": "accuracy %", "sources": [{"name": s["name"], "citation": s["citation"]}
                                                for s in PUBLISHED_AI4PAIN_2025["sources"]],
            "rows": [rows[k] for k in order],
            "note": "Published numbers are copied from their papers, not reproduced here. Our test accuracy is not "
                    "available: the test labels were never released (biomoe predict --partition test writes a submission)."}


def _published_md(cmp: Mapping[str, Any]) -> list[str]:
    srcs = [s["name"] for s in cmp["sources"]]
    md = ["## Published results on the same split (NOT ours) beside ours", "",
          f"{cmp['label']}. Published cells: validation / test accuracy %.", "",
          "| modalities | ours: validation accuracy (experiment) | " + " | ".join(f"published: {s}" for s in srcs) + " |",
          "|" + " --- |" * (2 + len(srcs))]
    for r in cmp["rows"]:
        o = r.get("ours")
        ours = f"**{o['validation']:.1f}** ({o['experiment']})" if o else "not run"
        cells = []
        for s in srcs:
            p = next((p for p in r["published"] if p["source"] == s), None)
            if p is None:
                cells.append("")
                continue
            c = f"{p['validation']:.2f} / {p['test']:.2f}" if p.get("test") is not None else f"{p['validation']:.2f} / n/a"
            if p.get("validation_macro_f1") is not None:
                c += f" (macro-F1 {p['validation_macro_f1']:.2f})"
            cells.append(c)
        md.append(f"| {r['modalities']} | {ours} | " + " | ".join(cells) + " |")
    md += ["", "Sources (published, not ours):", ""] + [f"* {s['name']}: {s['citation']}" for s in cmp["sources"]]
    md += ["", cmp["note"], ""]
    return md


def weights_banner(weights: Mapping[str, Any] | None) -> str:
    """One line saying which weights produced the embeddings, loudly when they are not official."""
    if not weights:
        return "WEIGHTS UNKNOWN: the embeddings' model weights were not recorded."
    src = weights.get("source", "?")
    from ..model.provenance import WeightsInfo

    if WeightsInfo.from_dict(weights).is_random_init:
        return (f"RANDOM-INIT WEIGHTS ({src}): the official Tiny-BioMoE weights were not found; these numbers say nothing "
                "about Tiny-BioMoE. Put Tiny-BioMoE.pth at $TINY_BIOMOE_WEIGHTS or in the cache dir "
                "(https://github.com/GkikasStefanos/Tiny-BioMoE/releases/latest/download/Tiny-BioMoE.pth).")
    if not weights.get("official"):
        return f"NON-OFFICIAL WEIGHTS: {src} (sha256 {weights.get('sha256')}); not the published Tiny-BioMoE checkpoint."
    return f"Official Tiny-BioMoE weights: {src} (sha256 {weights.get('sha256')})."


def _fmt(d: Mapping[str, float] | None) -> str:
    return "n/a" if not d else f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"


def _cm_png(cm: np.ndarray, classes: list[str], title: str, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 4.3), dpi=110)
    ax = fig.add_subplot()
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)  # row-normalised: recall per class
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=30, fontsize=9)
    ax.set_yticks(range(len(classes)), classes, fontsize=9)
    ax.set_xlabel("predicted", fontsize=10)
    ax.set_ylabel("true", fontsize=10)
    ax.set_title("\n".join(__import__("textwrap").wrap(title, 48)), fontsize=9)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}\n{100 * share[i, j]:.0f} %", ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _embedding_map_png(table: Any, path: Path, method: str = "pca", seed: int = 0) -> str:
    """2-D map of the trials' embeddings (all modality x kind blocks side by side, standardised),
    coloured by label (left) and by subject (right); ``method``: ``pca`` (default), ``tsne``
    (scikit-learn, seeded) or ``umap`` (needs umap-learn). Returns a caption naming what was drawn."""
    from matplotlib.figure import Figure
    from sklearn.preprocessing import StandardScaler

    keys = list(table.embeddings)
    x = StandardScaler().fit_transform(np.concatenate([np.asarray(table.embeddings[k], np.float64) for k in keys], axis=1))
    if method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30.0, max(2.0, (len(x) - 1) / 3))).fit_transform(x)
        axes = ("t-SNE 1", "t-SNE 2")
    elif method == "umap":
        from ..errors import require

        xy = require("umap", "umap", "UMAP maps").UMAP(random_state=seed).fit_transform(x)
        axes = ("UMAP 1", "UMAP 2")
    elif method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(x)
        xy = pca.transform(x)
        axes = tuple(f"PC{i + 1} ({100 * r:.0f} % of variance)" for i, r in enumerate(pca.explained_variance_ratio_))
    else:
        from ..errors import ConfigError

        raise ConfigError(f"unknown embedding map method {method!r}; use pca, tsne or umap")
    labels = np.asarray(table.labels)
    groups = np.asarray(table.groups).astype(str)
    fig = Figure(figsize=(9.0, 4.0), dpi=100)
    for n, (vals, names, what) in enumerate(((labels, list(table.classes), "label"),
                                              (groups, list(dict.fromkeys(groups.tolist())), "subject"))):
        ax = fig.add_subplot(1, 2, n + 1)
        cmap = __import__("matplotlib").colormaps["tab10" if len(names) <= 10 else "tab20"]
        for i, name in enumerate(names):
            sel = (vals == i) if what == "label" else (vals == name)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, color=cmap(i % cmap.N), label=str(name))
        ax.set_xlabel(axes[0], fontsize=8)
        ax.set_ylabel(axes[1], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(f"coloured by {what}", fontsize=9)
        if len(names) <= 12:
            ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png")
    blocks = ", ".join("/".join(k) if isinstance(k, tuple) else str(k) for k in keys)
    return f"{method.upper()} map of {len(x)} trials' embeddings ({blocks}; standardised, seed {seed})"


def _kv_html(obj: Any, depth: int = 0) -> str:
    """A nested dict/list as nested HTML tables (instead of a raw JSON dump)."""
    esc = html.escape
    if isinstance(obj, Mapping):
        if not obj:
            return "<i>none</i>"
        return ("<table class='kv'>" + "".join(f"<tr><th>{esc(str(k))}</th><td>{_kv_html(v, depth + 1)}</td></tr>"
                                               for k, v in obj.items()) + "</table>")
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in obj):
            return esc(", ".join(str(_json_default(v) if isinstance(v, np.generic) else v) for v in obj)) or "<i>none</i>"
        return "<ol>" + "".join(f"<li>{_kv_html(v, depth + 1)}</li>" for v in obj) + "</ol>"
    if obj is None:
        return "<i>n/a</i>"
    if isinstance(obj, float):
        return esc(f"{obj:.4g}")
    return esc(str(obj))


def _ci(b: Mapping[str, Any] | None, key: str) -> str:
    return "n/a" if not b else f"{100 * b[key]['low']:.1f}–{100 * b[key]['high']:.1f}"


def _hwc(img: np.ndarray) -> np.ndarray:
    """An image as (H, W, 3) or (H, W) float32 in [0, 1] (our renders are (3, H, W))."""
    a = np.asarray(img, dtype=np.float32)
    return np.clip(a.transpose(1, 2, 0) if a.ndim == 3 and a.shape[0] == 3 else a, 0, 1)


def _img_png(img: np.ndarray, path: Path) -> None:
    import matplotlib.image as mpimg

    mpimg.imsave(path, _hwc(img), format="png")


LEVEL_COLORS = {"single": "#4c72b0", "representations": "#dd8452", "modalities": "#55a868", "finetune": "#c44e52"}


def _level_order(level: str) -> int:
    order = list(LEVEL_COLORS)
    return order.index(level) if level in order else len(order)


def _summary_png(exps: list[Mapping[str, Any]], n_classes: int, path: Path) -> None:
    """Horizontal bars of accuracy mean ± std per experiment, grouped and coloured by fusion level,
    with the chance level (1 / number of classes) as a dashed line."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = sorted(exps, key=lambda e: _level_order(str(e.get("level"))))  # stable: plan order within a level
    fig = Figure(figsize=(7.5, 1.2 + 0.3 * len(rows)), dpi=100)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    mean = [e["aggregate"]["accuracy"]["mean"] for e in rows]
    std = [e["aggregate"]["accuracy"]["std"] for e in rows]
    colors = [LEVEL_COLORS.get(str(e.get("level")), "#8c8c8c") for e in rows]
    ax.barh(y, mean, xerr=std, color=colors, capsize=2, height=0.7, error_kw={"elinewidth": 1})
    ax.set_yticks(y, [e["name"] for e in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (mean ± std across folds)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    handles = [Patch(color=LEVEL_COLORS.get(lv, "#8c8c8c"), label=lv)
               for lv in dict.fromkeys(str(e.get("level")) for e in rows)]
    if n_classes > 0:
        ax.axvline(1.0 / n_classes, color="k", ls="--", lw=1)
        handles.append(Line2D([], [], color="k", ls="--", lw=1, label=f"chance ({100 / n_classes:.0f} %)"))
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _examples_png(images: Mapping[str, np.ndarray], title: str, path: Path) -> None:
    """One representation for several trials side by side (e.g. one trial per class)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.2 * len(images), 2.5), dpi=100)
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for ax, (cap, img) in zip(axes, images.items()):
        ax.imshow(_hwc(img))
        ax.set_title(cap, fontsize=8)
        ax.set(xticks=[], yticks=[])  # no ticks to lay out (tight_layout measures them even when hidden)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:80]


def write_report(
    results: Mapping[str, Any],
    out: str | os.PathLike,
    examples: Mapping[str, "np.ndarray | Mapping[str, np.ndarray]"] | None = None,
    title: str = "Tiny-BioMoE pain recognition report",
    *,
    embeddings: Any = None,
    map_method: str = "pca",
) -> Path:
    """Write the report folder ``out`` from :func:`~tiny_biomoe.pain.evaluate` results.

    ``embeddings``: the :class:`~tiny_biomoe.pain.EmbeddingTable` of the run (``evaluate``'s second
    value) for a 2-D map of the trials (``map_method``: ``pca``, ``tsne`` or ``umap``). The folder
    also gets ``predictions.csv``: every experiment's out-of-fold predictions per trial.

    ``examples`` maps a label (e.g. ``"EDA/waveform"``) to one rendered image ``(3, 224, 224)`` or to
    ``{caption: image}`` shown side by side (e.g. one trial per class, see :func:`class_examples`).
    Returns the folder path.

    Args:
        results: the results dict of :func:`~tiny_biomoe.pain.evaluate`.
        out: the report folder; replaced whole if it is empty or an earlier report, else an OutputError.
        examples: rendered example images (see above); ``None``: none.
        title: the report's heading (Markdown and HTML).
        embeddings: the run's embedding table, for the map (see above); ``None``: no map.
        map_method: ``"pca"``, ``"tsne"`` or ``"umap"`` (see above).
    """
    from .._io import atomic_dir, check_replaceable_dir

    out = Path(out)
    check_replaceable_dir(out, lambda d: all((d / m).is_file() for m in REPORT_MARKERS), "report folder",
                          " and ".join(REPORT_MARKERS))
    with atomic_dir(out, replace=True) as tmp:  # umask permissions; removed by the next run if this one is killed
        _build(results, tmp, examples or {}, title, embeddings, map_method)
    return out


#: the files that mark a folder as a report of ours (only such a folder, or an empty one, is replaced)
REPORT_MARKERS = ("results.json", "report.md")


def _build(res: Mapping[str, Any], d: Path, examples: Mapping[str, Any], title: str, table: Any = None,
           map_method: str = "pca") -> None:
    img_dir = d / "images"
    img_dir.mkdir()
    classes = list(res.get("classes", []))
    exps = list(res.get("experiments", []))
    cms = []  # one confusion matrix per fusion level: its best experiment by mean accuracy
    for lv in sorted(dict.fromkeys(str(e.get("level")) for e in exps), key=_level_order):
        best = max((e for e in exps if str(e.get("level")) == lv), key=lambda e: e["aggregate"]["accuracy"]["mean"])
        p = img_dir / f"cm_{_safe(lv)}.png"
        _cm_png(np.asarray(best["aggregate"]["confusion_matrix"]), classes, f"{lv}: {best['name']}", p)
        cms.append((f"{lv}: best experiment {best['name']}", p))
    emap = img_dir / "embedding_map.png"
    emap_caption = _embedding_map_png(table, emap, map_method, int(res.get("config", {}).get("seed", 0))) if table is not None else None
    if any(e.get("oof") for e in exps):
        from .metrics import predictions_frame

        predictions_frame(res).to_csv(d / "predictions.csv", index=False)
    summary = img_dir / "summary_accuracy.png"
    if exps:
        _summary_png(exps, len(classes), summary)
    ex_paths = []
    for label, img in examples.items():
        p = img_dir / f"repr_{_safe(label)}.png"
        if isinstance(img, Mapping):
            _examples_png(img, label, p)
        else:
            _img_png(img, p)
        ex_paths.append((label, p))
    ex_title = ("Example representations (one trial per class)" if any(isinstance(v, Mapping) for v in examples.values())
                else "Example representations (first trial)")
    published = published_comparison(res)
    if published is not None:
        res = {**res, "published_comparison": published}
    (d / "results.json").write_text(json.dumps(res, indent=1, default=_json_default))
    (d / "config.json").write_text(json.dumps(res.get("config", {}), indent=2, default=_json_default))

    ds = res.get("dataset", {})
    synthetic = any("SYNTHETIC" in str(n) for n in ds.get("notes", []))
    banners = [weights_banner(res.get("weights"))]
    if synthetic:
        banners.append("SYNTHETIC DATA: generated by tiny_biomoe.data.synthetic; numbers on it say nothing about real patients.")
    head = res.get("config", {}).get("head", {})
    fold_note = f"protocol **{res.get('protocol')}** ({len(res.get('folds', []))} folds; no subject is in both training and test)"
    ft = res.get("finetune")
    ft_note = (f"Rows of level *finetune*: backbone + linear classifier trained end to end in every fold "
               f"({ft.get('steps')} steps, batch {ft.get('batch_size')}, backbone lr {ft.get('lr')}, "
               f"{'from the weights above' if ft.get('pretrained') else 'from a seeded random init (not pretrained)'}), "
               "same folds as the other rows.") if ft else ""

    # ------------------------------------------------------------------ markdown
    md = [f"# {title}", ""]
    md += [f"> **{b}**" for b in banners] + [""]
    md += [f"Dataset **{ds.get('name')}**: {ds.get('participants')} participants, {ds.get('trials')} trials, "
           f"classes {', '.join(classes)}; {fold_note}; head **{head.get('kind')}** on frozen 192-D embeddings.", ""]
    if ft_note:
        md += [ft_note, ""]
    if exps:
        md += [f"![accuracy per experiment (mean ± std across folds; dashed: chance)](images/{summary.name})", ""]
    md += ["## Results (mean ± std across folds, %)", "",
           "95 % CI: subject-level bootstrap interval of the pooled out-of-fold accuracy / macro-F1 "
           "(per-trial predictions in `predictions.csv`).", "",
           "| experiment | level | fusion | dim | accuracy | acc. 95 % CI | macro-F1 | F1 95 % CI | "
           + " | ".join(f"recall {c}" for c in classes) + " |",
           "|" + " --- |" * (8 + len(classes))]
    for e in exps:
        a = e["aggregate"]
        rec = " | ".join(_fmt(a["recall"].get(c)) for c in classes)
        md.append(f"| {e['name']} | {e['level']} | {e['method']} | {e['dim']} | {_fmt(a['accuracy'])} | "
                  f"{_ci(e.get('bootstrap'), 'accuracy')} | {_fmt(a['macro_f1'])} | {_ci(e.get('bootstrap'), 'macro_f1')} | {rec} |")
    if published is not None:
        md += [""] + _published_md(published)
    md += ["", "## Confusion matrices (one per fusion level, its best experiment; summed over folds)", ""]
    md += [f"![{cap.replace('[', '(').replace(']', ')')}](images/{p.name})" for cap, p in cms]
    if emap_caption:
        md += ["", "## Embedding map", "", f"![{emap_caption}](images/{emap.name})", ""]
    if ex_paths:
        md += ["", f"## {ex_title}", ""]
        for lab, p in ex_paths:
            md += [f"**{lab}**", "", f"![{lab}](images/{p.name})", ""]
    md += ["", "## Dataset", "", "```", json.dumps(ds, indent=1, default=_json_default), "```",
           "", "## Weights", "", "```", json.dumps(res.get("weights"), indent=1, default=_json_default), "```",
           "", "## Windows, preprocessing and representations", "", "```",
           json.dumps({"windows": res.get("windows"), "representations": res.get("representations")}, indent=1, default=_json_default),
           "```", "", "## Configuration", "", "```", json.dumps(res.get("config"), indent=1, default=_json_default), "```",
           "", "## Timing", "", f"embedding: {json.dumps(res.get('embedding'), default=_json_default)}; "
           f"heads: {res.get('head_seconds', 0):.1f} s", ""]
    (d / "report.md").write_text("\n".join(md), encoding="utf-8")

    # ------------------------------------------------------------------ html (self-contained)
    def uri(p: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()

    esc = html.escape
    rows = []
    for e in exps:
        a = e["aggregate"]
        cells = [e["name"], e["level"], e["method"], str(e["dim"]), _fmt(a["accuracy"]), _ci(e.get("bootstrap"), "accuracy"),
                 _fmt(a["macro_f1"]), _ci(e.get("bootstrap"), "macro_f1")] + [_fmt(a["recall"].get(c)) for c in classes]
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    hdr = ["experiment", "level", "fusion", "dim", "accuracy", "acc. 95 % CI", "macro-F1", "F1 95 % CI"] + [
        f"recall {c}" for c in classes]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        ".banner{background:#fff3cd;border:2px solid #d39e00;padding:.6em 1em;margin:.5em 0;font-weight:bold}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
        "th{background:#eee}pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:12px}"
        "table.kv th{text-align:left;vertical-align:top;background:#f4f4f4;font-weight:normal}"
        "figure{display:inline-block;margin:4px}figcaption{font-size:12px}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        *[f"<div class='banner'>{esc(b)}</div>" for b in banners],
        f"<p>Dataset <b>{esc(str(ds.get('name')))}</b>: {ds.get('participants')} participants, {ds.get('trials')} trials; "
        f"protocol <b>{esc(str(res.get('protocol')))}</b> ({len(res.get('folds', []))} folds, subject-disjoint); "
        f"head <b>{esc(str(head.get('kind')))}</b> on frozen 192-D embeddings.</p>",
        *([f"<p>{esc(ft_note)}</p>"] if ft_note else []),
        *([f"<figure><img src='{uri(summary)}' alt='accuracy per experiment' id='summary'><figcaption>accuracy per "
           "experiment, mean ± std across folds, coloured by fusion level; dashed: chance</figcaption></figure>"] if exps else []),
        "<h2>Results (mean ± std across folds, %)</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in hdr) + "</tr>",
        *rows, "</table>",
        *([_published_html(published)] if published is not None else []),
        "<p>95 % CI: subject-level bootstrap interval of the pooled out-of-fold accuracy / macro-F1; per-trial "
        "predictions in <a href='predictions.csv'>predictions.csv</a>.</p>" if any(e.get("oof") for e in exps) else "",
        "<h2 id='confusion'>Confusion matrices (one per fusion level, its best experiment; summed over folds)</h2>",
        *[f"<figure><img src='{uri(p)}' alt='{esc(cap)}'><figcaption>{esc(cap)}</figcaption></figure>" for cap, p in cms],
        *([f"<h2 id='embedding-map'>Embedding map</h2><figure><img src='{uri(emap)}' alt='{esc(emap_caption)}'>"
           f"<figcaption>{esc(emap_caption)}</figcaption></figure>"] if emap_caption else []),
    ]
    if ex_paths:
        parts.append(f"<h2>{esc(ex_title)}</h2>")
        for lab, p in ex_paths:
            width = "" if isinstance(examples[lab], Mapping) else " width='160'"  # side-by-side sheets keep their size
            parts.append(f"<figure><img src='{uri(p)}'{width} alt='{esc(lab)}'><figcaption>{esc(lab)}</figcaption></figure>")
    for h, obj in (("Dataset", ds), ("Weights", res.get("weights")),
                   ("Windows, preprocessing and representations", {"windows": res.get("windows"), "representations": res.get("representations")}),
                   ("Configuration", res.get("config")), ("Timing", {"embedding": res.get("embedding"), "head_seconds": res.get("head_seconds")})):
        parts.append(f"<h2>{esc(h)}</h2>{_kv_html(json.loads(json.dumps(obj, default=_json_default)))}")
    parts.append("</body></html>")
    (d / "report.html").write_text("\n".join(parts), encoding="utf-8")


def _published_html(cmp: Mapping[str, Any]) -> str:
    """The published-results section of the HTML report (the Markdown table, as HTML)."""
    esc = html.escape
    srcs = [s["name"] for s in cmp["sources"]]
    out = ["<h2>Published results on the same split (NOT ours) beside ours</h2>", f"<p>{esc(cmp['label'])}. Published "
           "cells: validation / test accuracy %.</p><table><tr><th>modalities</th><th>ours: validation accuracy</th>"
           + "".join(f"<th>published: {esc(s)}</th>" for s in srcs) + "</tr>"]
    for r in cmp["rows"]:
        o = r.get("ours")
        cells = [r["modalities"], f"{o['validation']:.1f} ({o['experiment']})" if o else "not run"]
        for s in srcs:
            p = next((p for p in r["published"] if p["source"] == s), None)
            cells.append("" if p is None else f"{p['validation']:.2f} / " + (f"{p['test']:.2f}" if p.get("test") is not None
                                                                          else "n/a"))
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</table><ul>" + "".join(f"<li>{esc(s['name'])}: {esc(s['citation'])}</li>" for s in cmp["sources"])
               + f"</ul><p>{esc(cmp['note'])}</p>")
    return "".join(out)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path, set, tuple)):
        return str(o) if isinstance(o, Path) else list(o)
    return str(o)
