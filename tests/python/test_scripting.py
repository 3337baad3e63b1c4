# Scripting headrank from Python: what the issue asks of the binding beyond the numbers.
# Long calls release the GIL and take a Gio.Cancellable that another thread may cancel;
# errors arrive as GLib.Error with our domains and codes; enums read well.
# (Asynchronous runs with progress from a GLib main loop: test_analysis.py and
# examples/analyse_stack.py, run by test_examples.py.)
#
# Run: meson test -C build python-stack, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_scripting.py
import ctypes
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
SAMPLE_DIR = Path(os.environ.get('HEADRANK_DATADIR') or ROOT / 'data')
V0 = SAMPLE_DIR / 'head-viscy-v0.safetensors'


@pytest.fixture(scope='module')
def long_stack(tmp_path_factory):
    """400,000 × 64 float32 (102 MB): 0.65 s through the 64 → 192 → 64 head on the 2-core
    test machine when it is idle (60,000 samples took only 0.09 s, too short to cancel at
    0.1 s), longer when it is busy."""
    path = tmp_path_factory.mktemp('long') / 'long.tif'
    tifffile.imwrite(path, np.random.default_rng(7).standard_normal((400_000, 64),
                                                                    dtype=np.float32))
    return path


def analysis_of(path):
    a = Headrank.Analysis.new(Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO,
                                                       None))
    a.set_head(Headrank.Head.new_from_file(str(V0), 'viscy-v0', None, None))
    return a


def test_run_releases_the_gil(long_stack):
    """A Python thread keeps counting while Analysis.run() runs, without a progress
    callback (which would hand the GIL back on each call), in the main thread: had the
    call kept the GIL, the counter would stop for the whole run."""
    a = analysis_of(long_stack)
    stamps = []
    running = threading.Event()
    stop = threading.Event()

    def count():
        running.set()
        while not stop.is_set():
            stamps.append(time.perf_counter())

    counter = threading.Thread(target=count)
    counter.start()
    running.wait()
    t0 = time.perf_counter()
    assert a.run(None, None, None)
    t1 = time.perf_counter()
    stop.set()
    counter.join()
    during = np.array([t for t in stamps if t0 <= t <= t1])
    longest_pause = np.diff(np.concatenate([[t0], during, [t1]])).max()
    print(f'run {t1 - t0:.3f} s; counter ticks during the run {len(during)}, '
          f'longest pause {longest_pause * 1000:.1f} ms')
    assert t1 - t0 > 0.2, 'the run is too short to show anything'
    assert len(during) > 1000
    assert longest_pause < (t1 - t0) / 3


def test_cancel_from_another_thread(long_stack):
    a = analysis_of(long_stack)
    cancellable = Gio.Cancellable()
    timer = threading.Timer(0.1, cancellable.cancel)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, cancellable)
    elapsed = time.perf_counter() - t0
    timer.join()
    assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), e.value
    assert elapsed < 1.0, f'cancelled after {elapsed:.3f} s'
    assert not a.is_done()


def test_reader_open_takes_a_cancellable(long_stack):
    c = Gio.Cancellable()
    c.cancel()
    with pytest.raises(GLib.Error) as e:
        Headrank.FeatureStack.new_from_file(str(long_stack), Headrank.StackLayout.AUTO, c)
    assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), e.value


# -- errors: GLib.Error with our domains and codes --------------------------------------


def test_stack_error(tmp_path):
    path = tmp_path / 'short.tif'
    path.write_bytes(b'II*\x00\x08\x00')
    with pytest.raises(GLib.Error) as e:
        Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)
    assert e.value.domain == 'hr-stack-error-quark'
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError(e.value.code))
    assert str(path) in e.value.message


def test_head_error(tmp_path):
    with pytest.raises(GLib.Error) as e:
        Headrank.Head.new_from_file(str(V0), 'linear:7,bogus', None, None)
    assert e.value.domain == GLib.quark_to_string(Headrank.head_error_quark())
    assert e.value.matches(Headrank.head_error_quark(), Headrank.HeadError(e.value.code))


def test_analysis_error_shape(tmp_path):
    path = tmp_path / 'narrow.tif'
    tifffile.imwrite(path, np.ones((40, 16), np.float32))
    with pytest.raises(GLib.Error) as e:
        analysis_of(path).run(None, None, None)
    assert e.value.matches(Headrank.analysis_error_quark(), Headrank.AnalysisError.SHAPE)
    assert not e.value.matches(Headrank.stack_error_quark(), Headrank.AnalysisError.SHAPE)


