# python/headrank_numpy.py: FeatureStack <-> numpy, and the small-result helpers.
#
# The copy counts the module documents are MEASURED here, on a 100,000 × 768 float32
# matrix (307 MB), in a fresh Python process each: the peak resident memory above the
# baseline (Linux VmHWM, reset through /proc/self/clear_refs before each step), in units of
# the array's size. One copy is a peak of about 1.0, two copies about 2.0.
#
# Run: meson test -C build python-stack, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_numpy_helper.py
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402

SAMPLE_DIR = Path(os.environ.get('HEADRANK_DATADIR') or ROOT / 'data')
N, D = 100_000, 768

MEASURE = r'''
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import headrank_numpy as hn

def status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

N, D = %d, %d
x = np.random.default_rng(0).standard_normal((N, D), dtype=np.float32)
size = x.nbytes
out = {}
def measure(name, f):
    gc.collect()
    base = status('VmRSS')
    with open('/proc/self/clear_refs', 'w') as c:
        c.write('5')  # reset VmHWM to the current RSS
    t = time.perf_counter()
    r = f()
    out[name] = {'peak': (status('VmHWM') - base) / size, 'seconds': time.perf_counter() - t}
    return r

stack = measure('from_numpy', lambda: hn.from_numpy(x))
stack_gi = measure('from_numpy_gi_only', lambda: hn.from_numpy(x, gi_only=True))
del stack_gi
y = measure('to_numpy', lambda: hn.to_numpy(stack))
v = measure('view', lambda: hn.view(stack))
source = hn.source_from_numpy(x)
r = measure('read', lambda: hn.read(source))
out['equal'] = bool(np.array_equal(x, y) and np.array_equal(x, v) and np.array_equal(x, r))
print(json.dumps(out))
''' % (N, D)


def _can_measure():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


@pytest.fixture(scope='module')
def copies():
    if not _can_measure():
        pytest.skip('/proc/self/clear_refs is not writable: peak memory cannot be reset')
    # without meson's MALLOC_PERTURB_, which fills every allocation and so makes resident
    # what a program would never touch (an allocation of about 0.75 of the array that the
    # pure-GI path makes but does not fill: a peak of 2.75 instead of 2.0 under it)
    env = {k: v for k, v in os.environ.items() if k not in ('MALLOC_PERTURB_', 'MALLOC_CHECK_')}
    r = subprocess.run([sys.executable, '-c', MEASURE, str(ROOT / 'python')],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    print('copies of a 100,000 x 768 float32 matrix (peak extra memory / array size):',
          json.dumps(result))
    return result


def test_measured_arrays_are_equal(copies):
    assert copies['equal']


def test_numpy_to_stack_is_one_copy(copies):
    assert 0.9 <= copies['from_numpy']['peak'] <= 1.25, copies


def test_stack_to_numpy_is_one_copy(copies):
    assert 0.9 <= copies['to_numpy']['peak'] <= 1.25, copies


def test_view_makes_no_copy(copies):
    assert copies['view']['peak'] <= 0.1, copies


def test_read_is_the_array_alone(copies):
    # headrank_numpy.read(): the rows straight into the new array, no chunk buffer
    assert 0.9 <= copies['read']['peak'] <= 1.1, copies


def test_pure_gi_path_makes_two_copies(copies):
    # what from_numpy avoids: array.tobytes() and g_bytes_new() both copy (at least two
    # arrays; PyGObject may add more, which is not ours to bound)
    assert copies['from_numpy_gi_only']['peak'] >= 1.8, copies


# -- round trips and shapes -------------------------------------------------------------


@pytest.mark.parametrize('gi_only', [False, True])
@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int16])
def test_round_trip(gi_only, dtype):
    x = (np.arange(35, dtype=np.float64).reshape(7, 5) - 17).astype(dtype)
    s = hn.from_numpy(x, gi_only=gi_only)
    assert isinstance(s, Headrank.FeatureStack)
    assert (s.get_n_samples(), s.get_n_features()) == (7, 5)
    y = hn.to_numpy(s)
    assert y.dtype == np.float32 and y.shape == (7, 5)
    np.testing.assert_array_equal(y, x.astype(np.float32))
    np.testing.assert_array_equal(hn.view(s), y)


def test_from_numpy_takes_non_contiguous_arrays():
    x = np.arange(60, dtype=np.float32).reshape(6, 10)[:, ::2]
    np.testing.assert_array_equal(hn.to_numpy(hn.from_numpy(x)), x)
    np.testing.assert_array_equal(hn.to_numpy(hn.from_numpy(x.T)), x.T)


