/* headrank: error domains */
#include "hr-private.h"
#include "hr-error.h"

/**
 * hr_stack_error_quark:
 *
 * The error domain of feature-stack reading and writing.
 *
 * Returns: the #GQuark of %HR_STACK_ERROR
 */
/* clang-format off */
G_DEFINE_QUARK (hr-stack-error-quark, hr_stack_error)
/* clang-format on */

/**
 * hr_analysis_error_quark:
 *
 * The error domain of the rank diagnostics and the analysis.
 *
 * Returns: the #GQuark of %HR_ANALYSIS_ERROR
 */
/* clang-format off */
G_DEFINE_QUARK (hr-analysis-error-quark, hr_analysis_error)
/* clang-format on */

/**
 * hr_part_error_quark:
 *
 * The error domain of partial states that are read or merged.
 *
 * Returns: the #GQuark of %HR_PART_ERROR
 *
 * Since: 0.2
 */
/* clang-format off */
G_DEFINE_QUARK (hr-part-error-quark, hr_part_error)
/* clang-format on */
