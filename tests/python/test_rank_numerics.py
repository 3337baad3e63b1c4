# Issue 10 §1–3, §5, §7: a rank that does not depend on N, its range, the verdict's rules,
# the precision modes, the stored sample format, and non-finite values.
#
# Every stack here is generated inside the test (numpy), written to a temporary TIFF and
# analysed through the typelib, as a user's stack would be. The expected numbers follow
# from the construction (an exact rank, a stated spread of singular values), not from
# headrank. The tolerance's formula is in doc/analysis.md, "The rank tolerance".
import json

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

U32 = 2.0 ** -24
U16 = 2.0 ** -11
U64 = 2.0 ** -53
V = Headrank.VerdictFlags


def write(tmp_path, name, x):
    path = tmp_path / name
    tifffile.imwrite(path, x)
    return str(path)


def reader(path):
    return Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None)


def analyse(features, projections=None, head=None, precision=None, policy=None):
    a = Headrank.Analysis.new(reader(features))
    if projections is not None:
        a.set_projections(reader(projections))
    if head is not None:
        a.set_head(head)
    if precision is not None:
        a.set_precision(precision)
    if policy is not None:
        a.set_nonfinite_policy(policy)
    assert a.run(None, None, None)
    return a


def spectrum(a, stage='features'):
    return a.find_stage(stage).get_spectrum()