def test_tensor_error(tmp_path):
    path = tmp_path / 'bad.safetensors'
    path.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ')
    with pytest.raises(GLib.Error) as e:
        Headrank.TensorFile.new(str(path), None)
    assert e.value.matches(Headrank.tensor_error_quark(), Headrank.TensorError(e.value.code))


# -- enums and properties read well ------------------------------------------------------


def test_enum_names_and_nicks():
    assert Headrank.StackLayout.CHANNELS.value_nick == 'channels'
    assert Headrank.StackLayout(int(Headrank.StackLayout.MATRIX)) == Headrank.StackLayout.MATRIX
    assert Headrank.NormMode.RUNNING.value_nick == 'running'
    assert Headrank.AnalysisError.SHAPE.value_nick == 'shape'
    assert Headrank.StageRole.PROJECTIONS.value_nick == 'projections'
    flags = Headrank.VerdictFlags.INFLATES_RANK | Headrank.VerdictFlags.CLIPPING
    assert 'inflates-rank' in flags.value_nicks


def test_properties_by_name():
    a = analysis_of(SAMPLE_DIR / 'sample-embeddings.tif')
    assert a.props.progress == 0.0
    a.props.log_plots = False
    assert a.get_log_plots() is False
    assert isinstance(a.props.head, Headrank.Head)


def pool_threads():
    """The names of this process's threads that are the library's pool threads."""
    names = []
    for task in os.listdir('/proc/self/task'):
        try:
            names.append(Path(f'/proc/self/task/{task}/comm').read_text().strip())
        except OSError:
            pass
    return sum(name == 'headrank-pool' for name in names)


def test_set_n_threads_sets_the_pool_and_keeps_the_results(long_stack):
    """Headrank.set_n_threads(): an analysis runs on that many threads (its pool threads,
    named headrank-pool, counted from a progress callback, which runs in the calling
    thread: n − 1 of them), whatever OpenBLAS's number; the results agree to rounding (the
    sums over the samples are split and added in another order: eigenvalues within 10⁻⁹ of
    the largest); 0 follows OpenBLAS's number again."""
    default = Headrank.get_n_threads()
    assert default >= 1
    results = {}
    try:
        for n in (1, 3):
            Headrank.set_n_threads(n)
            assert Headrank.get_n_threads() == n
            a = analysis_of(long_stack)
            seen = []
            assert a.run(lambda fraction, *args: seen.append(pool_threads()), None, None)
            assert seen and max(seen) == n - 1, (n, seen)
            results[n] = {name: np.array(a.find_stage(name).get_spectrum().get_eigenvalues())
                          for name in ('features', 'projections')}
    finally:
        Headrank.set_n_threads(0)
    assert Headrank.get_n_threads() == default
    for name, lam in results[1].items():
        np.testing.assert_allclose(results[3][name], lam, rtol=1e-9, atol=1e-9 * lam.max())


def test_one_wide_spectrum_reduces_on_every_thread(tmp_path):
    """An analysis with one spectrum at least 256 wide (the features alone, 300 wide) and
    threads to spare reduces it with OpenBLAS at the analysis' number of threads
    (hr_blas_run_threaded()), then sets OpenBLAS's number back: here from 1, as the command
    sets it, to 2 and back to 1. The spectrum matches numpy's either way."""
    x = (np.random.default_rng(5).standard_normal((3000, 300))
         * np.linspace(1, 0.01, 300)).astype(np.float32)
    path = tmp_path / 'wide.tif'
    tifffile.imwrite(path, x)
    blas = ctypes.CDLL('libopenblas.so.0')  # the library's: numpy brings its own
    was = blas.openblas_get_num_threads()
    lam = np.linalg.eigvalsh(np.cov(x.astype(np.float64), rowvar=False))[::-1]
    try:
        blas.openblas_set_num_threads(1)
        for n in (1, 2):
            Headrank.set_n_threads(n)
            a = Headrank.Analysis.new(Headrank.StackReader.new(str(path),
                                                               Headrank.StackLayout.AUTO, None))
            assert a.run(None, None, None)
            assert blas.openblas_get_num_threads() == 1, n
            got = np.array(a.find_stage('features').get_spectrum().get_eigenvalues())
            np.testing.assert_allclose(got, lam, rtol=0, atol=1e-12 * lam[0])
    finally:
        Headrank.set_n_threads(0)
        blas.openblas_set_num_threads(was)
