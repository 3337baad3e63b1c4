/* headrank tests: moments that serialise to bytes and merge (doc/partial.md)
 *
 * - random partitions of the rows, with empty and one-sample parts, each part accumulated
 *   on its own, written to bytes and read back, merged in order and by a tree reduction:
 *   the merged scatter matrix is within its own hr_moments_get_error_bound() of the exact
 *   one (a long double two-pass reference of the float32 rows, ‖·‖_F, which bounds the
 *   spectral norm the bound is about), in both precisions; means, counts, zero fractions,
 *   dead dimensions and the SimSiam measures equal a single pass's within 1e-12;
 * - the bytes: a round trip is byte-identical, the header is little-endian as documented,
 *   every cut, a flipped byte, another version and contents one pass cannot produce are
 *   refused with the error of doc/partial.md;
 * - moments that disagree (dimension, scatter or diagonal, precision) are refused.
 */
#include <headrank.h>

#include "test-util.h"

#include <math.h>
#include <string.h>

typedef struct
{
  gsize n, d;
  float *x;
} Data;

/* N × D float32 rows with a large common offset, a few exact zeros and non-finite rows. */
static Data
make_data (GRand *rand, gsize n, gsize d, gboolean nonfinite)
{
  Data data = { n, d, g_new (float, n *d) };

  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < d; j++)
      {
        double v = 1000.0 + 0.5 * j + g_rand_double_range (rand, -1, 1) * (1.0 + j % 3);

        data.x[i * d + j] = j == 1 && g_rand_int_range (rand, 0, 4) == 0 ? 0.0f : (float)v;
      }
  if (nonfinite)
    for (gsize i = 3; i < n; i += 97)
      data.x[i * d + (i % d)] = i % 2 ? NAN : INFINITY;
  return data;
}

static gboolean
row_finite (const float *x, gsize d)
{
  for (gsize j = 0; j < d; j++)
    if (!isfinite (x[j]))
      return FALSE;
  return TRUE;
}

/* The exact scatter matrix of the finite rows (two passes in long double). */
static long double *
reference_scatter (const Data *data)
{
  gsize d = data->d, n = 0;
  g_autofree long double *mean = g_new0 (long double, d);
  long double *s = g_new0 (long double, d *d);

  for (gsize i = 0; i < data->n; i++)
    if (row_finite (data->x + i * d, d))
      {
        n++;
        for (gsize j = 0; j < d; j++)
          mean[j] += data->x[i * d + j];
      }
  for (gsize j = 0; j < d; j++)
    mean[j] /= n;
  for (gsize i = 0; i < data->n; i++)
    if (row_finite (data->x + i * d, d))
      for (gsize a = 0; a < d; a++)
        for (gsize b = 0; b < d; b++)
          s[a * d + b] += (data->x[i * d + a] - mean[a]) * (data->x[i * d + b] - mean[b]);
  return s;
}

static HrMoments *
new_moments (gsize d, HrPrecision precision, gboolean full)
{
  return full ? hr_moments_new (d, 0, precision) : hr_moments_new_diagonal (d);
}

/* A part of rows [first, first + n), through bytes. */
static HrMoments *
part_through_bytes (const Data *data, gsize first, gsize n, HrPrecision precision, gboolean full)
{
  g_autoptr (HrMoments) m = new_moments (data->d, precision, full);
  g_autoptr (GBytes) bytes = NULL, again = NULL;
  g_autoptr (GError) error = NULL;
  HrMoments *back;

  hr_moments_add (m, data->x + first * data->d, n, NULL);
  bytes = hr_moments_to_bytes (m);
  back = hr_moments_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  again = hr_moments_to_bytes (back);
  g_assert_true (g_bytes_equal (bytes, again));
  return back;
}

static void
assert_close (double got, double want, double rel)
{
  if (isnan (want))
    g_assert_true (isnan (got));
  else
    g_assert_cmpfloat (fabs (got - want), <=, rel * MAX (1.0, fabs (want)));
}

