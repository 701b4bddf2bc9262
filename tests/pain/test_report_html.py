"""The HTML/Markdown report checked structurally: every image decodes, every link resolves, the expected
sections are there, no raw JSON dumps, and predictions.csv holds the out-of-fold predictions.

(A headless-Chromium screenshot test was not possible here: ``playwright install chromium`` cannot
reach its download host offline and no chromium package is installed; see docs/pain.md.)
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.data import make_synthetic_pain
from tiny_biomoe.pain import PipelineConfig, evaluate, write_report


def _feature_embed(w, fs, m, k, model, **kw):
    spec = np.abs(np.fft.rfft(w - w.mean(1, keepdims=True), axis=1))[:, :188]
    mom = np.stack([w.mean(1), w.std(1), np.ptp(w, 1), np.abs(np.diff(w, axis=1)).mean(1)], 1)
    out = np.concatenate([spec, mom], 1).astype(np.float32)
    return out if k == "waveform" else np.log1p(np.abs(out))


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.ids, self.tags, self.h2 = [], [], [], [], []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "a":
            self.links.append(a.get("href", ""))
        if "id" in a:
            self.ids.append(a["id"])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    ds = make_synthetic_pain(n_subjects=4, trials_per_class=2, seed=1)
    cfg = PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform", "spectrogram_psd"], fusion_methods=["add"],
                         protocol="loso")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, table = evaluate(ds, cfg, model=None, embed_fn=_feature_embed)
    out = write_report(res, tmp_path_factory.mktemp("r") / "report", embeddings=table)
    return out, res, table


def test_html_images_decode_links_resolve_sections_present(report):
    out, res, _ = report
    text = (out / "report.html").read_text(encoding="utf-8")
    p = _Collect()
    p.feed(text)
    assert "pre" not in p.tags and '{"' not in text  # no raw JSON dumps
    assert p.imgs and all(s.startswith("data:image/png;base64,") for s in p.imgs)
    for s in p.imgs:
        img = mpimg.imread(io.BytesIO(base64.b64decode(s.split(",", 1)[1])), format="png")
        assert img.shape[0] > 50 and img.shape[1] > 50 and img.std() > 0.01  # decodes, not blank
    for href in p.links:
        assert not href.startswith(("http:", "https:")) or href.startswith("https://github.com/")
        if not href.startswith(("http", "#")):
            assert (out / href).is_file(), href
    levels = list(dict.fromkeys(e["level"] for e in res["experiments"]))
    assert levels == ["single", "representations", "modalities"]
    assert len(re.findall(r"<figure><img [^>]*alt='(single|representations|modalities): best", text)) == 3
    assert {"summary", "confusion", "embedding-map"} <= set(p.ids)
    for h in ("Results (mean ± std across folds, %)", "Embedding map", "Dataset", "Weights", "Configuration"):
        assert h in p.h2
    assert "acc. 95 % CI" in text


def test_markdown_images_exist_and_predictions_csv(report):
    out, res, table = report
    md = (out / "report.md").read_text(encoding="utf-8")
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert "images/embedding_map.png" in refs and sum(r.startswith("images/cm_") for r in refs) == 3
    for r in refs:
        assert mpimg.imread(out / r).std() > 0.01
    df = pd.read_csv(out / "predictions.csv")
    assert len(df) == len(res["experiments"]) * len(table.labels)
    first = df[df.experiment == res["experiments"][0]["name"]]
    assert sorted(first["trial"]) == sorted(table.trial_ids)
    np.testing.assert_allclose(first[[f"p_{c}" for c in res["classes"]]].sum(axis=1), 1.0, atol=1e-4)
    acc = (first["true"] == first["predicted"]).mean()
    assert acc == pytest.approx(res["experiments"][0]["aggregate"]["pooled_accuracy"])


def _chromium() -> str | None:
    import shutil

    return next((p for p in (shutil.which(n) for n in ("chromium-headless-shell", "chromium", "chromium-browser",
                                                           "google-chrome")) if p), None)


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium (Debian: apt-get install chromium-headless-shell)")
def test_html_renders_in_headless_chromium(report, tmp_path):
    import subprocess

    out, res, _ = report
    exe = _chromium()
    probe = tmp_path / "probe.html"  # the report plus a script that records, after load, how many images failed
    probe.write_text((out / "report.html").read_text(encoding="utf-8").replace(
        "</body>", "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.body.dataset.images=i.length;document.body.dataset.broken=i.filter(x=>!x.complete||x.naturalWidth==0).length;"
        "});</script></body>"), encoding="utf-8")
    flags = ["--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000"]
    dom = subprocess.run([exe, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'data-images="(\d+)" data-broken="(\d+)"', dom)
    assert m, dom[:500]
    assert int(m.group(1)) == len(re.findall("<img ", (out / "report.html").read_text())) > 0 and m.group(2) == "0"
    for h in ("Results (mean ± std across folds, %)", "Confusion matrices", "Embedding map", "Configuration"):
        assert h in dom
    shot = tmp_path / "shot.png"
    subprocess.run([exe, *flags, "--window-size=1200,5000", f"--screenshot={shot}", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    px = mpimg.imread(shot)[..., :3]
    assert px.shape[:2] == (5000, 1200)
    inked = (px < 0.9).any(axis=2)
    assert inked.mean() > 0.05  # not blank: text, tables and figures
    blue = (px[..., 2] > 0.5) & (px[..., 0] < 0.35)  # the confusion matrices' Blues and the bars
    assert blue.sum() > 2000
    rows = np.flatnonzero(inked.any(axis=1))
    assert rows.max() - rows.min() > 2500  # content spread down the page, not one rendered line
