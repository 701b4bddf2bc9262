"""The representations layout: Kind in a leaf module, line helpers in the raster module, previews moved up."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tiny_biomoe.representations as reps


def test_kind_record_and_line_helpers_live_in_the_leaf_modules():
    from tiny_biomoe.representations import _raster, base, kind, psd, multi, waveform

    assert base.Kind is kind.Kind is reps.Kind and base.check_image_size is kind.check_image_size
    for mod in (waveform, psd, multi):
        assert mod.check_line_params is _raster.check_line_params
        assert mod.scale_windows is _raster.scale_windows
    assert reps.scale_windows is _raster.scale_windows


@pytest.mark.parametrize("name", ["render_signal", "save_previews", "contact_sheet", "render_file"])
def test_moved_preview_names_forward_with_a_deprecation_warning(name):
    import tiny_biomoe.previews as previews

    with pytest.warns(DeprecationWarning, match=f"tiny_biomoe.previews.{name}"):
        obj = getattr(reps, name)
    assert obj is getattr(previews, name)


def test_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        reps.nope  # noqa: B018


def test_representations_import_does_not_load_the_previews_module_above_it():
    code = "import sys, tiny_biomoe.representations as r; r.list_kinds(); print('tiny_biomoe.previews' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
