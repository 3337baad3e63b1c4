# The dock widget's "Temporal pairs (dt)": offered when the features layer was read from an
# AnnData store with an obs table (tests/data/tracks, make_tracks.py there), the pairs those
# the library builds from the store, refused together with a pairs file.
import json
from pathlib import Path

from napari_headrank._widget import HEAD_NONE
from napari_headrank._reader import add_feature_stack
from widget_helpers import make_widget, run_and_wait

import pytest

TRACKS = Path(__file__).resolve().parents[1] / 'data' / 'tracks'
EXPECTED = json.loads((TRACKS / 'expected.json').read_text())
PLUGIN = 'napari-headrank'


def test_temporal_pairs_from_the_layers_store(make_napari_viewer, qtbot, data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    # a TIFF layer: no tracks to pair
    add_feature_stack(viewer, data_dir / 'sample-embeddings.tif')
    assert not widget.track_pairs.isEnabled()
    # a store written by VisCy's EmbeddingWriter: its features layer offers the pairs
    store = TRACKS / 'stores' / 'viscy-writer.zarr'
    viewer.open(str(store), plugin=PLUGIN)
    features = next(layer.name for layer in viewer.layers
                    if layer.metadata.get('headrank', {}).get('source') == str(store)
                    and layer.metadata['headrank']['kind'] == 'features')
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(features))
    assert widget.track_pairs.isEnabled()
    assert not widget.track_dt.isEnabled()
    widget.track_pairs.setChecked(True)
    assert widget.track_dt.isEnabled()
    widget.track_dt.setValue(2)
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_NONE))
    assert run_and_wait(qtbot, widget) == 'done', notes
    pairs = widget.analysis.get_pairs()
    assert pairs.get_dt() == 2 and pairs.get_path() == str(store)
    assert widget.analysis.get_contrastive().get_n_pairs() == len(
        EXPECTED['viscy-writer']['pairs']['2'])
    # with a pairs file too: a message, no run
    widget.pairs_file.setText(data_dir / 'sample-pairs.csv')
    widget.run()
    assert widget.worker is None
    assert notes['error'] == ['Give either a pairs file or temporal pairs, not both.']
    # back to the TIFF layer: not offered, not used
    widget.features_combo.setCurrentIndex(widget.features_combo.findData('sample-embeddings'))
    assert not widget.track_pairs.isEnabled()
    assert 'track_pairs' not in widget.collect()
