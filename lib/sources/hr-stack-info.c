/* headrank: where a feature stack came from */
#include "hr-private.h"
#include "hr-stack-info.h"

#include "hr-feature-stack.h"
#include "hr-sources-private.h"
#include "hr-types.h"

#include <string.h>

/**
 * HrStackInfo:
 *
 * An immutable, reference-counted description of where a feature stack came from: the
 * layout it was read with, the source element format and compression, the number of TIFF
 * pages and, for per-pixel stacks, the image geometry (width × height, Z slices, T frames,
 * C channels), so that per-sample results can be shown as images again.
 *
 * Sample order of a per-pixel stack: sample `n = ((t × depth + z) × height + y) × width + x`,
 * feature `c` is channel `c`.
 */

G_DEFINE_BOXED_TYPE (HrStackInfo, hr_stack_info, hr_stack_info_ref, hr_stack_info_unref)

HrStackInfo *
hr_stack_info_new_internal (void)
{
  HrStackInfo *info = g_new0 (HrStackInfo, 1);

  g_atomic_ref_count_init (&info->ref_count);
  info->layout = HR_STACK_LAYOUT_MATRIX;
  info->sample_format = HR_SAMPLE_FORMAT_FLOAT32;
  info->depth = 1;
  info->frames = 1;
  info->channels = 1;
  return info;
}

/**
 * hr_stack_info_new_pixels:
 * @width: image width X, at least 1
 * @height: image height Y, at least 1
 * @depth: number of Z slices, at least 1
 * @frames: number of T frames, at least 1
 *
 * Describes a per-pixel geometry, for writing a stack as a per-pixel (channels) TIFF with
 * hr_stack_writer_new() or for attaching to a stack with hr_feature_stack_set_info().
 *
 * Returns: (transfer full): a new #HrStackInfo of layout %HR_STACK_LAYOUT_CHANNELS
 */
HrStackInfo *
hr_stack_info_new_pixels (guint width, guint height, guint depth, guint frames)
{
  HrStackInfo *info;

  g_return_val_if_fail (width > 0 && height > 0 && depth > 0 && frames > 0, NULL);

  info = hr_stack_info_new_internal ();
  info->layout = HR_STACK_LAYOUT_CHANNELS;
  info->per_pixel = TRUE;
  info->width = width;
  info->height = height;
  info->depth = depth;
  info->frames = frames;
  return info;
}

/**
 * hr_stack_info_ref:
 * @info: a #HrStackInfo
 *
 * Acquires a reference on @info.
 *
 * Returns: (transfer full): @info, with one more reference
 */
HrStackInfo *
hr_stack_info_ref (HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  g_atomic_ref_count_inc (&info->ref_count);
  return info;
}

/**
 * hr_stack_info_unref:
 * @info: (transfer full): a #HrStackInfo
 *
 * Drops a reference; frees @info when it was the last.
 */
void
hr_stack_info_unref (HrStackInfo *info)
{
  g_return_if_fail (info != NULL);
  if (g_atomic_ref_count_dec (&info->ref_count))
    {
      g_free (info->path);
      g_free (info->compression);
      g_free (info->metadata_kind);
      g_free (info);
    }
}

/**
 * hr_stack_info_get_path:
 * @info: a #HrStackInfo
 *
 * Gets the file the stack was read from.
 *
 * Returns: (nullable) (type filename): the file the stack was read from, or %NULL
 */
const char *
hr_stack_info_get_path (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->path;
}

/**
 * hr_stack_info_get_layout:
 * @info: a #HrStackInfo
 *
 * Gets the layout the stack was read with.
 *
 * Returns: the layout the stack was read with (never %HR_STACK_LAYOUT_AUTO)
 */
HrStackLayout
hr_stack_info_get_layout (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, HR_STACK_LAYOUT_MATRIX);
  return info->layout;
}

/**
 * hr_stack_info_get_sample_format:
 * @info: a #HrStackInfo
 *
 * Gets the element format of the source.
 *
 * Returns: the element format of the source (float32 for stacks made in memory)
 */
HrSampleFormat
hr_stack_info_get_sample_format (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, HR_SAMPLE_FORMAT_FLOAT32);
  return info->sample_format;
}

/**
 * hr_stack_info_get_compression:
 * @info: a #HrStackInfo
 *
 * Gets the TIFF compression of the source.
 *
 * Returns: (nullable): the TIFF compression of the source ("none", "lzw", "deflate",
 *   "packbits", "zstd", "lzma", …), or %NULL for a stack made in memory
 */
const char *
hr_stack_info_get_compression (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->compression;
}

/**
 * hr_stack_info_get_metadata_kind:
 * @info: a #HrStackInfo
 *
 * Gets the kind of metadata the layout and axes were taken from.
 *
 * Returns: (nullable): the metadata the layout and axes were taken from: "imagej" (ImageJ
 *   hyperstack), "ome" (OME-XML), "tifffile" (tifffile's JSON shape description), "none",
 *   or %NULL for a stack made in memory
 */
const char *
hr_stack_info_get_metadata_kind (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->metadata_kind;
}

/**
 * hr_stack_info_get_n_pages:
 * @info: a #HrStackInfo
 *
 * Gets the number of TIFF pages (directories) of the source, 0 for a stack made in memory.
 *
 * Returns: the number of TIFF pages (directories) of the source, 0 for a stack made in memory
 */
guint
hr_stack_info_get_n_pages (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, 0);
  return info->n_pages;
}

/**
 * hr_stack_info_get_width:
 * @info: a #HrStackInfo
 *
 * Gets the image width X of a per-pixel stack, the page width otherwise.
 *
 * Returns: the image width X of a per-pixel stack, the page width otherwise (0 for a stack
 *   made in memory)
 */
