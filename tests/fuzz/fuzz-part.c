/* headrank fuzz target: part files (doc/partial.md) through hr_moments_new_from_file(),
 * hr_moments_new_from_bytes() and hr_moments_add_moments(), and as parts of an analysis
 * through hr_analysis_new_from_part_files(), hr_analysis_new_from_parts() and
 * hr_analysis_merge_parts()
 *
 * Built as a libFuzzer target (-Dfuzzing=true, clang) or, with fuzz-main.c, as a plain
 * program that replays a corpus (the fuzz test suite).
 *
 * The first byte of an input is a switch: when its low bit is set, the SHA-256 at the end of
 * the rest is recomputed before it is read, so that the fuzzer reaches the payload's parser
 * behind the checksum (with the bit clear, the checksum itself is fuzzed). The rest is
 * written to a file and read as a part. Besides crashes and sanitizer reports, the target
 * aborts when the library breaks its contract:
 *  - a failure without an error, a success with one, an error outside HR_PART_ERROR and
 *    G_IO_ERROR (or HR_ANALYSIS_ERROR_NO_MEMORY), or an empty message;
 *  - hr_moments_new_from_bytes() disagreeing with hr_moments_new_from_file();
 *  - moments read that do not write back to the very same bytes;
 *  - moments that merge with a copy of themselves to other than twice their samples, or
 *    whose mean changes in the merge (it cannot: δ = 0);
 *  - an analysis merged from the part that fails without an error or with one outside
 *    HR_PART_ERROR, HR_ANALYSIS_ERROR (TOO_FEW_SAMPLES, PAIRS, NUMERIC, NO_MEMORY) and
 *    G_IO_ERROR, or that succeeds without being done, or whose file and bytes disagree;
 *  - a part merged alone by hr_analysis_merge_parts() that does not read back, or that
 *    changes when merged alone again;
 *  - a GLib warning or critical.
 */
#include <headrank.h>

#define FUZZ_TARGET "fuzz-part"
#include "fuzz-input.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_error (const GError *error, const char *what)
{
  if (error == NULL)
    FUZZ_FAIL ("%s failed without an error", what);
  if (error->message == NULL || error->message[0] == '\0')
    FUZZ_FAIL ("%s: an error without a message", what);
  if (error->domain != HR_PART_ERROR && error->domain != G_IO_ERROR
      && !g_error_matches (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY))
    FUZZ_FAIL ("%s: an error of domain %s: %s", what, g_quark_to_string (error->domain),
               error->message);
}

/* The part as the part of an analysis (kind 2): merged alone. */
static void
fuzz_analysis (GBytes *bytes, const char *path)
{
  const char *paths[] = { path, NULL };
  g_autoptr (GError) file_error = NULL, bytes_error = NULL;
  g_autoptr (HrAnalysis) from_file
      = hr_analysis_new_from_part_files (paths, NULL, NULL, &file_error);
  g_autoptr (HrAnalysis) from_bytes
      = hr_analysis_new_from_parts (&bytes, 1, NULL, NULL, &bytes_error);

  if ((from_file == NULL) != (file_error != NULL) || (from_bytes == NULL) != (bytes_error != NULL))
    FUZZ_FAIL ("hr_analysis_new_from_parts: result and error disagree");
  if ((from_file == NULL) != (from_bytes == NULL))
    FUZZ_FAIL ("the analysis of the file and of the bytes disagree");
  if (from_bytes == NULL)
    {
      const GError *e = bytes_error;

      if (e->message == NULL || e->message[0] == '\0')
        FUZZ_FAIL ("an analysis error without a message");
      if (e->domain != HR_PART_ERROR && e->domain != G_IO_ERROR
          && !g_error_matches (e, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES)
          && !g_error_matches (e, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS)
          && !g_error_matches (e, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC)
          && !g_error_matches (e, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY))
        FUZZ_FAIL ("an analysis error of domain %s code %d: %s", g_quark_to_string (e->domain),
                   e->code, e->message);
      return;
    }
  FUZZ_CHECK (hr_analysis_is_done (from_bytes), "a merged analysis that is not done");
  g_free (hr_analysis_to_json (from_bytes, FALSE));
}

