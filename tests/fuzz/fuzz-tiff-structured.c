/* headrank fuzz target: TIFF files built from a compact description
 *
 * The byte-level fuzzers rarely build the structures that matter to the reader: several
 * consistent IFDs, tags of the wrong type or count, strips that pages share, metadata in
 * the ImageDescription. This target reads its input as a description of a TIFF file and
 * emits the file (classic TIFF, either byte order), which is then checked exactly as
 * fuzz-stack-reader checks a file (this file includes fuzz-stack-reader.c): every layout,
 * whole and in chunks, errors of our domain only, no GLib warning or critical.
 *
 * The description, byte by byte (an input that ends early reads as zeros):
 *   flags        bit 0 big-endian, 1 pages share the first page's strips, 2 tiled,
 *                3 many pages (up to 1,024), 4 huge sizes (32-bit width/height),
 *                5 strip data verbatim from the input (else well-formed for the codec),
 *                6 perturb one strip offset, 7 drop StripByteCounts
 *   pages        the number of pages (1–8, or 1–1,024 with bit 3)
 *   description  kind: none, ImageJ, OME-XML, tifffile JSON, deeply nested JSON, raw bytes;
 *                then the sizes and strings that kind needs (channels, slices, frames as
 *                small numbers or any 64-bit value; the OME DimensionOrder and where the
 *                text is cut; the JSON shape's members, of any JSON type)
 *   page         width, height, samples per pixel, bits and sample format, compression
 *                (none, Deflate, PackBits, LZW), planar configuration, rows per strip
 *   per page     a byte of variations (planar, format, width, compression differ)
 *   overrides    up to 4 IFD entries written as given: tag, type, count, value
 *   data         the bytes the strips are made of
 */
#include <zlib.h>

#define FUZZ_TARGET "fuzz-tiff-structured"
#define FUZZ_STACK_READER_ENTRY fuzz_read_tiff_bytes
#include "fuzz-stack-reader.c"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* -- reading the description ------------------------------------------------------------- */

typedef struct
{
  const uint8_t *data;
  size_t size;
  size_t pos;
} Desc;

static guint8
d_u8 (Desc *d)
{
  return d->pos < d->size ? d->data[d->pos++] : 0;
}

static guint16
d_u16 (Desc *d)
{
  return (guint16)(d_u8 (d) | (guint16)d_u8 (d) << 8);
}

static guint32
d_u32 (Desc *d)
{
  return (guint32)d_u16 (d) | (guint32)d_u16 (d) << 16;
}

static guint64
d_u64 (Desc *d)
{
  return (guint64)d_u32 (d) | (guint64)d_u32 (d) << 32;
}

/* A size for metadata: mostly small, sometimes anything (so that products wrap). */
static guint64
d_size (Desc *d, guint n_pages)
{
  switch (d_u8 (d) % 5)
    {
      case 0:
        return 1;
      case 1:
        return n_pages;
      case 2:
        return 1 + d_u8 (d) % 16;
      case 3:
        return d_u32 (d);
      default:
        return d_u64 (d);
    }
}

/* -- writing the file -------------------------------------------------------------------- */

typedef struct
{
  GByteArray *out;
  gboolean big;
} Writer;

static void
w_uint (Writer *w, guint64 v, guint bytes)
{
  guint8 b[8];

  for (guint i = 0; i < bytes; i++)
    b[w->big ? bytes - 1 - i : i] = (guint8)(v >> (8 * i));
  g_byte_array_append (w->out, b, bytes);
}

static void
w_put_uint (Writer *w, gsize at, guint64 v, guint bytes)
{
  for (guint i = 0; i < bytes; i++)
    w->out->data[at + (w->big ? bytes - 1 - i : i)] = (guint8)(v >> (8 * i));
}

static void
w_align (Writer *w)
{
  if (w->out->len & 1)
    g_byte_array_append (w->out, (const guint8 *)"", 1);
}

static const guint type_size[] = { 0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8, 8, 8 };

typedef struct
{
  guint16 tag;
  guint16 type;
  guint32 count;
  gboolean verbatim;   /* value is the 4-byte field as it is */
  guint32 value;       /* verbatim field */
  guint64 *values;     /* count values, for SHORT/LONG/... */
  const guint8 *bytes; /* ASCII or BYTE data (count bytes), instead of values */
} Entry;