static void
compare (HrMoments *merged, HrMoments *single, const long double *ref, gsize d, gboolean full)
{
  /* float32 products: both are within γ₆₆ = 3.9·10⁻⁶ of trace(S) */
  double std_rel = hr_moments_get_precision (merged) == HR_PRECISION_FLOAT64 ? 1e-9 : 1e-5;
  g_autoptr (GBytes) zm = hr_moments_get_zero_fraction (merged);
  g_autoptr (GBytes) zs = hr_moments_get_zero_fraction (single);
  g_autoptr (GBytes) sm = hr_moments_get_std (merged);
  g_autoptr (GBytes) ss = hr_moments_get_std (single);
  const double *mm = hr_moments_peek_mean (merged), *ms = hr_moments_peek_mean (single);

  g_assert_cmpuint (hr_moments_get_n_samples (merged), ==, hr_moments_get_n_samples (single));
  g_assert_cmpuint (hr_moments_get_n_dropped (merged), ==, hr_moments_get_n_dropped (single));
  g_assert_cmpuint (hr_moments_get_n_nonfinite (merged), ==, hr_moments_get_n_nonfinite (single));
  g_assert_cmpuint (hr_moments_get_n_dead (merged), ==, hr_moments_get_n_dead (single));
  g_assert_true (g_bytes_equal (zm, zs));
  for (gsize j = 0; j < d; j++)
    {
      assert_close (mm[j], ms[j], 1e-12);
      assert_close (((const double *)g_bytes_get_data (sm, NULL))[j],
                    ((const double *)g_bytes_get_data (ss, NULL))[j], std_rel);
    }
  assert_close (hr_moments_get_simsiam_std (merged), hr_moments_get_simsiam_std (single), 1e-12);
  assert_close (hr_moments_get_lightly_std (merged), hr_moments_get_lightly_std (single), 1e-12);
  if (full)
    {
      const double *s = hr_moments_peek_scatter (merged);
      long double err = 0;

      for (gsize i = 0; i < d * d; i++)
        err += (s[i] - ref[i]) * (s[i] - ref[i]);
      /* the bound is of the merged moments against the exact scatter matrix */
      g_assert_cmpfloat ((double)sqrtl (err), <=, hr_moments_get_error_bound (merged));
      g_assert_cmpfloat (hr_moments_get_error_bound (merged), >, 0);
    }
}

/* Tree reduction of parts [lo, hi): what a cluster does. */
static HrMoments *
reduce_tree (HrMoments **parts, gsize lo, gsize hi)
{
  g_autoptr (GError) error = NULL;
  HrMoments *left, *right;

  if (hi - lo == 1)
    return g_object_ref (parts[lo]);
  left = reduce_tree (parts, lo, lo + (hi - lo) / 2);
  right = reduce_tree (parts, lo + (hi - lo) / 2, hi);
  g_assert_true (hr_moments_add_moments (left, right, &error));
  g_assert_no_error (error);
  g_object_unref (right);
  return left;
}

typedef struct
{
  HrPrecision precision;
  gboolean full;
} MergeCase;

static void
test_random_partitions (gconstpointer user_data)
{
  const MergeCase *mc = user_data;
  g_autoptr (GRand) rand = g_rand_new_with_seed (15);
  gsize d = 13;

  for (int trial = 0; trial < 8; trial++)
    {
      gsize n = (gsize)g_rand_int_range (rand, 1, 5000);
      Data data = make_data (rand, n, d, trial % 2 == 1);
      g_autofree long double *ref = reference_scatter (&data);
      g_autoptr (HrMoments) single = new_moments (d, mc->precision, mc->full);
      g_autoptr (HrMoments) sequential = new_moments (d, mc->precision, mc->full);
      g_autoptr (HrMoments) tree = NULL;
      gsize n_parts = (gsize)g_rand_int_range (rand, 1, 12), first = 0;
      g_autofree HrMoments **parts = g_new0 (HrMoments *, n_parts + 2);
      gsize k = 0;

      hr_moments_add (single, data.x, n, NULL);
      /* cut points at random, with an empty part first and a one-sample part */
      parts[k++] = part_through_bytes (&data, 0, 0, mc->precision, mc->full);
      parts[k++] = part_through_bytes (&data, 0, 1, mc->precision, mc->full);
      first = 1;
      for (gsize p = 0; p < n_parts; p++)
        {
          gsize len = p + 1 == n_parts ? n - first
                                       : (gsize)g_rand_int_range (rand, 0, (gint32)(n - first) + 1);

          parts[k++] = part_through_bytes (&data, first, len, mc->precision, mc->full);
          first += len;
        }
      g_assert_cmpuint (first, ==, n);
      for (gsize p = 0; p < k; p++)
        {
          g_autoptr (GError) error = NULL;

          g_assert_true (hr_moments_add_moments (sequential, parts[p], &error));
          g_assert_no_error (error);
        }
      tree = reduce_tree (parts, 0, k);
      compare (sequential, single, ref, d, mc->full);
      compare (tree, single, ref, d, mc->full);
      for (gsize p = 0; p < k; p++)
        g_object_unref (parts[p]);
      g_free (data.x);
    }
}