/* The part merged alone into a part (hr_analysis_merge_parts()): what it writes reads back. */
static void
fuzz_merge_part (GBytes *bytes)
{
  g_autoptr (GError) error = NULL, again_error = NULL;
  g_autoptr (GBytes) merged = hr_analysis_merge_parts (&bytes, 1, NULL, &error);
  g_autoptr (GBytes) twice = NULL;

  if ((merged == NULL) != (error != NULL))
    FUZZ_FAIL ("hr_analysis_merge_parts: result and error disagree");
  if (merged == NULL)
    {
      check_error (error, "hr_analysis_merge_parts");
      return;
    }
  twice = hr_analysis_merge_parts (&merged, 1, NULL, &again_error);
  if (twice == NULL)
    FUZZ_FAIL ("a merged part does not read back: %s", again_error->message);
  FUZZ_CHECK (g_bytes_equal (twice, merged), "a merged part merged again changed");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *path;
  g_autofree uint8_t *part = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (HrMoments) from_file = NULL, from_bytes = NULL;
  g_autoptr (GError) file_error = NULL, bytes_error = NULL;
  gsize n;

  if (size < 1)
    return 0;
  if (path == NULL)
    {
      g_log_set_always_fatal (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
      path = fuzz_input_open (".hrpart");
    }
  n = size - 1;
  part = g_memdup2 (data + 1, n);
  if ((data[0] & 1) && n >= 32)
    {
      g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
      gsize len = 32;

      g_checksum_update (sha, part, (gssize)(n - 32));
      g_checksum_get_digest (sha, part + n - 32, &len);
    }
  fuzz_input_write (part, n);
  bytes = g_bytes_new (part, n);

  fuzz_analysis (bytes, path);
  fuzz_merge_part (bytes);
  from_file = hr_moments_new_from_file (path, &file_error);
  from_bytes = hr_moments_new_from_bytes (bytes, &bytes_error);
  if ((from_file == NULL) != (file_error != NULL))
    FUZZ_FAIL ("hr_moments_new_from_file: result and error disagree");
  if ((from_bytes == NULL) != (bytes_error != NULL))
    FUZZ_FAIL ("hr_moments_new_from_bytes: result and error disagree");
  if ((from_file == NULL) != (from_bytes == NULL))
    FUZZ_FAIL ("the file and the bytes disagree: %s / %s",
               file_error != NULL ? file_error->message : "read",
               bytes_error != NULL ? bytes_error->message : "read");
  if (from_bytes == NULL)
    {
      check_error (file_error, "hr_moments_new_from_file");
      check_error (bytes_error, "hr_moments_new_from_bytes");
      FUZZ_CHECK (file_error->domain == bytes_error->domain
                      && file_error->code == bytes_error->code,
                  "file and bytes fail differently");
      return 0;
    }
  {
    g_autoptr (GBytes) again = hr_moments_to_bytes (from_bytes);
    g_autoptr (GError) error = NULL;
    guint64 samples = hr_moments_get_n_samples (from_bytes);
    gsize d = hr_moments_get_dimension (from_bytes);
    g_autofree double *mean = g_memdup2 (hr_moments_peek_mean (from_bytes), d * sizeof (double));

    FUZZ_CHECK (g_bytes_equal (again, bytes), "the moments do not write back the same bytes");
    /* a bounded amount of work: the merge is O(D²) */
    if (d > 512)
      return 0;
    if (!hr_moments_add_moments (from_bytes, from_file, &error))
      {
        check_error (error, "hr_moments_add_moments");
        FUZZ_CHECK (samples > G_MAXUINT64 / 2, "a merge with a copy failed: %s", error->message);
        return 0;
      }
    FUZZ_CHECK (hr_moments_get_n_samples (from_bytes) == 2 * samples, "merged sample count");
    for (gsize j = 0; j < d; j++)
      FUZZ_CHECK (hr_moments_peek_mean (from_bytes)[j] == mean[j]
                      || fabs (hr_moments_peek_mean (from_bytes)[j] - mean[j])
                             <= 1e-15 * fabs (mean[j]),
                  "a merge with a copy moved the mean");
    (void)hr_moments_get_simsiam_std (from_bytes);
    (void)hr_moments_get_n_dead (from_bytes);
    g_bytes_unref (hr_moments_get_std (from_bytes));
  }
  return 0;
}
