/* headrank: the framing of partial states (parts), doc/partial.md */
#include "hr-private.h"
#include "hr-part-format.h"

#include "hr-error.h"
#include "hr-output.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

guint32
hr_part_kind_version (HrPartKind kind)
{
  return kind == HR_PART_KIND_ANALYSIS ? 2 : 1;
}

void
hr_part_writer_init (HrPartWriter *w, HrPartKind kind)
{
  guint8 zero[8] = { 0 };

  w->data = g_byte_array_new ();
  g_byte_array_append (w->data, (const guint8 *)HR_PART_MAGIC, HR_PART_MAGIC_SIZE);
  hr_part_put_u32 (w, hr_part_kind_version (kind));
  hr_part_put_u32 (w, kind);
  g_byte_array_append (w->data, zero, sizeof zero); /* the length, filled in at the end */
}

void
hr_part_put_u32 (HrPartWriter *w, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (w->data, (const guint8 *)&v, sizeof v);
}

void
hr_part_put_u64 (HrPartWriter *w, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (w->data, (const guint8 *)&v, sizeof v);
}

void
hr_part_put_f64 (HrPartWriter *w, double v)
{
  guint64 bits;

  memcpy (&bits, &v, sizeof bits);
  hr_part_put_u64 (w, bits);
}

void
hr_part_put_f64s (HrPartWriter *w, const double *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    hr_part_put_f64 (w, v[i]);
}

void
hr_part_put_f32s (HrPartWriter *w, const float *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      guint32 bits;

      memcpy (&bits, v + i, sizeof bits);
      hr_part_put_u32 (w, bits);
    }
}

void
hr_part_put_u64s (HrPartWriter *w, const guint64 *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    hr_part_put_u64 (w, v[i]);
}

void
hr_part_put_string (HrPartWriter *w, const char *s)
{
  gsize n = s != NULL ? strlen (s) : 0;

  g_return_if_fail (n < G_MAXUINT32);
  hr_part_put_u32 (w, s != NULL ? (guint32)n : G_MAXUINT32);
  if (n > 0)
    g_byte_array_append (w->data, (const guint8 *)s, (guint)n);
}

GBytes *
hr_part_writer_finish (HrPartWriter *w)
{
  guint64 length = GUINT64_TO_LE ((guint64)w->data->len - HR_PART_HEADER_SIZE);
  guint8 digest[HR_PART_CHECKSUM_SIZE];
  gsize digest_len = sizeof digest;
  g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);

  memcpy (w->data->data + 16, &length, sizeof length);
  g_checksum_update (sha, w->data->data, w->data->len);
  g_checksum_get_digest (sha, digest, &digest_len);
  g_byte_array_append (w->data, digest, (guint)digest_len);
  return g_byte_array_free_to_bytes (g_steal_pointer (&w->data));
}

static guint32
hr_le32 (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, sizeof v);
  return GUINT32_FROM_LE (v);
}

static guint64
hr_le64 (const guint8 *p)
{
  guint64 v;

  memcpy (&v, p, sizeof v);
  return GUINT64_FROM_LE (v);
}

gboolean
hr_part_reader_init (HrPartReader *r, GBytes *bytes, HrPartKind kind, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  guint32 version, got_kind;
  guint64 length;
  guint8 digest[HR_PART_CHECKSUM_SIZE];
  gsize digest_len = sizeof digest;
  g_autoptr (GChecksum) sha = NULL;

  if (size < HR_PART_MAGIC_SIZE || memcmp (data, HR_PART_MAGIC, HR_PART_MAGIC_SIZE) != 0)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_NOT_PART,
                   _ ("not a part of headrank (no HRPART magic)"));
      return FALSE;
    }
  if (size < HR_PART_HEADER_SIZE + HR_PART_CHECKSUM_SIZE)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_TRUNCATED,
                   _ ("the part is cut: %zu bytes, fewer than its header and checksum"), size);
      return FALSE;
    }
  version = hr_le32 (data + 8);
  if (version < 1 || version > HR_PART_FORMAT_VERSION)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_VERSION,
                   _ ("the part has format version %u; this version of headrank reads "
                      "version %u"),
                   version, HR_PART_FORMAT_VERSION);
      return FALSE;
    }
  got_kind = hr_le32 (data + 12);
  if (got_kind != kind)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_NOT_PART,
                   _ ("the part is of kind %u, not of kind %u"), got_kind, (guint)kind);
      return FALSE;
    }
  if (version > hr_part_kind_version (kind))
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_VERSION,
                   _ ("the part has format version %u; this version of headrank reads "
                      "version %u"),
                   version, hr_part_kind_version (kind));
      return FALSE;
    }
  length = hr_le64 (data + 16);
  if (length != size - HR_PART_HEADER_SIZE - HR_PART_CHECKSUM_SIZE)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_TRUNCATED,
                   _ ("the part says it holds %llu bytes of data, the file has %zu"),
                   (unsigned long long)length, size - HR_PART_HEADER_SIZE - HR_PART_CHECKSUM_SIZE);
      return FALSE;
    }
  sha = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sha, data, (gssize)(size - HR_PART_CHECKSUM_SIZE));
  g_checksum_get_digest (sha, digest, &digest_len);
  if (memcmp (digest, data + size - HR_PART_CHECKSUM_SIZE, HR_PART_CHECKSUM_SIZE) != 0)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_CHECKSUM,
                   _ ("the part's checksum does not match its contents (a damaged file)"));
      return FALSE;
    }
  r->p = data + HR_PART_HEADER_SIZE;
  r->left = (gsize)length;
  r->version = version;
  return TRUE;
}