def test_from_numpy_copies():
    x = np.ones((3, 4), np.float32)
    s = hn.from_numpy(x)
    x[:] = 7
    assert (hn.to_numpy(s) == 1).all()


def test_stack_refcount_after_from_numpy():
    s = hn.from_numpy(np.ones((2, 2), np.float32))
    assert s.__grefcount__ == 1


def test_results_are_read_only():
    s = hn.from_numpy(np.ones((2, 3)))
    for a in (hn.to_numpy(s), hn.view(s)):
        with pytest.raises(ValueError):
            a[0, 0] = 2


def test_view_keeps_the_stack_alive():
    import gc
    v = hn.view(hn.from_numpy(np.full((1000, 16), 3.5)))
    gc.collect()
    assert v.shape == (1000, 16) and (v == 3.5).all()


def test_from_numpy_wants_a_matrix():
    with pytest.raises(ValueError):
        hn.from_numpy(np.ones(5))


def test_empty_array_is_a_stack_error():
    with pytest.raises(GLib.Error) as e:
        hn.from_numpy(np.ones((0, 4), np.float32))
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError.INVALID)


def test_chunks_read_the_whole_file(tmp_path):
    x = np.random.default_rng(1).standard_normal((1000, 12), dtype=np.float32)
    tifffile.imwrite(tmp_path / 'x.tif', x)
    reader = Headrank.StackReader.new(str(tmp_path / 'x.tif'), Headrank.StackLayout.MATRIX, None)
    parts = list(hn.chunks(reader, 300))
    assert [p.shape[0] for p in parts] == [300, 300, 300, 100]
    np.testing.assert_array_equal(np.concatenate(parts), x)


# -- small results ----------------------------------------------------------------------


@pytest.fixture(scope='module')
def analysis():
    features = SAMPLE_DIR / 'sample-embeddings.tif'
    head = SAMPLE_DIR / 'head-viscy-v0.safetensors'
    a = Headrank.Analysis.new(Headrank.StackReader.new(str(features),
                                                      Headrank.StackLayout.AUTO, None))
    a.set_head(Headrank.Head.new_from_file(str(head), 'viscy-v0', None, None))
    assert a.run(None, None, None)
    return a, tifffile.imread(features)


def test_stage_per_sample(analysis):
    a, x = analysis
    ps = hn.stage_per_sample(a.find_stage('features'))
    assert ps.shape == (x.shape[0], 4) and ps.dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(ps[:, 0], x64.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ps[:, 1], x64.std(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ps[:, 2], np.linalg.norm(x64, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(ps[:, 3], (x == 0).mean(1).astype(np.float32))


def test_moments(analysis):
    a, x = analysis
    m = a.find_stage('features').get_moments()
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(hn.moments_mean(m), x64.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hn.moments_std(m), x64.std(0), rtol=1e-9)
    np.testing.assert_array_equal(hn.moments_zero_fraction(m), (x == 0).mean(0))
    xc = x64 - x64.mean(0)
    np.testing.assert_allclose(hn.moments_scatter(m), xc.T @ xc, rtol=1e-9, atol=1e-9)
    relu = [s for s in (a.get_stage(i) for i in range(a.get_n_stages()))
            if s.get_role() == Headrank.StageRole.HIDDEN][0]
    # the ReLU's scatter matrix too: activation layers have a spectrum by default (issue 16)
    assert hn.moments_scatter(relu.get_moments()).shape == (relu.get_dimension(),) * 2
    assert hn.moments_zero_fraction(relu.get_moments()).shape == (relu.get_dimension(),)


def test_spectrum_arrays(analysis):
    a, x = analysis
    arrays = hn.spectrum_arrays(a.find_stage('features').get_spectrum())
    x64 = x.astype(np.float64)
    lam = np.linalg.eigvalsh(np.cov(x64, rowvar=False))[::-1]
    k = min(x.shape)
    for name, values in arrays.items():
        assert values.dtype == np.float64 and values.shape == (k,), name
    scale = lam[0]
    np.testing.assert_allclose(arrays['eigenvalues'], lam[:k], rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(arrays['explained_variance_ratio'], lam[:k] / lam.sum(),
                               atol=1e-9)
    np.testing.assert_allclose(arrays['cumulative_explained_variance'],
                               np.cumsum(lam[:k]) / lam.sum(), atol=1e-9)
    sv = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)
    np.testing.assert_allclose(arrays['singular_values'], sv, rtol=0, atol=1e-7 * sv[0])
    usv = np.linalg.svd(x64, compute_uv=False)
    np.testing.assert_allclose(arrays['uncentred_singular_values'], usv, rtol=0,
                               atol=1e-7 * usv[0])
