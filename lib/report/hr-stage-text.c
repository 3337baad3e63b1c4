/* headrank: a stage's name and rank in words (see hr-stage-text.h) */
#include "hr-stage-text.h"

#include "hr-enum-names.h"
#include "hr-enum-types.h"

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

/* "features", "projections", or a hidden stage's name with its layer's kind: "2 (gelu)". */
char *
hr_stage_label (HrStage *stage)
{
  if (hr_stage_get_role (stage) != HR_STAGE_ROLE_HIDDEN)
    return g_strdup (hr_stage_get_name (stage));
  return g_strdup_printf ("%s (%s)", hr_stage_get_name (stage),
                          hr_enum_nick (HR_TYPE_LAYER_KIND, hr_stage_get_layer_kind (stage)));
}