static gboolean
hr_part_short (GError **error)
{
  g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT,
               _ ("the part's data end before what they describe"));
  return FALSE;
}

gboolean
hr_part_reader_has (HrPartReader *r, guint64 n, gsize size, GError **error)
{
  if (size != 0 && n > r->left / size)
    return hr_part_short (error);
  return TRUE;
}

gboolean
hr_part_get_u32 (HrPartReader *r, guint32 *v, GError **error)
{
  if (r->left < 4)
    return hr_part_short (error);
  *v = hr_le32 (r->p);
  r->p += 4;
  r->left -= 4;
  return TRUE;
}

gboolean
hr_part_get_u64 (HrPartReader *r, guint64 *v, GError **error)
{
  if (r->left < 8)
    return hr_part_short (error);
  *v = hr_le64 (r->p);
  r->p += 8;
  r->left -= 8;
  return TRUE;
}

gboolean
hr_part_get_f64 (HrPartReader *r, double *v, GError **error)
{
  guint64 bits;

  if (!hr_part_get_u64 (r, &bits, error))
    return FALSE;
  memcpy (v, &bits, sizeof bits);
  return TRUE;
}

gboolean
hr_part_get_f64s (HrPartReader *r, double *v, gsize n, GError **error)
{
  if (!hr_part_reader_has (r, n, 8, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    {
      v[i] = 0;
      hr_part_get_f64 (r, v + i, NULL);
    }
  return TRUE;
}

gboolean
hr_part_get_f32s (HrPartReader *r, float *v, gsize n, GError **error)
{
  if (!hr_part_reader_has (r, n, 4, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    {
      guint32 bits = 0;

      hr_part_get_u32 (r, &bits, NULL);
      memcpy (v + i, &bits, sizeof bits);
    }
  return TRUE;
}

gboolean
hr_part_get_u64s (HrPartReader *r, guint64 *v, gsize n, GError **error)
{
  if (!hr_part_reader_has (r, n, 8, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    hr_part_get_u64 (r, v + i, NULL);
  return TRUE;
}

gboolean
hr_part_get_string (HrPartReader *r, char **s, GError **error)
{
  guint32 n;

  *s = NULL;
  if (!hr_part_get_u32 (r, &n, error))
    return FALSE;
  if (n == G_MAXUINT32)
    return TRUE;
  if (n > r->left)
    return hr_part_short (error);
  if (memchr (r->p, '\0', n) != NULL || !g_utf8_validate ((const char *)r->p, n, NULL))
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT,
                   _ ("the part holds a text that is not UTF-8"));
      return FALSE;
    }
  *s = g_strndup ((const char *)r->p, n);
  r->p += n;
  r->left -= n;
  return TRUE;
}

gboolean
hr_part_reader_end (HrPartReader *r, GError **error)
{
  if (r->left != 0)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT,
                   _ ("the part holds %zu bytes more than it describes"), r->left);
      return FALSE;
    }
  return TRUE;
}

gboolean
hr_part_write_file (GBytes *bytes, const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrOutputFile) file = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, error);
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  int fd;

  if (file == NULL)
    return FALSE;
  fd = hr_output_file_get_fd (file);
  while (size > 0)
    {
      ssize_t n = write (fd, data, MIN (size, (gsize)1 << 30));

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      data += n;
      size -= (gsize)n;
    }
  return hr_output_file_commit (file, cancellable, error);
}

GBytes *
hr_part_read_file (const char *path, GError **error)
{
  GError *local = NULL;
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, &local);

  if (mapped == NULL)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_file_error (local->code), "%s",
                   local->message);
      g_error_free (local);
      return NULL;
    }
  return g_mapped_file_get_bytes (mapped);
}