/* Merged moments take more rows like any others. */
static void
test_merge_then_add (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  Data data = make_data (rand, 900, 5, FALSE);
  g_autofree long double *ref = reference_scatter (&data);
  g_autoptr (HrMoments) single = hr_moments_new (5, 0, HR_PRECISION_FLOAT64);
  g_autoptr (HrMoments) a = hr_moments_new (5, 0, HR_PRECISION_FLOAT64);
  g_autoptr (HrMoments) b = hr_moments_new (5, 0, HR_PRECISION_FLOAT64);
  g_autoptr (GError) error = NULL;

  hr_moments_add (single, data.x, 900, NULL);
  hr_moments_add (a, data.x, 300, NULL);
  hr_moments_add (b, data.x + 300 * 5, 300, NULL);
  g_assert_true (hr_moments_add_moments (a, b, &error));
  g_assert_no_error (error);
  hr_moments_add (a, data.x + 600 * 5, 300, NULL);
  compare (a, single, ref, 5, TRUE);
  g_free (data.x);
}

static void
test_mismatch (void)
{
  g_autoptr (HrMoments) a = hr_moments_new (4, 0, HR_PRECISION_FLOAT64);
  g_autoptr (HrMoments) b = hr_moments_new (5, 0, HR_PRECISION_FLOAT64);
  g_autoptr (HrMoments) c = hr_moments_new_diagonal (4);
  g_autoptr (HrMoments) f = hr_moments_new (4, 0, HR_PRECISION_FLOAT32_PRODUCTS);
  HrMoments *others[] = { b, c, f };

  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_false (hr_moments_add_moments (a, others[i], &error));
      g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH);
    }
}

static void
assert_refused (const guint8 *b, gsize size, gint code)
{
  g_autoptr (GBytes) bytes = g_bytes_new (b, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrMoments) m = hr_moments_new_from_bytes (bytes, &error);

  g_assert_null (m);
  g_assert_error (error, HR_PART_ERROR, code);
}