guint
hr_stack_info_get_width (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, 0);
  return info->width;
}

/**
 * hr_stack_info_get_height:
 * @info: a #HrStackInfo
 *
 * Gets the image height Y of a per-pixel stack, the page height otherwise.
 *
 * Returns: the image height Y of a per-pixel stack, the page height otherwise (0 for a stack
 *   made in memory)
 */
guint
hr_stack_info_get_height (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, 0);
  return info->height;
}

/**
 * hr_stack_info_get_depth:
 * @info: a #HrStackInfo
 *
 * Gets the number of Z slices of a per-pixel stack.
 *
 * Returns: the number of Z slices of a per-pixel stack (1 otherwise)
 */
guint
hr_stack_info_get_depth (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, 1);
  return info->depth;
}

/**
 * hr_stack_info_get_frames:
 * @info: a #HrStackInfo
 *
 * Gets the number of T frames of a per-pixel stack.
 *
 * Returns: the number of T frames of a per-pixel stack (1 otherwise)
 */
guint
hr_stack_info_get_frames (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, 1);
  return info->frames;
}

/**
 * hr_stack_info_get_channels:
 * @info: a #HrStackInfo
 *
 * Gets the number of feature channels C of a per-pixel stack.
 *
 * Returns: the number of feature channels C of a per-pixel stack (1 otherwise)
 */
guint
hr_stack_info_get_channels (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, 1);
  return info->channels;
}

/**
 * hr_stack_info_is_per_pixel:
 * @info: a #HrStackInfo
 *
 * Tells whether the samples are the pixels of an image (layout %HR_STACK_LAYOUT_CHANNELS).
 *
 * Returns: whether the samples are the pixels of an image (layout
 *   %HR_STACK_LAYOUT_CHANNELS), so that per-sample values can be shown as an image of
 *   width × height (× depth × frames)
 */
gboolean
hr_stack_info_is_per_pixel (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, FALSE);
  return info->per_pixel;
}

/**
 * hr_stack_info_get_tiled:
 * @info: a #HrStackInfo
 *
 * Tells whether the source stores its data in tiles.
 *
 * Returns: whether the source stores its data in tiles (rather than strips)
 */
gboolean
hr_stack_info_get_tiled (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, FALSE);
  return info->tiled;
}

/**
 * hr_stack_info_get_big_endian:
 * @info: a #HrStackInfo
 *
 * Tells whether the source file is big-endian.
 *
 * Returns: whether the source file is big-endian ("MM")
 */
gboolean
hr_stack_info_get_big_endian (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, FALSE);
  return info->big_endian;
}

/**
 * hr_stack_info_get_bigtiff:
 * @info: a #HrStackInfo
 *
 * Tells whether the source file is a BigTIFF.
 *
 * Returns: whether the source file is a BigTIFF (64-bit offsets)
 */
gboolean
hr_stack_info_get_bigtiff (const HrStackInfo *info)
{
  g_return_val_if_fail (info != NULL, FALSE);
  return info->bigtiff;
}

/* Values per block of the scan: a multiple of every vector width, so that the block loop
 * needs no remainder and GCC vectorises it at -O2 (its "very cheap" cost model). */
#define HR_NONFINITE_BLOCK 4096

/* A float is ±Inf or NaN exactly when its exponent bits are all set. */
static inline gboolean
hr_float_bits_nonfinite (guint32 bits)
{
  return (bits & 0x7f800000u) == 0x7f800000u;
}

/* Counts the non-finite values of data[0 … n) one by one and remembers where the first
 * are. */
static void
hr_nonfinite_scan_slow (HrNonfinite *acc, const float *data, gsize n, guint64 first_index)
{
  for (gsize i = 0; i < n; i++)
    {
      guint32 bits;

      memcpy (&bits, &data[i], sizeof bits);
      if (hr_float_bits_nonfinite (bits))
        {
          if (acc->count < HR_NONFINITE_MAX_POSITIONS)
            acc->positions[acc->count] = first_index + i;
          acc->count++;
        }
    }
}

/* The scan runs on every value read, as fast as the read itself: on x86-64 a second copy
 * of it for AVX2 (HR_AVX2_CLONES; measured 76 against 38 GB/s on a block in the L2 cache). */
HR_AVX2_CLONES void
hr_nonfinite_scan (HrNonfinite *acc, const float *data, gsize n_values, guint64 first_index)
{
  gsize start = 0;

  /* Whole blocks: a branch-free test of the exponent bits as integers, OR-reduced over the
   * block (vectorised), and the slow path only for a block that holds a non-finite value. */
  for (; n_values - start >= HR_NONFINITE_BLOCK; start += HR_NONFINITE_BLOCK)
    {
      const float *block = data + start;
      guint32 bad = 0;

      for (gsize i = 0; i < HR_NONFINITE_BLOCK; i++)
        {
          guint32 bits;

          memcpy (&bits, &block[i], sizeof bits);
          bad |= hr_float_bits_nonfinite (bits);
        }
      if (G_UNLIKELY (bad))
        hr_nonfinite_scan_slow (acc, block, HR_NONFINITE_BLOCK, first_index + start);
    }
  /* The rest, shorter than a block. */
  hr_nonfinite_scan_slow (acc, data + start, n_values - start, first_index + start);
}

gsize
hr_nonfinite_n_positions (const HrNonfinite *acc)
{
  return (gsize)MIN (acc->count, (guint64)HR_NONFINITE_MAX_POSITIONS);
}