typedef struct
{
  Entry entries[40];
  guint n;
} Ifd;

static void
ifd_set (Ifd *ifd, Entry e)
{
  for (guint i = 0; i < ifd->n; i++)
    if (ifd->entries[i].tag == e.tag)
      {
        ifd->entries[i] = e;
        return;
      }
  if (ifd->n < G_N_ELEMENTS (ifd->entries))
    ifd->entries[ifd->n++] = e;
}

static void
ifd_set_values (Ifd *ifd, guint16 tag, guint16 type, guint32 count, guint64 *values)
{
  Entry e = { tag, type, count, FALSE, 0, values, NULL };
  ifd_set (ifd, e);
}

static int
entry_compare (const void *a, const void *b)
{
  return (int)((const Entry *)a)->tag - (int)((const Entry *)b)->tag;
}

/* Writes @ifd (values out of line first) and links it from the 4 bytes at @link. Returns
 * where its own link to the next IFD is. */
static gsize
ifd_write (Writer *w, Ifd *ifd, gsize link)
{
  guint32 fields[G_N_ELEMENTS (ifd->entries)];
  gsize start;

  qsort (ifd->entries, ifd->n, sizeof (Entry), entry_compare);
  for (guint i = 0; i < ifd->n; i++)
    {
      Entry *e = &ifd->entries[i];
      guint size = e->type < G_N_ELEMENTS (type_size) ? type_size[e->type] : 0;
      guint64 bytes = (guint64)size * e->count;
      gsize at;

      if (e->verbatim || size == 0)
        {
          fields[i] = e->value;
          continue;
        }
      at = w->out->len;
      if (e->bytes != NULL)
        g_byte_array_append (w->out, e->bytes, e->count);
      else
        for (guint32 k = 0; k < e->count; k++)
          w_uint (w, e->values[k], size);
      if (bytes <= 4)
        {
          /* in the entry itself: read back the bytes, left-justified */
          guint8 field[4] = { 0 };
          memcpy (field, w->out->data + at, bytes);
          g_byte_array_set_size (w->out, at);
          fields[i] = (guint32)field[0] | (guint32)field[1] << 8 | (guint32)field[2] << 16
                      | (guint32)field[3] << 24;
          e->verbatim = TRUE; /* raw bytes, not a number */
          e->value = G_MAXUINT32;
        }
      else
        {
          fields[i] = (guint32)at;
          w_align (w);
        }
    }
  start = w->out->len;
  w_put_uint (w, link, start, 4);
  w_uint (w, ifd->n, 2);
  for (guint i = 0; i < ifd->n; i++)
    {
      Entry *e = &ifd->entries[i];

      w_uint (w, e->tag, 2);
      w_uint (w, e->type, 2);
      w_uint (w, e->count, 4);
      if (e->verbatim && e->value == G_MAXUINT32)
        {
          /* inline bytes in file order */
          guint8 b[4] = { (guint8)fields[i], (guint8)(fields[i] >> 8), (guint8)(fields[i] >> 16),
                          (guint8)(fields[i] >> 24) };
          g_byte_array_append (w->out, b, 4);
        }
      else
        w_uint (w, fields[i], 4);
    }
  w_uint (w, 0, 4);
  return w->out->len - 4;
}

/* -- codecs ------------------------------------------------------------------------------ */

static void
packbits_literals (GByteArray *out, const guint8 *p, gsize n)
{
  for (gsize i = 0; i < n; i += 128)
    {
      guint8 len = (guint8)(MIN ((gsize)128, n - i) - 1);
      g_byte_array_append (out, &len, 1);
      g_byte_array_append (out, p + i, len + 1u);
    }
}

/* The encoded bytes of one strip or tile holding @raw (@n bytes). */
static GByteArray *
encode (guint16 compression, const guint8 *raw, gsize n)
{
  GByteArray *out = g_byte_array_new ();

  switch (compression)
    {
      case 8:
        {
          uLongf len = compressBound (n);

          g_byte_array_set_size (out, (guint)len);
          if (compress2 (out->data, &len, raw, n, 6) != Z_OK)
            len = 0;
          g_byte_array_set_size (out, (guint)len);
        }
        break;
      case 32773:
        packbits_literals (out, raw, n);
        break;
      default:
        g_byte_array_append (out, raw, (guint)n);
        break;
    }
  return out;
}

