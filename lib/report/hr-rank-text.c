/* headrank: a stage's rank in words (see hr-rank-text.h) */
#include "hr-rank-text.h"

/* A rank in words: "32", or its range "30@dash32" when it is uncertain (the report's verdict
 * joins with "–", the command's tables with "-", which keeps their columns aligned). */
char *
hr_rank_range_text (HrSpectrum *sp, const char *dash)
{
  guint low, high;

  hr_spectrum_get_rank_range (sp, &low, &high);
  if (low == high)
    return g_strdup_printf ("%u", hr_spectrum_get_rank (sp));
  return g_strdup_printf ("%u%s%u", low, dash, high);
}
