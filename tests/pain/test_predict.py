"""`biomoe predict` end to end: train a head with the reference checkpoint, predict on CSV files
written here, and compare with the head applied to embeddings computed directly with embed_windows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from tiny_biomoe.cli import main
from tiny_biomoe.data import make_synthetic_pain, write_ai4pain_layout
from tiny_biomoe.embed import embed_windows
from tiny_biomoe.errors import CheckpointError, InputError
from tiny_biomoe.signals import preprocess
from tiny_biomoe.pain import load_head, predict

KINDS = ["waveform", "psd"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, reference_checkpoint):
    tmp = tmp_path_factory.mktemp("predict")
    root = tmp / "ai4pain"
    write_ai4pain_layout(make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=3), root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the synthetic layout has no validation/test partitions
        rc = main(["train", "--dataset", "ai4pain", "--root", str(root), "--modalities", "EDA", "--kinds", *KINDS,
                   "--fusion", "add", "--head", "logreg", "--no-cache", "--device", "cpu",
                   "--weights", str(reference_checkpoint), "--out", str(tmp / "head")])
    assert rc == 0
    return tmp


def _write_csv(path, x, fs=100.0, extra=None):
    cols = {"time": np.arange(len(x)) / fs, "EDA": x, **(extra or {})}
    pd.DataFrame(cols).to_csv(path, index=False)
    return path


def _direct(head, meta, windows, model):
    """What the head gives on embeddings computed directly (no predict code)."""
    emb = embed_windows(windows, sampling_rate=100.0, modality="EDA", kinds=KINDS, model=model, device="cpu")
    assert meta["fusion"]["method"] == "add"
    return head.predict_proba(emb["waveform"] + emb["psd"])


def test_predict_cli_matches_direct_embeddings(trained, reference_model, tmp_path, capsys):
    rng = np.random.default_rng(0)
    new = make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=11)
    a = new.trials[0].signals["EDA"]  # a 10 s trial: one centred window, as in training
    b = np.concatenate([t.signals["EDA"] for t in new.trials[:3]])[:2500] + 0.01 * rng.normal(size=2500)  # 25 s
    fa = _write_csv(tmp_path / "a.csv", a, extra={"BVP": new.trials[0].signals["BVP"]})  # the EDA column is picked by name
    fb = _write_csv(tmp_path / "b.csv", b)
    out = tmp_path / "pred.csv"
    with pytest.warns(UserWarning, match="only its centre 10 s window"):  # b is 25 s long
        rc = main(["predict", "--head", str(trained / "head"), str(fa), str(fb), "--device", "cpu", "-o", str(out)])
    assert rc == 0 and "wrote 2 predictions" in capsys.readouterr().out
    head, meta = load_head(trained / "head")
    classes = meta["classes"]
    df = pd.read_csv(out)
    assert list(df.columns) == ["file", "window", "start_s", "end_s", "predicted", *[f"p_{c}" for c in classes], "quality_flags"]
    assert len(df) == 2 and df["file"].tolist() == [str(fa), str(fb)]
    p = df[[f"p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    assert df["predicted"].tolist() == [classes[i] for i in p.argmax(1)]
    # independent windows: whole-signal filter, centre crop of 1000 samples
    xa = preprocess(a, sampling_rate=100.0, modality="EDA")
    s = (len(xa) - 1000) // 2
    xb = preprocess(b, sampling_rate=100.0, modality="EDA")
    wins = np.stack([xa[s:s + 1000], xb[750:1750]]).astype(np.float32)
    np.testing.assert_allclose(p, _direct(head, meta, wins, reference_model), atol=2e-5)
    assert df["start_s"].tolist() == pytest.approx([s / 100.0, 7.5]) and df["end_s"].tolist() == pytest.approx([s / 100 + 10, 17.5])

    # sliding windows: 25 s, window 10 s, stride 5 s -> starts 0, 5, 10, 15
    rc = main(["predict", "--head", str(trained / "head"), str(fb), "--stride", "5", "--device", "cpu", "-o", str(out), "--force"])
    assert rc == 0
    df = pd.read_csv(out)
    assert df["start_s"].tolist() == [0.0, 5.0, 10.0, 15.0] and df["window"].tolist() == [0, 1, 2, 3]
    wins = np.stack([xb[i * 500:i * 500 + 1000] for i in range(4)]).astype(np.float32)
    np.testing.assert_allclose(df[[f"p_{c}" for c in classes]].to_numpy(), _direct(head, meta, wins, reference_model), atol=2e-5)

    # Python API with an array and the loaded (head, metadata) pair; weights given explicitly
    api = predict((head, meta), a, sampling_rate=100.0, weights=meta["weights"]["source"], device="cpu")
    np.testing.assert_allclose(api[[f"p_{c}" for c in classes]].to_numpy()[0], p[0], atol=2e-5)
    with pytest.raises(InputError, match="names has 1 entries for 2 recordings"):  # never drops a recording
        predict((head, meta), [a, a], names=["only"], sampling_rate=100.0, device="cpu")


def test_predict_refuses_other_weights(trained, tmp_path, capsys):
    from tiny_biomoe import TinyBioMoE

    torch.manual_seed(123)
    TinyBioMoE().save_pretrained(tmp_path / "other")
    x = make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=12).trials[0].signals["EDA"]
    f = _write_csv(tmp_path / "x.csv", x)
    out = tmp_path / "p.csv"
    args = ["predict", "--head", str(trained / "head"), str(f), "--device", "cpu", "-o", str(out),
            "--weights", str(tmp_path / "other")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and "--allow-weights-mismatch" in err
    assert not out.exists()  # nothing written
    with pytest.warns(UserWarning, match="not those the head was trained on"):
        assert main([*args, "--allow-weights-mismatch"]) == 0
    assert len(pd.read_csv(out)) == 1
    with pytest.raises(CheckpointError):
        predict(trained / "head", f, weights=tmp_path / "other", device="cpu")
    # the head's modality is EDA: another modality is refused before any work
    assert main(["predict", "--head", str(trained / "head"), str(f), "--modality", "bvp", "-o", str(tmp_path / "q.csv")]) == 2
    assert "does not match the head" in capsys.readouterr().err


def test_head_trained_on_random_init_gets_the_same_init_back(trained):
    from tiny_biomoe import TinyBioMoE

    head, meta = load_head(trained / "head")
    real = meta["weights"]["source"]
    meta = {**meta, "weights": {"source": "random-init(seed=3)", "official": False, "sha256": None}}
    x = make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=13).trials[0].signals["EDA"]
    with pytest.warns(UserWarning, match="RANDOM-INIT"):
        df = predict((head, meta), x, sampling_rate=100.0, device="cpu")
    torch.manual_seed(3)
    model = TinyBioMoE().eval()
    xp = preprocess(x, sampling_rate=100.0, modality="EDA")
    w = xp[(len(xp) - 1000) // 2:][:1000][None].astype(np.float32)
    np.testing.assert_allclose(df[[f"p_{c}" for c in meta["classes"]]].to_numpy(), _direct(head, meta, w, model), atol=2e-5)
    with pytest.raises(CheckpointError, match="sha256"):  # explicit other weights: no recorded hash to match
        predict((head, meta), x, sampling_rate=100.0, weights=real, device="cpu")
