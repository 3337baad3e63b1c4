/* headrank: the framing of partial states (parts), doc/partial.md (internal)
 *
 * A part is: the magic "HRPART\n\x1a", the format version (u32), the kind (u32), the
 * length L of the payload (u64), the payload, and the SHA-256 of everything before it.
 * All integers are little-endian, all floating-point values IEEE 754 binary64
 * little-endian. HrPartWriter builds one; HrPartReader checks the frame and reads the
 * payload with every read bounded by what is left, so that no size read from a part is
 * trusted before the bytes it describes are there. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HR_PART_MAGIC "HRPART\n\x1a"
#define HR_PART_MAGIC_SIZE 8
/* the newest format version this library reads: 1 for moments, 2 for analyses (which adds
 * the contrastive accumulators, the first sample and whether the per-sample tables are held;
 * version 1 of an analysis is still read) */
#define HR_PART_FORMAT_VERSION 2
#define HR_PART_HEADER_SIZE 24
#define HR_PART_CHECKSUM_SIZE 32

typedef enum
{
  HR_PART_KIND_MOMENTS = 1,
  HR_PART_KIND_ANALYSIS = 2,
} HrPartKind;

/* The version a part of @kind is written in. */
guint32 hr_part_kind_version (HrPartKind kind);

typedef struct
{
  GByteArray *data;
} HrPartWriter;

void hr_part_writer_init (HrPartWriter *w, HrPartKind kind);
void hr_part_put_u32 (HrPartWriter *w, guint32 v);
void hr_part_put_u64 (HrPartWriter *w, guint64 v);
void hr_part_put_f64 (HrPartWriter *w, double v);
void hr_part_put_f64s (HrPartWriter *w, const double *v, gsize n);
void hr_part_put_f32s (HrPartWriter *w, const float *v, gsize n);
void hr_part_put_u64s (HrPartWriter *w, const guint64 *v, gsize n);
/* a string as its length in bytes (u32) and its UTF-8 bytes, no terminator; NULL is the
 * length 0xFFFFFFFF */
void hr_part_put_string (HrPartWriter *w, const char *s);
/* Fills in the length, appends the checksum; the writer is empty afterwards. */
GBytes *hr_part_writer_finish (HrPartWriter *w);

typedef struct
{
  const guint8 *p;
  gsize left;
  guint32 version;  /* the version of the part read */
  const char *what; /* for messages: "moments", "part" */
} HrPartReader;

gboolean hr_part_reader_init (HrPartReader *r, GBytes *bytes, HrPartKind kind, GError **error);
gboolean hr_part_get_u32 (HrPartReader *r, guint32 *v, GError **error);
gboolean hr_part_get_u64 (HrPartReader *r, guint64 *v, GError **error);
gboolean hr_part_get_f64 (HrPartReader *r, double *v, GError **error);
/* Whether @n values of @size bytes are left (an error if not), before allocating them. */
gboolean hr_part_reader_has (HrPartReader *r, guint64 n, gsize size, GError **error);
gboolean hr_part_get_f64s (HrPartReader *r, double *v, gsize n, GError **error);
gboolean hr_part_get_f32s (HrPartReader *r, float *v, gsize n, GError **error);
gboolean hr_part_get_u64s (HrPartReader *r, guint64 *v, gsize n, GError **error);
/* a string as hr_part_put_string() writes it, checked to be UTF-8 without NUL */
gboolean hr_part_get_string (HrPartReader *r, char **s, GError **error);
/* An error unless every byte of the payload has been read. */
gboolean hr_part_reader_end (HrPartReader *r, GError **error);

/* Writes @bytes to @path atomically (HrOutputFile). */
gboolean hr_part_write_file (GBytes *bytes, const char *path, GCancellable *cancellable,
                             GError **error);
/* The bytes of the file @path (mapped); G_IO_ERROR from errno when it cannot be read. */
GBytes *hr_part_read_file (const char *path, GError **error);

G_END_DECLS