static void
test_bytes (void)
{
  float rows[] = { 1, 2, 3, 0, 5, 6, 7, 8, 9 };
  g_autoptr (HrMoments) m = hr_moments_new (3, 0, HR_PRECISION_FLOAT64);
  g_autoptr (GBytes) bytes = NULL;
  g_autofree guint8 *b = NULL;
  gsize size;
  guint64 length, d;
  double mean0;

  hr_moments_add (m, rows, 3, NULL);
  bytes = hr_moments_to_bytes (m);
  g_bytes_get_data (bytes, &size);
  b = g_memdup2 (g_bytes_get_data (bytes, NULL), size);
  /* 24 bytes of header, 32 of checksum, the payload of doc/partial.md */
  g_assert_cmpuint (size, ==, 24 + 32 + 8 + 4 + 4 + 3 * 8 + 2 * 8 + 3 * 8 + 6 * 8 + 3 * 8 * 4);
  g_assert_cmpmem (b, 8, "HRPART\n\x1a", 8);
  g_assert_cmpuint (b[8], ==, 1); /* version 1, little-endian */
  g_assert_cmpuint (b[9] | b[10] | b[11], ==, 0);
  g_assert_cmpuint (b[12], ==, 1); /* kind: moments */
  length = (guint64)b[16] | (guint64)b[17] << 8 | (guint64)b[18] << 16;
  g_assert_cmpuint (length, ==, size - 56);
  d = b[24];
  g_assert_cmpuint (d, ==, 3);
  {
    guint64 bits = 0;

    for (int i = 0; i < 8; i++)
      bits |= (guint64)b[24 + 8 + 4 + 4 + 3 * 8 + 2 * 8 + i] << (8 * i);
    memcpy (&mean0, &bits, sizeof mean0);
    /* (1 + 0 + 7) / 3, the first mean, little-endian */
    g_assert_cmpfloat_with_epsilon (mean0, 8.0 / 3.0, 1e-15);
  }

  /* every cut */
  for (gsize cut = 0; cut < size; cut++)
    {
      g_autoptr (GBytes) part = g_bytes_new (b, cut);
      g_autoptr (GError) error = NULL;
      g_autoptr (HrMoments) back = hr_moments_new_from_bytes (part, &error);

      g_assert_null (back);
      g_assert_true (g_error_matches (error, HR_PART_ERROR, HR_PART_ERROR_NOT_PART)
                     || g_error_matches (error, HR_PART_ERROR, HR_PART_ERROR_TRUNCATED));
    }
  /* a flipped bit anywhere after the magic */
  for (gsize i = 8; i < size; i += 7)
    {
      g_autofree guint8 *c = g_memdup2 (b, size);

      c[i] ^= 0x10;
      {
        g_autoptr (GBytes) part = g_bytes_new (c, size);
        g_autoptr (GError) error = NULL;
        g_autoptr (HrMoments) back = hr_moments_new_from_bytes (part, &error);

        g_assert_null (back);
        g_assert_nonnull (error);
        g_assert_true (error->domain == HR_PART_ERROR);
      }
    }
  /* another version, sealed */
  {
    g_autofree guint8 *c = g_memdup2 (b, size);

    c[8] = 2;
    hr_test_reseal (c, size);
    assert_refused (c, size, HR_PART_ERROR_VERSION);
  }
  /* another kind */
  {
    g_autofree guint8 *c = g_memdup2 (b, size);

    c[12] = 2;
    hr_test_reseal (c, size);
    assert_refused (c, size, HR_PART_ERROR_NOT_PART);
  }
  /* sealed but impossible: a dimension the bytes do not hold, a zero count above N, a NaN
   * mean, unknown flags */
  {
    g_autofree guint8 *c = g_memdup2 (b, size);

    c[24] = 200;
    hr_test_reseal (c, size);
    assert_refused (c, size, HR_PART_ERROR_CORRUPT);
  }
  {
    g_autofree guint8 *c = g_memdup2 (b, size);
    gsize zeros = 24 + 8 + 4 + 4 + 3 * 8 + 2 * 8 + 3 * 8 + 6 * 8;

    c[zeros] = 9;
    hr_test_reseal (c, size);
    assert_refused (c, size, HR_PART_ERROR_CORRUPT);
  }
  {
    g_autofree guint8 *c = g_memdup2 (b, size);
    gsize mean = 24 + 8 + 4 + 4 + 3 * 8 + 2 * 8;

    memset (c + mean, 0xff, 8);
    hr_test_reseal (c, size);
    assert_refused (c, size, HR_PART_ERROR_CORRUPT);
  }
  {
    g_autofree guint8 *c = g_memdup2 (b, size);

    c[24 + 8] = 0x80;
    hr_test_reseal (c, size);
    assert_refused (c, size, HR_PART_ERROR_CORRUPT);
  }
  /* trailing bytes */
  {
    g_autofree guint8 *c = g_malloc0 (size + 8);

    memcpy (c, b, size - 32);
    c[16] += 8;
    hr_test_reseal (c, size + 8);
    assert_refused (c, size + 8, HR_PART_ERROR_CORRUPT);
  }
}

static void
test_file (HrTestFolder *f, gconstpointer unused)
{
  float rows[] = { 1, 2, 3, 4, 5, 6 };
  g_autoptr (HrMoments) m = hr_moments_new (2, 0, HR_PRECISION_FLOAT64);
  g_autofree char *path = g_build_filename (f->dir, "m.hrpart", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "none.hrpart", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrMoments) back = NULL, none = NULL;
  g_autoptr (GBytes) b1 = NULL, b2 = NULL;

  hr_moments_add (m, rows, 3, NULL);
  g_assert_true (hr_moments_save (m, path, NULL, &error));
  g_assert_no_error (error);
  back = hr_moments_new_from_file (path, &error);
  g_assert_no_error (error);
  b1 = hr_moments_to_bytes (m);
  b2 = hr_moments_to_bytes (back);
  g_assert_true (g_bytes_equal (b1, b2));
  none = hr_moments_new_from_file (missing, &error);
  g_assert_null (none);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main (int argc, char *argv[])
{
  static const MergeCase cases[] = {
    { HR_PRECISION_FLOAT64, TRUE },
    { HR_PRECISION_FLOAT32_PRODUCTS, TRUE },
    { HR_PRECISION_FLOAT64, FALSE },
  };

  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/moments-merge/partitions/float64", &cases[0], test_random_partitions);
  g_test_add_data_func ("/moments-merge/partitions/float32-products", &cases[1],
                        test_random_partitions);
  g_test_add_data_func ("/moments-merge/partitions/diagonal", &cases[2], test_random_partitions);
  g_test_add_func ("/moments-merge/merge-then-add", test_merge_then_add);
  g_test_add_func ("/moments-merge/mismatch", test_mismatch);
  g_test_add_func ("/moments-merge/bytes", test_bytes);
  g_test_add ("/moments-merge/file", HrTestFolder, NULL, hr_test_folder_set_up, test_file,
              hr_test_folder_tear_down);
  return g_test_run ();
}