def spread_samples(rng, n, d, spread, dtype=np.float32):
    """n samples of d dimensions, standard normal scaled by singular values spread
    geometrically over a factor @spread, in a random orthogonal basis."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = np.geomspace(spread, 1.0, d)
    out = np.empty((n, d), dtype)
    for i in range(0, n, 250_000):
        z = rng.standard_normal((min(250_000, n - i), d))
        out[i:i + len(z)] = (z * s) @ q.T
    return out


def exact_rank(rng, n, d, r, dtype=np.float32):
    return (rng.standard_normal((n, r)) @ rng.standard_normal((r, d))).astype(dtype)


def bytes_of(x):
    return GLib.Bytes.new(np.ascontiguousarray(x, np.float32).tobytes())


def linear_head(w, b=None):
    head = Headrank.Head.new()
    b = np.zeros(w.shape[0], np.float32) if b is None else b
    assert head.append_linear('0', w.shape[1], w.shape[0], bytes_of(w), bytes_of(b))
    return head


# -- §1 the tolerance ------------------------------------------------------------------------


def test_million_samples_spread_over_33x(tmp_path):
    """The issue's first reproduction: 1,000,000 × 64 float32, singular values spread over
    33×, every direction far above float32 rounding: rank 64 (numpy's rule said 39)."""
    rng = np.random.default_rng(10)
    x = spread_samples(rng, 1_000_000, 64, 33.0)
    a = analyse(write(tmp_path, 'spread.tif', x))
    sp = spectrum(a)
    assert sp.get_rank() == 64
    assert tuple(sp.get_rank_range()) == (64, 64)
    # the float32 rounding of the stored values, 2⁻²⁴·‖X‖_F
    x64 = x.astype(np.float64)
    assert sp.get_value_error() == pytest.approx(U32 * np.sqrt((x64 ** 2).sum()), rel=1e-9)
    assert sp.get_tolerance() < 1e-3 * sp.get_singular_values()[-1]
    assert sp.get_matrix_rank() < 64  # numpy's rule, kept for comparison, undercounts
    assert sp.get_alpha()[2] == 64  # α's fit runs over the same 64 values


def test_two_million_samples_through_a_head(tmp_path):
    """2,000,000 × 32 float32 through a 32 → 16 linear head: the features have rank 32,
    the projections use all 16 of their dimensions; the verdict says both."""
    rng = np.random.default_rng(11)
    x = spread_samples(rng, 2_000_000, 32, 10.0)
    w = rng.standard_normal((16, 32)).astype(np.float32) / np.sqrt(32)
    a = analyse(write(tmp_path, 'two-million.tif', x), head=linear_head(w))
    assert spectrum(a).get_rank() == 32
    assert spectrum(a, 'projections').get_rank() == 16
    v = a.get_verdict()
    assert v & V.REDUCES_RANK and v & V.USES_ALL_DIMENSIONS, v
    assert not v & (V.INFLATES_RANK | V.KEEPS_RANK | V.COLLAPSED)
    lines = a.describe_verdict()
    assert lines[0].startswith('The head reduces rank'), lines
    assert 'The head maps the features (rank 32) into 16 dimensions and uses all of them.' \
        in lines


def test_same_distribution_same_rank(tmp_path):
    """One distribution at 10³ … 10⁶ samples: one rank, and the tolerance relative to σ₁
    stays within a factor 2 (it grew a thousandfold under numpy's rule); what moves it is
    the moments' bound, whose γ_b counts the rows of a chunk, b = min(N, 2,048)."""
    rng = np.random.default_rng(12)
    ranks, relative = set(), []
    for n in (1_000, 10_000, 100_000, 1_000_000):
        sp = spectrum(analyse(write(tmp_path, f'n{n}.tif', spread_samples(rng, n, 48, 100.0))))
        ranks.add(sp.get_rank())
        relative.append(sp.get_tolerance() / sp.get_singular_values()[0])
    assert ranks == {48}
    assert max(relative) / min(relative) < 2, relative


def test_float16_and_integer_inputs(tmp_path):
    """The stored format sets the value error: float16 rounds at 2⁻¹¹, and absolutely at
    half its subnormal spacing 2⁻²⁴ (an exact rank 5 stored as float16 is full rank at
    float32's tolerance; here it is 5), 8- and 16-bit integers are exact, 32-bit integers
    are rounded to float32 when read."""
    rng = np.random.default_rng(13)
    x = exact_rank(rng, 400, 32, 5, np.float64)
    half = x.astype(np.float16)
    sp = spectrum(analyse(write(tmp_path, 'half.tif', half)))
    h64 = half.astype(np.float64)
    assert sp.get_value_error() == pytest.approx(
        U16 * np.sqrt((h64 ** 2).sum()) + np.sqrt(half.size) * 2.0 ** -25, rel=1e-9)
    assert sp.get_rank() == 5
    # the same values as float32: rounding at 2⁻¹¹ is far above float32's tolerance
    s = np.linalg.svd(h64 - h64.mean(0), compute_uv=False)
    assert (s > U32 * np.sqrt((h64 ** 2).sum())).sum() > 5

    a = rng.integers(0, 6, (300, 3))
    b = rng.integers(0, 6, (3, 16))
    ints = (a @ b).astype(np.uint8)  # ≤ 75: exact in uint8 and float32
    sp = spectrum(analyse(write(tmp_path, 'u8.tif', ints)))
    assert sp.get_value_error() == 0.0
    assert sp.get_rank() == np.linalg.matrix_rank(ints - ints.mean(0)) == 3
    i32 = (a @ b).astype(np.int32)
    sp = spectrum(analyse(write(tmp_path, 'i32.tif', i32)))
    assert sp.get_value_error() == pytest.approx(
        U32 * np.sqrt((i32.astype(np.float64) ** 2).sum()), rel=1e-9)


def test_report_has_the_parts(tmp_path):
    rng = np.random.default_rng(14)
    a = analyse(write(tmp_path, 'r.tif', exact_rank(rng, 300, 16, 4)))
    s = json.loads(a.to_json(False))['stages'][0]
    sp = spectrum(a)
    parts = s['rank_tolerance_parts']
    assert s['rank'] == 4 and s['rank_range'] == [4, 4]
    assert parts['value_error'] == pytest.approx(sp.get_value_error())
    assert parts['scatter_error'] == pytest.approx(sp.get_scatter_error())
    assert parts['eigensolver_error'] == pytest.approx(sp.get_eigensolver_error())
    assert parts['noise_floor'] == pytest.approx(sp.get_noise_floor())
    assert parts['accumulation_dominates'] == sp.is_tolerance_raised() == (
        parts['scatter_error'] > parts['value_error'] ** 2 + parts['eigensolver_error'])
    tau = np.sqrt(parts['value_error'] ** 2 + parts['scatter_error']
                  + parts['eigensolver_error'])
    assert s['rank_tolerance'] == pytest.approx(tau, rel=1e-12)
    assert 'numpy' in s['matrix_rank_rule']


# -- §3 precision modes, N − 1 ----------------------------------------------------------------


def test_float32_products_exact_rank_5(tmp_path):
    """The issue's second reproduction: float32 products on 300 × 64 of exact rank 5 gave
    rank 31; their error bound now raises the tolerance, and the verdict says so."""
    rng = np.random.default_rng(15)
    path = write(tmp_path, 'r5.tif', exact_rank(rng, 300, 64, 5))
    a = analyse(path, precision=Headrank.Precision.FLOAT32_PRODUCTS)
    sp = spectrum(a)
    assert sp.get_rank() == 5
    assert sp.get_matrix_rank() == 5
    assert sp.is_tolerance_raised()
    assert sp.get_tolerance() >= np.sqrt(a.find_stage('features').get_moments()
                                         .get_error_bound())
    assert any('float32 products raised the rank tolerance' in line
               for line in a.describe_verdict())
    a64 = analyse(path, precision=Headrank.Precision.FLOAT64)
    assert spectrum(a64).get_rank() == 5
    assert spectrum(a64).get_tolerance() < 1e-3 * sp.get_tolerance()
    assert not any('raised the rank tolerance' in line for line in a64.describe_verdict())


def test_two_samples(tmp_path):
    rng = np.random.default_rng(16)
    sp = spectrum(analyse(write(tmp_path, 'n2.tif', rng.standard_normal((2, 16)).astype(
        np.float32))))
    assert sp.get_rank() == 1
    assert tuple(sp.get_rank_range()) == (1, 1)


# -- §2 the verdict's rules (doc/analysis.md, "The verdict") ---------------------------------


def verdict(tmp_path, f, p):
    a = analyse(write(tmp_path, 'f.tif', f), write(tmp_path, 'p.tif', p))
    return a, a.get_verdict()


def test_rule_inflates_rank(tmp_path):
    rng = np.random.default_rng(20)
    a, v = verdict(tmp_path, exact_rank(rng, 500, 32, 5), exact_rank(rng, 500, 32, 20))
    assert v & V.INFLATES_RANK and not v & (V.KEEPS_RANK | V.REDUCES_RANK)
    assert a.describe_verdict()[0].startswith('The head inflates rank: the projections have '
                                              'rank 20')


def test_rule_reduces_rank(tmp_path):
    rng = np.random.default_rng(21)
    a, v = verdict(tmp_path, exact_rank(rng, 500, 32, 20), exact_rank(rng, 500, 32, 5))
    assert v & V.REDUCES_RANK and not v & (V.KEEPS_RANK | V.INFLATES_RANK)
    assert not v & V.USES_ALL_DIMENSIONS  # 5 of 32 dimensions
    assert a.describe_verdict()[0].startswith('The head reduces rank')


def test_rule_keeps_rank_lower_effective_rank(tmp_path):
    """Equal ranks are 'keeps rank', even when the effective rank goes down (the issue:
    both rank 32, the verdict said 'reduces rank')."""
    rng = np.random.default_rng(22)
    f = spread_samples(rng, 2000, 32, 2.0)
    p = spread_samples(rng, 2000, 32, 1000.0)
    a, v = verdict(tmp_path, f, p)
    assert v & V.KEEPS_RANK and v & V.REDUCES_EFFECTIVE_RANK
    assert not v & (V.REDUCES_RANK | V.INFLATES_RANK | V.INFLATES_EFFECTIVE_RANK)
    assert a.describe_verdict()[0].startswith('The head keeps rank (32 in the features, 32 in '
                                              'the projections) and lowers the effective rank')


def test_rule_keeps_rank_higher_effective_rank(tmp_path):
    rng = np.random.default_rng(23)
    a, v = verdict(tmp_path, spread_samples(rng, 2000, 32, 1000.0),
                   spread_samples(rng, 2000, 32, 2.0))
    assert v & V.KEEPS_RANK and v & V.INFLATES_EFFECTIVE_RANK
    assert not v & (V.INFLATES_RANK | V.REDUCES_EFFECTIVE_RANK)
    assert 'raises the effective rank' in a.describe_verdict()[0]


def test_rule_higher_effective_rank_offset_note_only_when_true(tmp_path):
    """The note that a common offset lowers the features' effective rank is said only when
    it does: zero-mean features (the issue's 1,000,000 x 64 case through a head said it
    with no offset at all) get no note; features with an offset of 10,000 get it, with their
    centred RankMe."""
    rng = np.random.default_rng(25)
    f = spread_samples(rng, 2000, 32, 1000.0)
    p = spread_samples(rng, 2000, 32, 2.0)
    a, v = verdict(tmp_path, f, p)
    assert v & V.KEEPS_RANK and v & V.INFLATES_EFFECTIVE_RANK
    assert not any('offset' in line for line in a.describe_verdict())

    g = f + np.float32(1e4)
    a, v = verdict(tmp_path, g, p)
    assert v & V.KEEPS_RANK and v & V.INFLATES_EFFECTIVE_RANK
    lines = a.describe_verdict()
    assert lines[1].startswith('A large common offset of the features lowers their effective '
                               'rank: without it (centred), it is ')
    x = g.astype(np.float64)
    sigma = np.linalg.svd(x - x.mean(0), compute_uv=False)
    q = sigma / sigma.sum() + 1e-7
    assert f'it is {np.exp(-(q * np.log(q)).sum()):.1f}, not ' in lines[1]


def test_rule_keeps_rank_within_margin(tmp_path):
    """A rescaled copy: the same rank and effective rank (RankMe is scale-free), so no
    effective-rank flag either way; no exact float comparison decides it."""
    rng = np.random.default_rng(24)
    f = spread_samples(rng, 1000, 16, 5.0)
    a, v = verdict(tmp_path, f, (f * np.float32(3.0)))
    assert v & V.KEEPS_RANK
    assert not v & (V.INFLATES_EFFECTIVE_RANK | V.REDUCES_EFFECTIVE_RANK)
    assert a.describe_verdict()[0].startswith('The head keeps rank: the projections have rank 16')


def test_rule_uses_all_dimensions(tmp_path):
    """A 64 → 16 map of rank 16 of 16: 'reduces rank' and says it uses every dimension."""
    rng = np.random.default_rng(25)
    f = exact_rank(rng, 1000, 64, 32)
    p = (f @ rng.standard_normal((64, 16))).astype(np.float32)
    a, v = verdict(tmp_path, f, p)
    assert v & V.REDUCES_RANK and v & V.USES_ALL_DIMENSIONS
    assert 'The head maps the features (rank 32) into 16 dimensions and uses all of them.' \
        in a.describe_verdict()


def test_rule_collapsed(tmp_path):
    rng = np.random.default_rng(26)
    f = exact_rank(rng, 500, 16, 8)
    p = (rng.standard_normal((500, 1)) @ rng.standard_normal((1, 16))).astype(np.float32)
    _, v = verdict(tmp_path, f, p)
    assert v & V.COLLAPSED


def test_rule_collapsed_words_true_to_the_numbers(tmp_path):
    """A collapsed head reduces rank, but not 'as a healthy projection head does'; the
    collapse sentence gives the reason that fired (rank 1 of 16, not a SimSiam measure of
    0.17 'where a healthy head gives about 0.25'); an effective rank of all-zero
    projections is 'undefined', never '-nan'."""
    rng = np.random.default_rng(29)
    f = rng.standard_normal((300, 16)).astype(np.float32)
    r1 = (rng.standard_normal((300, 1)) @ rng.standard_normal((1, 16))).astype(np.float32)
    a, v = verdict(tmp_path, f, r1)
    assert v & V.COLLAPSED and v & V.REDUCES_RANK
    lines = a.describe_verdict()
    assert lines[0].startswith('The head reduces rank: the projections have rank 1 and ')
    assert not any('healthy projection head' in line for line in lines)
    assert 'The projections look collapsed: they have rank 1 of 16 dimensions, the samples lie ' \
        'on one line or at one point.' in lines

    a, v = verdict(tmp_path, f, np.zeros((300, 16), np.float32))
    lines = a.describe_verdict()
    assert v & V.COLLAPSED
    assert lines[0].startswith('The head reduces rank: the projections have rank 0 and '
                               'effective rank undefined, the features rank 16')
    assert lines[1].startswith('The projections look collapsed: the standard deviation of the '
                               'L2-normalised projections is 0, ')
    a, v = verdict(tmp_path, np.zeros((300, 16), np.float32), f)
    assert v & V.INFLATES_RANK
    assert a.describe_verdict()[0].endswith('the features rank 0 and effective rank undefined.')
    assert not any('nan' in line for line in a.describe_verdict())


def test_rule_two_samples_are_not_collapsed(tmp_path):
    """Two samples always lie on a line: projections of rank 1 (the most two samples can
    have) are not 'collapsed'; three samples on one line in 16 dimensions are."""
    rng = np.random.default_rng(32)
    f = rng.standard_normal((2, 16)).astype(np.float32)
    p = rng.standard_normal((2, 16)).astype(np.float32)
    a, v = verdict(tmp_path, f, p)
    assert spectrum(a, 'projections').get_rank() == 1
    assert v & V.KEEPS_RANK and not v & V.COLLAPSED
    assert not any('collapsed' in line for line in a.describe_verdict())

    f3 = rng.standard_normal((3, 16)).astype(np.float32)
    p3 = (rng.standard_normal((3, 1)) @ rng.standard_normal((1, 16))).astype(np.float32)
    _, v = verdict(tmp_path, f3, p3)
    assert v & V.COLLAPSED


def test_rule_ranges_overlap_is_keeps_rank(tmp_path):
    """The features' 11th singular value lies between the noise floor and the tolerance
    (rank 10, range 10–11); projections of rank 11 are within that range: 'keeps rank',
    not 'inflates'. Only differences larger than their uncertainty count."""
    rng = np.random.default_rng(27)
    n, d = 4000, 16
    f = np.zeros((n, d), np.float32)
    f[:, :10] = rng.standard_normal((n, 10))
    sp = spectrum(analyse(write(tmp_path, 'ten.tif', f)))
    tau, floor = sp.get_tolerance(), sp.get_noise_floor()
    assert floor < 0.5 * tau
    # column 10: tiny values, exact in float32, with σ halfway between floor and tolerance
    col = rng.standard_normal(n)
    col = col - col.mean()
    f[:, 10] = (col / np.linalg.norm(col) * 0.5 * (tau + floor)).astype(np.float32)
    p = f.copy()
    p[:, 10] *= np.float32(1e4)
    a, v = verdict(tmp_path, f, p)
    sf, sp = spectrum(a), spectrum(a, 'projections')
    assert (sf.get_rank(), tuple(sf.get_rank_range())) == (10, (10, 11))
    assert sp.get_rank() == 11
    assert v & V.KEEPS_RANK and not v & V.INFLATES_RANK
    assert a.describe_verdict()[0].startswith('The head keeps rank: the projections have rank 11 '
                                              'and effective rank')
    assert 'the features rank 10–11' in a.describe_verdict()[0]


def orange_pixels(png):
    """Pixels of palette colour 4 (Okabe–Ito orange, #e69f00), which only the upper end of
    a rank range is drawn in on the singular-value plot."""
    from PIL import Image
    rgb = np.asarray(Image.open(png).convert('RGB')).astype(int)
    return int((np.abs(rgb - [0xe6, 0x9f, 0x00]).sum(axis=2) < 24).sum())


def test_plot_shows_the_rank_range(tmp_path):
    """A rank that is a range (5–64) is drawn as one on the singular-value plot: a line at
    each end; a rank without a range has one line."""
    rng = np.random.default_rng(28)
    a5 = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 64))
    noisy = (a5 + 1e-6 * rng.standard_normal((300, 64))).astype(np.float32)
    a = analyse(write(tmp_path, 'noisy.tif', noisy))
    assert tuple(spectrum(a).get_rank_range()) == (5, 64)
    assert a.write_report(str(tmp_path / 'range'), None)
    assert orange_pixels(tmp_path / 'range' / 'singular_values.png') > 500

    a = analyse(write(tmp_path, 'exact.tif', a5.astype(np.float32)))
    assert tuple(spectrum(a).get_rank_range()) == (5, 5)
    assert a.write_report(str(tmp_path / 'exact'), None)
    assert orange_pixels(tmp_path / 'exact' / 'singular_values.png') == 0


