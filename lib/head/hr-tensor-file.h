/* headrank: named tensors from a safetensors file */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HR_TENSOR_ERROR:
 *
 * Error domain for reading safetensors files. Errors in this domain come from the
 * #HrTensorError enumeration. See #GError for information on error domains.
 */
#define HR_TENSOR_ERROR (hr_tensor_error_quark ())

/**
 * HrTensorError:
 * @HR_TENSOR_ERROR_IO: a #HrTensorFile was made without a file to read. A file that
 *   cannot be opened, examined or read is a %G_IO_ERROR instead, from its `errno`:
 *   %G_IO_ERROR_NOT_FOUND for a missing file, %G_IO_ERROR_PERMISSION_DENIED, … (and
 *   %G_IO_ERROR_IS_DIRECTORY or %G_IO_ERROR_NOT_REGULAR_FILE for what is not a file)
 * @HR_TENSOR_ERROR_TRUNCATED: the file ends before the data it describes: it is shorter
 *   than the 8-byte header length, its header length runs past its end, or a tensor's data
 *   offsets do
 * @HR_TENSOR_ERROR_HEADER: the JSON header is invalid: not UTF-8, not JSON, not an object,
 *   nested too deeply, larger than 100 MB, or an entry lacks `dtype`, `shape` or
 *   `data_offsets` or has members of the wrong JSON type, negative or non-integer numbers,
 *   or offsets that run backwards, an object gives a key twice, or the tensors do not fill
 *   the data area exactly (a hole between two tensors, bytes after the last)
 * @HR_TENSOR_ERROR_OVERLAP: the byte ranges of two tensors overlap
 * @HR_TENSOR_ERROR_DTYPE: a tensor's dtype is not one safetensors defines, or a tensor
 *   that is not floating point (integers, booleans, 8-bit floats) was read as float32
 * @HR_TENSOR_ERROR_SHAPE: a tensor's byte count is not the product of its shape times the
 *   size of its dtype (or that product overflows), or a tensor does not have the number
 *   of elements the caller expects
 * @HR_TENSOR_ERROR_NON_FINITE: a tensor read as float32 holds NaN or infinite values
 *   (including float64 values too large for float32)
 * @HR_TENSOR_ERROR_MISSING: the file has no tensor of the name asked for
 * @HR_TENSOR_ERROR_NO_MEMORY: an allocation failed: the system has not enough memory to
 *   hold the file or a tensor converted to float32. Since: 0.2
 *
 * Error codes in the %HR_TENSOR_ERROR domain.
 */
typedef enum
{
  HR_TENSOR_ERROR_IO,
  HR_TENSOR_ERROR_TRUNCATED,
  HR_TENSOR_ERROR_HEADER,
  HR_TENSOR_ERROR_OVERLAP,
  HR_TENSOR_ERROR_DTYPE,
  HR_TENSOR_ERROR_SHAPE,
  HR_TENSOR_ERROR_NON_FINITE,
  HR_TENSOR_ERROR_MISSING,
  HR_TENSOR_ERROR_NO_MEMORY,
} HrTensorError;

HR_AVAILABLE_IN_0_1
GQuark hr_tensor_error_quark (void);

#define HR_TYPE_TENSOR_FILE (hr_tensor_file_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrTensorFile, hr_tensor_file, HR, TENSOR_FILE, GObject)

HR_AVAILABLE_IN_0_1
HrTensorFile *hr_tensor_file_new (const char *path, GCancellable *cancellable, GError **error);

HR_AVAILABLE_IN_0_1
const char *hr_tensor_file_get_path (HrTensorFile *file);
HR_AVAILABLE_IN_0_1
guint hr_tensor_file_get_n_tensors (HrTensorFile *file);
HR_AVAILABLE_IN_0_1
char **hr_tensor_file_get_names (HrTensorFile *file);
HR_AVAILABLE_IN_0_1
gboolean hr_tensor_file_has_tensor (HrTensorFile *file, const char *name);
HR_AVAILABLE_IN_0_1
const char *hr_tensor_file_get_dtype (HrTensorFile *file, const char *name);
HR_AVAILABLE_IN_0_1
const gint64 *hr_tensor_file_get_shape (HrTensorFile *file, const char *name, gsize *n_dims);
HR_AVAILABLE_IN_0_1
gsize hr_tensor_file_get_n_elements (HrTensorFile *file, const char *name);
HR_AVAILABLE_IN_0_1
GBytes *hr_tensor_file_read_float (HrTensorFile *file, const char *name, GError **error);
HR_AVAILABLE_IN_0_1
gboolean hr_tensor_file_read_float_into (HrTensorFile *file, const char *name, float *dest,
                                         gsize n_elements, GError **error);
HR_AVAILABLE_IN_0_1
const char *hr_tensor_file_get_metadata (HrTensorFile *file, const char *key);
HR_AVAILABLE_IN_0_1
char **hr_tensor_file_get_metadata_keys (HrTensorFile *file);

G_END_DECLS
