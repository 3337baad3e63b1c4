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
 * @HR_STACK_ERROR_IO: the file could not be read or written for a reason the system does
 *   not give (libtiff reports a failed write, a source's read fails without an error). A
 *   file that cannot be opened, read or written for a reason the system gives is a
 *   %G_IO_ERROR instead, from its `errno`: %G_IO_ERROR_NOT_FOUND for a missing file or
 *   folder (or a folder without stacks), %G_IO_ERROR_PERMISSION_DENIED,
 *   %G_IO_ERROR_IS_DIRECTORY or %G_IO_ERROR_NOT_REGULAR_FILE for what is not a file,
 *   %G_IO_ERROR_NO_SPACE for a full disk, %G_IO_ERROR_BUSY for a target another writer
 *   is writing
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
 * @HR_STACK_ERROR_NO_MEMORY: an allocation failed: the system has not enough memory for
 *   what the file's shape needs (a chunk of rows, a whole stack). A shape that is absurd
 *   or passes a fixed bound is %HR_STACK_ERROR_TOO_LARGE instead. Since: 0.2
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
  HR_STACK_ERROR_NO_MEMORY,
} HrStackError;

HR_AVAILABLE_IN_0_1
GQuark hr_stack_error_quark (void);

/**
 * HR_ANALYSIS_ERROR:
 *
 * Error domain of the rank diagnostics: moments, spectra, contrastive measures and the
 * analysis. Errors in this domain come from the #HrAnalysisError enumeration.
 */
#define HR_ANALYSIS_ERROR (hr_analysis_error_quark ())

/**
 * HrAnalysisError:
 * @HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES: fewer samples than a measure needs (a covariance
 *   needs two finite samples, a contrastive batch two pairs)
 * @HR_ANALYSIS_ERROR_SHAPE: matrices whose sizes do not agree: a buffer that is not a whole
 *   number of rows, stacks of different lengths or widths, a head whose input width is not
 *   the number of features
 * @HR_ANALYSIS_ERROR_NUMERIC: the computation failed: LAPACK did not converge, or the
 *   accumulated sums overflowed to infinity
 * @HR_ANALYSIS_ERROR_PAIRS: the positive pairs are unusable: a pair file that cannot be
 *   parsed, or an index outside the stack. (A pair file that cannot be opened is a
 *   %G_IO_ERROR from its `errno`, %G_IO_ERROR_NOT_FOUND when it is missing.)
 * @HR_ANALYSIS_ERROR_INVALID: a parameter given by the user is out of range (a temperature
 *   that is not positive, a negative margin, an unknown stage name)
 * @HR_ANALYSIS_ERROR_NON_FINITE: the input holds NaN or infinite values and the
 *   non-finite policy is %HR_NONFINITE_POLICY_ERROR. (Samples left out until fewer than 2
 *   remain are %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES, whose message names the columns that
 *   are non-finite in every sample.) Since: 0.2
 * @HR_ANALYSIS_ERROR_NO_MEMORY: an allocation failed: the system has not enough memory for
 *   the chunks, the kept rows or the matrices of a measure. Since: 0.2
 * @HR_ANALYSIS_ERROR_MEMORY_LIMIT: the spectra of the analysis would need more memory than
 *   hr_analysis_set_memory_limit() allows (by default half the physical memory); refused
 *   before anything is allocated, the message says how much they need. Since: 0.2
 * @HR_ANALYSIS_ERROR_REPORT: a report that cannot be compared (#HrComparison): a
 *   `report.json` that is not one `headrank analyze` writes, of a `report_format` this
 *   version does not read, or reports of features of different shapes. Since: 0.2
 *
 * Error codes in the %HR_ANALYSIS_ERROR domain.
 */
typedef enum
{
  HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
  HR_ANALYSIS_ERROR_SHAPE,
  HR_ANALYSIS_ERROR_NUMERIC,
  HR_ANALYSIS_ERROR_PAIRS,
  HR_ANALYSIS_ERROR_INVALID,
  HR_ANALYSIS_ERROR_NON_FINITE,
  HR_ANALYSIS_ERROR_NO_MEMORY,
  HR_ANALYSIS_ERROR_MEMORY_LIMIT,
  HR_ANALYSIS_ERROR_REPORT,
} HrAnalysisError;

HR_AVAILABLE_IN_0_1
GQuark hr_analysis_error_quark (void);

/**
 * HR_PART_ERROR:
 *
 * Error domain of partial states (parts) that are read or merged: a part's bytes that are
 * not a part, are cut, corrupt, of a format version this library does not read, or parts
 * that cannot be merged because they disagree. Errors in this domain come from the
 * #HrPartError enumeration. See doc/partial.md for the format. Since: 0.2
 */
#define HR_PART_ERROR (hr_part_error_quark ())

/**
 * HrPartError:
 * @HR_PART_ERROR_NOT_PART: the bytes do not begin as a part of headrank (its magic), or hold
 *   a part of another kind than the one asked for
 * @HR_PART_ERROR_VERSION: a part of a format version this library does not read
 * @HR_PART_ERROR_TRUNCATED: the bytes end before the part they describe, or go on after it
 * @HR_PART_ERROR_CHECKSUM: the SHA-256 checksum does not match the part's bytes
 * @HR_PART_ERROR_CORRUPT: the checksum matches but the contents are invalid (a size that
 *   does not agree with the dimension, a count or a value out of range)
 * @HR_PART_ERROR_MISMATCH: parts that cannot be merged: different dimensions, heads,
 *   stages, options or precisions
 *
 * Error codes in the %HR_PART_ERROR domain. Since: 0.2
 */
typedef enum
{
  HR_PART_ERROR_NOT_PART,
  HR_PART_ERROR_VERSION,
  HR_PART_ERROR_TRUNCATED,
  HR_PART_ERROR_CHECKSUM,
  HR_PART_ERROR_CORRUPT,
  HR_PART_ERROR_MISMATCH,
} HrPartError;

HR_AVAILABLE_IN_0_2
GQuark hr_part_error_quark (void);

G_END_DECLS