# -- §5 non-finite values ---------------------------------------------------------------------


def test_nonfinite_column(tmp_path):
    rng = np.random.default_rng(30)
    x = rng.standard_normal((300, 64)).astype(np.float32)
    x[:, 7] = np.nan
    a = Headrank.Analysis.new(reader(write(tmp_path, 'nan-column.tif', x)))
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert e.value.code == int(Headrank.AnalysisError.TOO_FEW_SAMPLES)
    assert '1 feature column (7) is NaN or infinite in all 300 samples (300 non-finite ' \
        'values in all)' in e.value.message


def test_nonfinite_rows_of_projections_dropped_from_every_stage(tmp_path):
    """With --projections, a sample whose projection (or feature) row holds NaN or inf is
    left out of both stages, so that they are compared on the same samples, and the verdict
    says so; the counts are the input's. Before, the features kept all 300 samples, the
    projections 297, and the verdict said nothing."""
    rng = np.random.default_rng(33)
    f = rng.standard_normal((300, 16)).astype(np.float32)
    p = rng.standard_normal((300, 8)).astype(np.float32)
    p[3, 1] = np.nan
    p[50, [2, 5]] = np.inf
    f[7, 0] = np.nan
    a = analyse(write(tmp_path, 'f.tif', f), write(tmp_path, 'p.tif', p))
    assert a.find_stage('features').get_moments().get_n_samples() == 297
    assert a.find_stage('projections').get_moments().get_n_samples() == 297
    assert (a.get_n_dropped(), a.get_n_nonfinite()) == (3, 4)
    assert '3 samples of 300 held NaN or infinite values (4 values) and were left out' in \
        ' '.join(a.describe_verdict())
    keep = np.ones(300, bool)
    keep[[3, 7, 50]] = False
    sf = spectrum(a).get_singular_values()
    x = f[keep].astype(np.float64)
    assert np.allclose(sf, np.linalg.svd(x - x.mean(0), compute_uv=False), rtol=1e-9)
    assert a.write_report(str(tmp_path / 'r'), None)
    report = json.loads((tmp_path / 'r' / 'report.json').read_text())
    counts = {s['name']: (s['samples'], s['dropped_samples'], s['nonfinite_values'])
              for s in report['stages']}
    assert counts == {'features': (297, 3, 1), 'projections': (297, 3, 3)}