/* -- descriptions ------------------------------------------------------------------------ */

static char *
make_description (Desc *d, guint n_pages)
{
  static const char *const orders[] = { "CZT", "ZCT", "TZC", "CCZ", "CZ", "", "XYZ", "C\"T" };
  guint kind = d_u8 (d) % 6;

  switch (kind)
    {
      case 1:
        {
          GString *s = g_string_new ("ImageJ=1.11a\n");
          guint8 present = d_u8 (d);

          g_string_append_printf (s, "images=%u\n", n_pages);
          if (present & 1)
            g_string_append_printf (s, "channels=%" G_GUINT64_FORMAT "\n", d_size (d, n_pages));
          if (present & 2)
            g_string_append_printf (s, "slices=%" G_GUINT64_FORMAT "\n", d_size (d, n_pages));
          if (present & 4)
            g_string_append_printf (s, "frames=%" G_GUINT64_FORMAT "\n", d_size (d, n_pages));
          if (present & 8)
            g_string_append (s, "channels=99999999999999999999999\n");
          g_string_append (s, "hyperstack=true\n");
          return g_string_free (s, FALSE);
        }
      case 2:
        {
          GString *s = g_string_new ("<?xml version=\"1.0\"?><OME><Image><Pixels ");
          gsize cut;

          g_string_append_printf (s, "SizeC=\"%" G_GUINT64_FORMAT "\" ", d_size (d, n_pages));
          g_string_append_printf (s, "SizeZ=\"%" G_GUINT64_FORMAT "\" ", d_size (d, n_pages));
          g_string_append_printf (s, "SizeT=\"%" G_GUINT64_FORMAT "\" ", d_size (d, n_pages));
          g_string_append_printf (s, "DimensionOrder=\"XY%s\" />", orders[d_u8 (d) % 8]);
          g_string_append (s, "</Image></OME>");
          /* cut anywhere, also right after DimensionOrder="XY */
          cut = d_u16 (d);
          if (cut != 0 && cut < s->len)
            g_string_truncate (s, cut);
          return g_string_free (s, FALSE);
        }
      case 3:
        {
          static const char axes_chars[] = "CZTQYXS";
          GString *s = g_string_new ("{\"shape\":");
          guint n_axes = d_u8 (d) % 7;
          guint8 form = d_u8 (d);

          if (form % 8 == 0)
            g_string_append_printf (s, "%u", (guint)d_u8 (d)); /* not an array */
          else
            {
              g_string_append_c (s, '[');
              for (guint i = 0; i < n_axes; i++)
                {
                  guint8 t = d_u8 (d);

                  if (i > 0)
                    g_string_append_c (s, ',');
                  switch (t % 8)
                    {
                      case 0:
                        g_string_append (s, "{\"a\":1}");
                        break;
                      case 1:
                        g_string_append (s, "\"x\"");
                        break;
                      case 2:
                        g_string_append (s, "-3");
                        break;
                      case 3:
                        g_string_append (s, "2.5");
                        break;
                      default:
                        g_string_append_printf (s, "%" G_GUINT64_FORMAT, d_size (d, n_pages));
                        break;
                    }
                }
              g_string_append_c (s, ']');
            }
          if (form & 8)
            {
              g_string_append (s, ",\"axes\":\"");
              for (guint i = 0; i < n_axes + (form & 16 ? 1 : 0); i++)
                g_string_append_c (s, axes_chars[d_u8 (d) % 7]);
              g_string_append_c (s, '"');
            }
          else if (form & 16)
            g_string_append (s, ",\"axes\":[\"C\"]");
          g_string_append_c (s, '}');
          return g_string_free (s, FALSE);
        }
      case 4:
        {
          guint depth = d_u16 (d) % 200000;
          GString *s = g_string_new ("{\"shape\":");

          for (guint i = 0; i < depth; i++)
            g_string_append_c (s, '[');
          for (guint i = 0; i < depth; i++)
            g_string_append_c (s, ']');
          g_string_append_c (s, '}');
          return g_string_free (s, FALSE);
        }
      case 5:
        {
          guint n = d_u8 (d);
          char *s = g_malloc0 (n + 1);

          for (guint i = 0; i < n; i++)
            s[i] = (char)(d_u8 (d) | 1); /* no NUL inside */
          return s;
        }
      default:
        return NULL;
    }
}

