/* headrank: error domains */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HR_STACK_ERROR:
 *
 * Error domain for reading and writing feature stacks. Errors in this domain come from
 * the #HrStackError enumeration. See #GError for information on error domains.
 */
#define HR_STACK_ERROR (hr_stack_error_quark ())

/**
 * HrStackError:
 * @HR_STACK_ERROR_IO: the file could not be opened, read or written
 * @HR_STACK_ERROR_NOT_TIFF: the file is empty or is not a TIFF file
 * @HR_STACK_ERROR_TRUNCATED: the file ends before the data it describes (a cut file, or
 *   strip or tile offsets past its end)
 * @HR_STACK_ERROR_CORRUPT: the file's structure or compressed data is invalid
 * @HR_STACK_ERROR_UNSUPPORTED: a valid TIFF that headrank cannot read as features (complex
 *   or 1-bit samples, 64-bit integers, an unknown compression, …)
 * @HR_STACK_ERROR_TOO_LARGE: the dimensions are absurd, or the data would need more memory
 *   than the file could hold (a lying header)
 * @HR_STACK_ERROR_INCONSISTENT: pages of a multi-page stack disagree in shape or format
 * @HR_STACK_ERROR_LAYOUT: the layout cannot be decided, or the file does not fit the layout
 *   asked for
 * @HR_STACK_ERROR_INVALID: a matrix handed to the library does not match its stated shape
 * @HR_STACK_ERROR_NON_FINITE: the data hold NaN or infinite values where finite values are
 *   required
 *
 * Error codes in the %HR_STACK_ERROR domain.
 */
typedef enum
{
  HR_STACK_ERROR_IO,
  HR_STACK_ERROR_NOT_TIFF,
  HR_STACK_ERROR_TRUNCATED,
  HR_STACK_ERROR_CORRUPT,
  HR_STACK_ERROR_UNSUPPORTED,
  HR_STACK_ERROR_TOO_LARGE,
  HR_STACK_ERROR_INCONSISTENT,
  HR_STACK_ERROR_LAYOUT,
  HR_STACK_ERROR_INVALID,
  HR_STACK_ERROR_NON_FINITE,
} HrStackError;

HR_AVAILABLE_IN_ALL
GQuark hr_stack_error_quark (void);

G_END_DECLS