def test_nonfinite_one_value_is_singular(tmp_path):
    """'1 sample of 100 held NaN or infinite values (1 value)', not '(1 values)'."""
    x = np.random.default_rng(34).standard_normal((100, 8)).astype(np.float32)
    x[5, 2] = np.inf
    a = analyse(write(tmp_path, 'one.tif', x))
    assert '1 sample of 100 held NaN or infinite values (1 value) and was left out' in \
        ' '.join(a.describe_verdict())


def test_nonfinite_policies(tmp_path):
    rng = np.random.default_rng(31)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x[[3, 5, 9], 2] = np.inf
    x[9, 4] = np.nan
    path = write(tmp_path, 'nan-rows.tif', x)
    a = analyse(path)
    assert a.get_nonfinite_policy() == Headrank.NonfinitePolicy.DROP
    assert a.get_n_dropped() == 3
    assert ('3 samples of 300 held NaN or infinite values (4 values) and were left out '
            '(non-finite policy “drop”, the default).') in a.describe_verdict()
    assert a.find_stage('features').get_moments().get_n_samples() == 297
    b = Headrank.Analysis.new(reader(path))
    b.props.nonfinite_policy = Headrank.NonfinitePolicy.ERROR
    with pytest.raises(GLib.Error) as e:
        b.run(None, None, None)
    assert e.value.code == int(Headrank.AnalysisError.NON_FINITE)
    assert 'sample 3, feature 2 is NaN or infinite' in e.value.message


