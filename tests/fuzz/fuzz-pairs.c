/* headrank fuzz target: pair files through hr_pairs_read() and HrContrastive
 *
 * Built as a libFuzzer target (-Dfuzzing=true, clang) or, with fuzz-main.c, as a plain
 * program that replays a corpus (the fuzz test suite).
 *
 * Each input is written to a private temporary file and read as a pair file
 * (anchor,positive[,negative] 0-based sample indices, a header line and comments allowed)
 * for a stack of N samples, N taken from the input's length so that both in-range and
 * out-of-range indices are reached. When it reads, the contrastive measures are computed on
 * a small deterministic matrix indexed by the pairs. Besides crashes and sanitizer reports,
 * the target aborts when the library breaks its contract:
 *  - a failure without an error, a success with one, an error outside HR_ANALYSIS_ERROR
 *    (PAIRS, NO_MEMORY) and G_IO_ERROR, or an empty message, or a PAIRS error that does
 *    not name the file;
 *  - a success with no pairs, an index at or beyond N, a missing negative in a file said
 *    to have negatives (or one present in a file said to have none);
 *  - hr_pairs_read_bytes() disagreeing with hr_pairs_read();
 *  - contrastive measures that fail on finite rows (other than for fewer than two pairs)
 *    or come out non-finite;
 *  - a GLib warning or critical.
 */
#include <headrank.h>

#define FUZZ_TARGET "fuzz-pairs"
#include "fuzz-input.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_DIMENSION 3

static const char *fuzz_path;

static void
check_error (const GError *error, const char *what)
{
  if (error == NULL)
    FUZZ_FAIL ("%s failed without an error", what);
  if (error->message == NULL || error->message[0] == '\0')
    FUZZ_FAIL ("%s: an error without a message", what);
  if (error->domain == HR_ANALYSIS_ERROR)
    {
      if (error->code != HR_ANALYSIS_ERROR_PAIRS && error->code != HR_ANALYSIS_ERROR_NO_MEMORY)
        FUZZ_FAIL ("%s: HR_ANALYSIS_ERROR code %d: %s", what, error->code, error->message);
      if (strstr (error->message, fuzz_path) == NULL)
        FUZZ_FAIL ("%s: the message does not name the file: %s", what, error->message);
    }
  else if (error->domain != G_IO_ERROR)
    FUZZ_FAIL ("%s: error outside HR_ANALYSIS_ERROR and G_IO_ERROR: %s %d: %s", what,
               g_quark_to_string (error->domain), error->code, error->message);
}

/* The contrastive measures on rows (i + 1, 2i − 1, sin i): finite, distinct. */
static void
fuzz_contrastive (const guint64 *pairs, gsize n_pairs, gboolean has_negatives)
{
  g_autofree float *a = g_new (float, n_pairs * FUZZ_DIMENSION);
  g_autofree float *p = g_new (float, n_pairs * FUZZ_DIMENSION);
  g_autofree float *n = has_negatives ? g_new (float, n_pairs * FUZZ_DIMENSION) : NULL;
  g_autoptr (GError) error = NULL;
  HrContrastive *c;

  for (gsize k = 0; k < n_pairs; k++)
    for (int j = 0; j < 3; j++)
      {
        float *row = j == 0 ? a : j == 1 ? p : n;
        double i = (double)pairs[3 * k + j];

        if (row == NULL)
          continue;
        row[k * FUZZ_DIMENSION] = (float)(i + 1);
        row[k * FUZZ_DIMENSION + 1] = (float)(2 * i - 1);
        row[k * FUZZ_DIMENSION + 2] = (float)sin (i);
      }
  c = hr_contrastive_new (a, p, n, n_pairs, FUZZ_DIMENSION, 4, 0.2, 0.5, &error);
  if (c == NULL)
    {
      if (error == NULL)
        FUZZ_FAIL ("hr_contrastive_new failed without an error");
      if (!(n_pairs < 2
            && g_error_matches (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES)))
        FUZZ_FAIL ("hr_contrastive_new refused %zu finite pairs: %s", n_pairs, error->message);
      return;
    }
  if (!isfinite (hr_contrastive_get_alignment (c)) || !isfinite (hr_contrastive_get_ntxent (c))
      || !isfinite (hr_contrastive_get_triplet (c)))
    FUZZ_FAIL ("non-finite measures from finite rows");
  hr_contrastive_unref (c);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL, error2 = NULL;
  g_autofree guint64 *pairs = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize n_pairs = 0, n_pairs2 = 0, length;
  gboolean has_negatives = FALSE, has_negatives2 = FALSE;
  guint64 n_samples = 1 + size % 64 * 3; /* 1 … 190 */

  if (fuzz_path == NULL)
    {
      g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
      fuzz_path = fuzz_input_open (".csv");
    }
  fuzz_input_write (data, size);

  if (!hr_pairs_read (fuzz_path, n_samples, &pairs, &n_pairs, &has_negatives, &error))
    {
      check_error (error, "hr_pairs_read");
      if (hr_pairs_read_bytes (fuzz_path, n_samples, &n_pairs2, &has_negatives2, &error2) != NULL)
        FUZZ_FAIL ("hr_pairs_read_bytes read what hr_pairs_read refused");
      return 0;
    }
  if (error != NULL)
    FUZZ_FAIL ("success with an error set");
  if (n_pairs == 0)
    FUZZ_FAIL ("a pair file read with no pairs");
  for (gsize k = 0; k < n_pairs; k++)
    {
      if (pairs[3 * k] >= n_samples || pairs[3 * k + 1] >= n_samples)
        FUZZ_FAIL ("pair %zu: index beyond %llu", k, (unsigned long long)n_samples);
      if (has_negatives && pairs[3 * k + 2] >= n_samples)
        FUZZ_FAIL ("pair %zu: negative beyond %llu", k, (unsigned long long)n_samples);
      if (!has_negatives && pairs[3 * k + 2] != HR_PAIRS_NO_NEGATIVE)
        FUZZ_FAIL ("pair %zu: a negative in a file without negatives", k);
    }
  bytes = hr_pairs_read_bytes (fuzz_path, n_samples, &n_pairs2, &has_negatives2, &error2);
  if (bytes == NULL || n_pairs2 != n_pairs || has_negatives2 != has_negatives
      || g_bytes_get_size (bytes) != n_pairs * 3 * sizeof (guint64)
      || memcmp (g_bytes_get_data (bytes, &length), pairs, n_pairs * 3 * sizeof (guint64)) != 0)
    FUZZ_FAIL ("hr_pairs_read_bytes disagrees with hr_pairs_read");
  fuzz_contrastive (pairs, n_pairs, has_negatives);
  return 0;
}
