"""One conditioning path: embed, render, the pain pipeline, predict and the shards give IDENTICAL windows.

Before, embed/render filtered then resampled while the pipeline, predict and the shards resampled
then filtered: the windows of the same recording differed by 2-7 % of their range. This test
conditions one recording through each caller's own entry point and compares the windows bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tiny_biomoe.embed as embed_mod
from tiny_biomoe.data import PainDataset, Trial
from tiny_biomoe.embed import embed_signal
from tiny_biomoe.pain import trial_windows
from tiny_biomoe.pain.pipeline import _trial_conditioning
from tiny_biomoe.pain.predict import _windows as predict_windows
from tiny_biomoe.previews import render_signal
from tiny_biomoe.pretrain import ShardedTask, config_from_dict, prepare_shards
from tiny_biomoe.representations import render

FS = 250.0  # a native rate above BVP's model rate (100 Hz): every path resamples


def _bvp(seed: int, seconds: float = 30.0) -> np.ndarray:
    import neurokit2 as nk

    t = np.arange(int(seconds * FS)) / FS
    return 5.0 + 0.02 * t + nk.ppg_simulate(duration=seconds, sampling_rate=int(FS), heart_rate=66 + seed, random_state=seed)


@pytest.fixture(scope="module")
def rendered():
    wins, images = render_signal(_bvp(0), sampling_rate=FS, modality="bvp", kinds=("waveform", "multi"))
    return wins, images


def test_render_windows_are_the_model_rate_sliding_windows(rendered):
    wins, _ = rendered
    assert wins.data.shape == (3, 1000) and wins.sampling_rate == 100.0
    assert set(wins.lines) == {"raw", "filtered"}


def test_embed_renders_exactly_the_preview_windows(rendered, reference_model, monkeypatch):
    wins, images = rendered
    seen: dict[str, tuple[np.ndarray, dict]] = {}

    def spy(x, *, kind, sampling_rate, modality=None, device=None, lines=None, **params):
        seen[kind] = (x.detach().cpu().numpy(), {c: np.asarray(v) for c, v in (lines or {}).items()})
        return render(x, kind=kind, sampling_rate=sampling_rate, modality=modality, device=device, lines=lines,
                      **params)

    monkeypatch.setattr(embed_mod, "render", spy)
    res = embed_signal(_bvp(0), sampling_rate=FS, modality="bvp", kinds=("waveform", "multi"), model=reference_model)
    for kind in ("waveform", "multi"):
        np.testing.assert_array_equal(seen[kind][0], wins.data)
    for c in wins.lines:
        np.testing.assert_array_equal(seen["multi"][1][c], wins.lines[c])
    with torch.inference_mode():  # and the model saw the preview images
        np.testing.assert_allclose(res.embeddings["multi"], reference_model(images["multi"]).numpy(), rtol=1e-4, atol=1e-5)


def test_pipeline_and_predict_centre_window_is_the_middle_sliding_window(rendered):
    wins, _ = rendered
    ds = PainDataset("one", [Trial("s1", "t1", "p", {"BVP": _bvp(0)}, {"BVP": FS})], ["p"])
    w, fs, info = trial_windows(ds, "BVP", window_s=10.0)
    assert fs == 100.0 and info["conditioning"]["order"] == ["gaps", "filter", "resample", "windows"]
    np.testing.assert_array_equal(w[0], wins.data[1].astype(np.float32))  # centre of 30 s = the 10-20 s window
    _, _, _, lines, _ = _trial_conditioning(ds, "BVP", 10.0, True, lines=("raw", "filtered"))
    for c in lines:
        np.testing.assert_array_equal(lines[c][0], wins.lines[c][1].astype(np.float32))
    win = {"sampling_rate": info["sampling_rate"], "window_s": info["window_s"], "samples": info["samples"]}
    centre, starts, _, _ = predict_windows(_bvp(0), FS, "bvp", win, True, None)
    np.testing.assert_array_equal(centre[0], w[0])
    assert starts.tolist() == [10.0]
    sliding, starts, _, _ = predict_windows(_bvp(0), FS, "bvp", win, True, 10.0)
    np.testing.assert_array_equal(sliding, wins.data.astype(np.float32))
    np.testing.assert_array_equal(starts, wins.starts)


def test_shards_hold_the_same_windows(rendered, tmp_path):
    wins, _ = rendered
    root = tmp_path / "data"
    root.mkdir()
    np.save(root / "rec0.npy", _bvp(0))
    np.save(root / "rec1.npy", _bvp(1))
    (root / "labels.csv").write_text("record,label\nrec0,A\nrec1,B\n")
    cfg = config_from_dict({"tasks": [{
        "name": "bvp", "modality": "bvp", "target": "class", "preprocess": True,
        "source": {"format": "npy", "path": str(root), "sampling_rate": FS, "labels_file": str(root / "labels.csv")},
        "window": {"length_s": 10.0, "stride_s": 10.0, "resample_hz": 100.0}}],
        "shards": {"dir": str(tmp_path / "shards")}})
    folder = prepare_shards(cfg, progress=False)["bvp"]
    st = ShardedTask(folder)
    x, _ = st.get(np.arange(3))  # rec0's windows come first
    np.testing.assert_array_equal(x, wins.data.astype(np.float32))
    assert st.index["conditioning"] == {"order": ["gaps", "filter", "resample", "windows"], "version": 2}


def test_multi_lines_differ_from_the_filtered_window(rendered):
    wins, images = rendered
    assert not np.allclose(wins.lines["raw"], wins.data)  # raw is the unfiltered recording
    from_windows = render(wins.data, kind="multi", sampling_rate=wins.sampling_rate,
                          modality="bvp")  # old way: both lines from the window
    assert not torch.equal(from_windows, images["multi"])


def test_render_cli_takes_embeds_signal_options(tmp_path):
    from PIL import Image

    from tiny_biomoe.cli import main
    from tiny_biomoe.previews import render_file

    t = np.arange(int(30 * FS)) / FS
    p = tmp_path / "rec.csv"
    np.savetxt(p, np.c_[t, _bvp(0)], delimiter=",", header="time,bvp", comments="", fmt="%.6f")
    out = tmp_path / "prev"
    rc = main(["render", str(p), "--modality", "bvp", "--kinds", "waveform", "--resample", "native", "--window", "5",
               "--stride", "5", "--max-missing", "0.2", "--max-windows", "2", "-o", str(out)])
    assert rc == 0 and len(list((out / "waveform").glob("*.png"))) == 2
    # the PNG is the image of the native-rate window that embed would give the model
    wins, imgs = render_signal(np.loadtxt(p, delimiter=",", skiprows=1)[:, 1], sampling_rate=FS, modality="bvp",
                               kinds=("waveform",), window=5.0, stride=5.0, resample="native", max_windows=2)
    png = np.asarray(Image.open(sorted((out / "waveform").glob("*.png"))[0]))
    expect = (imgs["waveform"][0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    assert wins.sampling_rate == FS
    np.testing.assert_array_equal(png, expect)
    assert render_file(p, "bvp", tmp_path / "p2", kinds="waveform", resample=50, max_windows=1)


def test_old_order_heads_and_shards_are_refused(rendered, tmp_path):
    import json
    import warnings

    from tiny_biomoe.errors import CheckpointError, DatasetError
    from tiny_biomoe.pain.heads import Head, load_head, save_head
    from tiny_biomoe.pain.predict import predict
    from tiny_biomoe.representations import render_info

    head = Head(192, 2, 0, 0.0)
    meta = {"classes": ["a", "b"], "fusion": {"inputs": [["bvp", "waveform"]], "method": "add"},
            "pipeline": {"preprocess": True, "render_params": {}},
            "windows": {"bvp": {"sampling_rate": 100.0, "window_s": 10.0, "samples": 1000}},  # no conditioning record
            "representations": {"bvp/waveform": render_info("waveform", 100.0, 1000, "bvp")}}
    with pytest.raises(CheckpointError, match=r"old conditioning order \(resample -> filter"):
        predict((head, meta), [_bvp(0)], sampling_rate=FS)
    folder = save_head(head, tmp_path / "head", meta)
    with pytest.warns(UserWarning, match="old conditioning order"):
        load_head(folder)
    meta["windows"]["bvp"]["conditioning"] = {"order": ["gaps", "filter", "resample", "windows"], "version": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        load_head(save_head(head, tmp_path / "head2", meta))
    # shards whose index records no conditioning (built before version 2) are refused, with the fix
    test_shards_hold_the_same_windows(rendered, tmp_path)
    idx = tmp_path / "shards" / "bvp" / "index.json"
    d = json.loads(idx.read_text())
    del d["conditioning"]
    idx.write_text(json.dumps(d))
    with pytest.raises(DatasetError, match="old conditioning order.*--force"):
        ShardedTask(idx.parent)