/* -- the file ---------------------------------------------------------------------------- */

static GByteArray *
build_tiff (Desc *d)
{
  static const guint16 compressions[] = { 1, 8, 32773, 5 };
  static const guint16 override_tags[] = { 256, 257, 258, 259, 262, 270, 273, 277, 278,
                                           279, 284, 322, 323, 324, 325, 339, 317, 266 };
  Writer w = { g_byte_array_new (), FALSE };
  guint8 flags = d_u8 (d);
  guint n_pages;
  g_autofree char *description = NULL;
  guint32 width, height, rows_per_strip, tile = 16;
  guint16 spp, bits, format, compression, planar;
  guint8 kind;
  gsize link;
  GPtrArray *keep = g_ptr_array_new_with_free_func (g_free);
  guint64 *shared_offsets = NULL, *shared_counts = NULL;
  guint32 shared_n = 0;
  const guint8 *pool;
  gsize pool_size;

  w.big = flags & 1;
  n_pages = flags & 8 ? 1 + d_u16 (d) % 1024 : 1 + d_u8 (d) % 8;
  description = make_description (d, n_pages);

  width = flags & 16 ? d_u32 (d) : 1u + d_u8 (d) % 40u;
  height = flags & 16 ? d_u32 (d) : 1u + d_u8 (d) % 40u;
  spp = 1 + d_u8 (d) % 4;
  kind = d_u8 (d);
  bits = (guint16[]){ 8, 16, 32, 64, 1, 24 }[kind % 6];
  format = 1 + (kind / 6) % 3;
  compression = compressions[d_u8 (d) % 4];
  planar = 1 + d_u8 (d) % 2;
  rows_per_strip = 1 + d_u8 (d) % MAX (1u, MIN (height, 64u));

  /* the strip data come from the rest of the input, repeated */
  pool = d->data + MIN (d->pos + 64, d->size);
  pool_size = d->size - MIN (d->pos + 64, d->size);

  g_byte_array_append (w.out, w.big ? (const guint8 *)"MM\0*" : (const guint8 *)"II*\0", 4);
  link = w.out->len;
  w_uint (&w, 0, 4);

  for (guint p = 0; p < n_pages; p++)
    {
      Ifd ifd = { .n = 0 };
      guint8 vary = n_pages > 1 && p > 0 ? d_u8 (d) : 0;
      guint32 pw = vary & 4 ? 1 + (width + 1) % 41 : width;
      guint16 pplanar = vary & 1 ? 3 - planar : planar;
      guint16 pformat = vary & 2 ? 1 + format % 3 : format;
      guint16 pcomp = vary & 8 ? compressions[(vary >> 4) % 4] : compression;
      gboolean tiled = (flags & 4) != 0;
      guint64 plane_bytes = (guint64)pw * height * (pplanar == 2 ? 1 : spp) * MAX (bits, 8) / 8;
      guint32 per_plane, n_striles;
      guint64 *offsets, *counts, *v;
      guint n_over;

      if (tiled)
        per_plane = ((pw + tile - 1) / tile) * ((height + tile - 1) / tile);
      else
        per_plane = (height + rows_per_strip - 1) / rows_per_strip;
      n_striles = per_plane * (pplanar == 2 ? spp : 1);
      if (n_striles > 4096 || plane_bytes > ((guint64)1 << 24) || (n_pages > 64 && n_striles > 16)
          || w.out->len > ((gsize)4 << 20))
        {
          /* huge claims: one small strip, the rest is the reader's to refuse */
          n_striles = MIN (n_striles, 4u);
          plane_bytes = 64;
        }

      offsets = g_new0 (guint64, MAX (n_striles, 1u));
      counts = g_new0 (guint64, MAX (n_striles, 1u));
      g_ptr_array_add (keep, offsets);
      g_ptr_array_add (keep, counts);
      if ((flags & 2) && shared_offsets != NULL && shared_n == n_striles)
        {
          memcpy (offsets, shared_offsets, n_striles * sizeof (guint64));
          memcpy (counts, shared_counts, n_striles * sizeof (guint64));
        }
      else
        {
          guint64 strile_bytes
              = tiled ? (guint64)tile * tile * (pplanar == 2 ? 1 : spp) * MAX (bits, 8) / 8
                      : MIN (plane_bytes, (guint64)pw * rows_per_strip * (pplanar == 2 ? 1 : spp)
                                              * MAX (bits, 8) / 8);

          strile_bytes = MIN (strile_bytes, (guint64)1 << 16);
          for (guint32 s = 0; s < n_striles; s++)
            {
              g_autofree guint8 *raw = g_malloc0 (MAX (strile_bytes, 1));
              GByteArray *enc;

              for (guint64 k = 0; k < strile_bytes && pool_size > 0; k++)
                raw[k] = pool[(k + s * 7 + p * 13) % pool_size];
              if (flags & 32)
                enc = encode (1, raw, strile_bytes); /* verbatim: garbage for a codec */
              else
                enc = encode (pcomp, raw, strile_bytes);
              offsets[s] = w.out->len;
              counts[s] = enc->len;
              g_byte_array_append (w.out, enc->data, enc->len);
              g_byte_array_unref (enc);
              w_align (&w);
            }
          if (shared_offsets == NULL)
            {
              shared_offsets = offsets;
              shared_counts = counts;
              shared_n = n_striles;
            }
        }
      if ((flags & 64) && n_striles > 0)
        offsets[d_u8 (d) % n_striles] += (guint64)(gint32)d_u32 (d);

      v = g_new (guint64, 4 * 8);
      g_ptr_array_add (keep, v);
      v[0] = pw;
      v[1] = height;
      for (guint i = 0; i < spp; i++)
        {
          v[2 + i] = bits;
          v[6 + i] = pformat;
        }
      v[10] = pcomp;
      v[11] = 1;
      v[12] = spp;
      v[13] = rows_per_strip;
      v[14] = pplanar;
      v[15] = tile;
      ifd_set_values (&ifd, 256, 4, 1, &v[0]);
      ifd_set_values (&ifd, 257, 4, 1, &v[1]);
      ifd_set_values (&ifd, 258, 3, spp, &v[2]);
      ifd_set_values (&ifd, 259, 3, 1, &v[10]);
      ifd_set_values (&ifd, 262, 3, 1, &v[11]);
      ifd_set_values (&ifd, 277, 3, 1, &v[12]);
      ifd_set_values (&ifd, 284, 3, 1, &v[14]);
      ifd_set_values (&ifd, 339, 3, spp, &v[6]);
      if (tiled)
        {
          ifd_set_values (&ifd, 322, 3, 1, &v[15]);
          ifd_set_values (&ifd, 323, 3, 1, &v[15]);
          ifd_set_values (&ifd, 324, 4, n_striles, offsets);
          if (!(flags & 128))
            ifd_set_values (&ifd, 325, 4, n_striles, counts);
        }
      else
        {
          ifd_set_values (&ifd, 278, 4, 1, &v[13]);
          ifd_set_values (&ifd, 273, 4, n_striles, offsets);
          if (!(flags & 128))
            ifd_set_values (&ifd, 279, 4, n_striles, counts);
        }
      if (p == 0 && description != NULL)
        {
          Entry e = { 270, 2,    (guint32)strlen (description) + 1, FALSE,
                      0,   NULL, (const guint8 *)description };
          ifd_set (&ifd, e);
        }

      /* entries written as the input says, on the first page or on a page it picks */
      n_over = p == 0 || (vary & 128) ? d_u8 (d) % 5 : 0;
      for (guint i = 0; i < n_over; i++)
        {
          Entry e = { 0 };
          guint8 which = d_u8 (d);

          e.tag = which < 200 ? override_tags[which % G_N_ELEMENTS (override_tags)] : d_u16 (d);
          e.type = d_u8 (d) % 19;
          e.count = d_u8 (d) & 1 ? d_u32 (d) : d_u8 (d) % 4;
          e.verbatim = TRUE;
          e.value = d_u32 (d);
          ifd_set (&ifd, e);
        }
      link = ifd_write (&w, &ifd, link);
    }
  g_ptr_array_unref (keep);
  return w.out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Desc d = { data, size, 0 };
  GByteArray *tiff = build_tiff (&d);

  fuzz_read_tiff_bytes (tiff->data, tiff->len);
  g_byte_array_unref (tiff);
  return 0;
}