def test_head_that_overflows(tmp_path):
    """Weights of 1e38: the head's outputs overflow; project and analyze both fail, naming
    the layer and the count (project wrote 19,200 inf values and exited 0)."""
    rng = np.random.default_rng(32)
    x = rng.standard_normal((300, 64)).astype(np.float32)
    path = write(tmp_path, 'in.tif', x)
    head = linear_head(np.full((64, 64), 1e38, np.float32))
    with pytest.raises(GLib.Error) as e:
        analyse(path, head=head)
    assert e.value.code == int(Headrank.HeadError.NON_FINITE)
    assert 'layer 0 (linear) computes' in e.value.message
    assert 'NaN or infinite values from finite inputs' in e.value.message
    out = tmp_path / 'out.tif'
    writer = Headrank.StackWriter.new(str(out), Headrank.StackLayout.MATRIX, 300, 64, None)
    with pytest.raises(GLib.Error) as e:
        head.project(reader(path), writer, Headrank.NormMode.RUNNING, 0, -1, None, None)
    assert e.value.code == int(Headrank.HeadError.NON_FINITE)
    assert not out.exists()


def test_head_stage_value_error(tmp_path):
    """A stage the head computes: r·‖Y‖_F + √(N·D)·a, r = u_in + γ_{k+1} per Linear of k
    inputs (+ 4u per other layer, a ReLU exact), at least 2⁻²⁴, and a = η_in/2 + k·2⁻¹⁵⁰ per
    Linear (underflowing products; the float16 input's η = 2⁻²⁴) (doc/analysis.md)."""
    rng = np.random.default_rng(33)
    x = rng.standard_normal((500, 24)).astype(np.float16)
    w1 = rng.standard_normal((40, 24)).astype(np.float32) / 5
    w2 = rng.standard_normal((8, 40)).astype(np.float32) / 6
    head = Headrank.Head.new()
    assert head.append_linear('0', 24, 40, bytes_of(w1), bytes_of(np.zeros(40)))
    assert head.append_activation('1', Headrank.LayerKind.RELU)
    assert head.append_linear('2', 40, 8, bytes_of(w2), bytes_of(np.zeros(8)))
    a = Headrank.Analysis.new(reader(write(tmp_path, 'h.tif', x)))
    a.set_head(head)
    a.set_spectral_stages(['all'])
    assert a.run(None, None, None)

    def gamma(k):
        return k * U32 / (1 - k * U32)

    y1 = np.maximum(x.astype(np.float32) @ w1.T, 0)
    y2 = y1 @ w2.T
    for stage, y, r, floor in (('1', y1, U16 + gamma(25), 2.0 ** -25 + 24 * 2.0 ** -150),
                               ('projections', y2, U16 + gamma(25) + gamma(41),
                                2.0 ** -25 + 64 * 2.0 ** -150)):
        sp = spectrum(a, stage)
        norm = np.sqrt((y.astype(np.float64) ** 2).sum())
        assert sp.get_value_error() == pytest.approx(r * norm + np.sqrt(y.size) * floor,
                                                     rel=1e-5), stage
