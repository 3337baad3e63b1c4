/* headrank: feature stacks read from TIFF through libtiff
 *
 * One HrTiffSource is one open file with its layout decided: it knows every page it will
 * read, has checked their strips or tiles against the file size, and reads any range of
 * samples into float32 rows. libtiff's messages about the file go into that file's GError
 * through per-handle handlers; nothing reaches libtiff's process-wide handlers.
 */
#include "hr-private.h"

#include "hr-enum-names.h"
#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libdeflate.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* A strip or a row of tiles decoded larger than this is read row by row instead, so that
 * memory stays bounded by the chunk, not by how the file was cut. */
#define HR_BAND_LIMIT (64u << 20)
/* Uncompressed strips whose values must be converted (or byte-swapped) on the way are read
 * through a buffer of at most this size. */
#define HR_IO_BUFFER_LIMIT ((gsize)4 << 20)
/* What libtiff may allocate in one piece for this file. */
#define HR_LIBTIFF_MAX_ALLOC ((tmsize_t)256 << 20)
/* Decoded data of compressed pages may be larger than the compressed bytes by at most this
 * factor (Deflate's limit is 1032:1, LZW's about 1365:1), unless the whole is small. */
#define HR_MAX_COMPRESSION_RATIO 2048u
#define HR_SMALL_DECODED_SIZE ((guint64)256 << 20)
/* The same limit holds for the file as a whole: pages that share one strip, or one strip
 * each of a few bytes, decode to at most HR_MAX_COMPRESSION_RATIO times the file's size (or
 * the small size above), whatever each page claims alone; and so does what is decoded in
 * one pass over the samples, however often a strip is decoded again. */

/* Compressed channel pages are read in chunks of whole strips while the rows of one strip
 * of every channel take at most this many bytes, so that no strip is decoded twice. */
#define HR_BAND_CHUNK_LIMIT ((gsize)256 << 20)
/* How deep JSON in an ImageDescription may nest (tifffile writes 2 levels). */
#define HR_DESCRIPTION_MAX_DEPTH 64

typedef struct
{
  guint32 width;
  guint32 height;
  guint16 spp;
  guint16 bits;
  guint16 sample_format_tag;
  guint16 planar;
  guint16 compression;
  guint16 photometric;
  guint16 fill_order;
  gboolean tiled;
  gboolean inflate_direct; /* deflate strips that libdeflate inflates from the file */
  guint32 tile_width;
  guint32 tile_height;
  guint32 rows_per_strip;
  guint64 compressed_bytes;
  guint64 decoded_bytes; /* width × height × spp × value size */
  guint64 dir_offset;    /* where the page's directory is, for TIFFSetSubDirectory() */
  HrSampleFormat format;
} HrPage;

typedef struct
{
  guint8 *data;
  gsize capacity;
  gboolean valid;
  tdir_t dir;
  int plane;
  guint32 index;
} HrBandSlot;

struct _HrTiffSource
{
  char *path;
  int fd;
  TIFF *tif;
  guint64 file_size;
  GString *messages; /* libtiff's errors (and warnings about the data) since the last take */
  TIFFOpenOptions *options;

  HrStackInfo *info;
  HrStackLayout layout;
  gsize n_samples;
  gsize n_features;

  guint n_pages;
  HrPage *pages;
  tdir_t current_dir;

  /* per-pixel geometry (layout channels) */
  guint channels, depth, frames;
  gboolean channels_in_samples;       /* C values per pixel (spp = C) rather than C pages */
  guint stride_c, stride_z, stride_t; /* page index of (c, z, t) */

  /* Decoded bands (a strip, or a row of tiles, of one page and plane): one for the whole
   * file, or one for each page where channel pages are read side by side
   * (hr_tiff_plan_band_cache()). */
  HrBandSlot *slots;
  guint n_slots;
  guint8 *tile_buffer;
  gsize tile_capacity;
  guint8 *row_buffer;
  gsize row_capacity;
  /* Raw values of uncompressed strips on their way to conversion. */
  guint8 *io_buffer;
  gsize io_capacity;
  /* Deflate strips as stored, and the decompressor that inflates them. */
  guint8 *deflated;
  gsize deflated_capacity;
  struct libdeflate_decompressor *inflater;

  /* Bytes libtiff decoded since the last read from sample 0, and how many it may. */
  guint64 decoded_this_pass;
  guint64 decode_budget;
};

static gboolean hr_page_has_raw_strips (const HrPage *page);
static gboolean hr_tiff_plan_band_cache (HrTiffSource *src);

/* -- libtiff messages -------------------------------------------------------------------- */

static int
hr_tiff_error_handler (TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap)
{
  HrTiffSource *src = user_data;

  if (src->messages->len > 0)
    g_string_append (src->messages, "; ");
  if (src->messages->len < 1024)
    g_string_append_vprintf (src->messages, fmt, ap);
  return 1; /* handled: libtiff must not call its process-wide handler */
}

/* Whether a libtiff warning is about something the values read depend on: the tags that
 * place, size and encode the data, or a strip or tile that a decoder had to trim or pad.
 * libtiff goes on after such a warning with a guess (a strip read from offset 0, a
 * StripByteCounts computed from the image size, bytes discarded from a run), and what it
 * reads then is not what the file holds. */
static gboolean
hr_tiff_warning_concerns_data (const char *module, const char *text)
{
  static const char *const data_tags[] = {
    "StripOffsets",        "StripByteCounts", "TileOffsets",     "TileByteCounts",
    "ImageWidth",          "ImageLength",     "RowsPerStrip",    "TileWidth",
    "TileLength",          "BitsPerSample",   "SamplesPerPixel", "SampleFormat",
    "PlanarConfiguration", "Compression",     "FillOrder",       "Predictor",
  };

  if (module != NULL
      && (strstr (module, "Decode") != NULL || strstr (module, "Strip") != NULL
          || strstr (module, "Tile") != NULL || strstr (module, "Scanline") != NULL))
    return TRUE;
  if (strstr (text, "Bogus") != NULL || strstr (text, "strip") != NULL
      || strstr (text, "Strip") != NULL || strstr (text, "tile") != NULL)
    return TRUE;
  /* libtiff names a tag it ignores, or whose type, count or value it corrects, as
   * "tag X", "\"X\"", "X field" or "X tag"; a passing mention ("… doesn't match
   * SamplesPerPixel") is about something else. */
  for (gsize i = 0; i < G_N_ELEMENTS (data_tags); i++)
    {
      const char *name = data_tags[i];
      g_autofree char *as_tag = g_strconcat ("tag ", name, NULL);
      g_autofree char *quoted = g_strconcat ("\"", name, "\"", NULL);
      g_autofree char *field = g_strconcat (name, " field", NULL);
      g_autofree char *tag_after = g_strconcat (name, " tag", NULL);

      if (strstr (text, as_tag) != NULL || strstr (text, quoted) != NULL
          || strstr (text, field) != NULL || strstr (text, tag_after) != NULL)
        return TRUE;
    }
  return FALSE;
}

static int
hr_tiff_warning_handler (TIFF *tif, void *user_data, const char *module, const char *fmt,
                         va_list ap)
{
  HrTiffSource *src = user_data;
  g_autofree char *text = g_strdup_vprintf (fmt, ap);

  if (hr_tiff_warning_concerns_data (module, text))
    {
      /* An error for this file: it is reported with the next failure, and every read checks
       * for it (hr_tiff_check_messages()). */
      if (src->messages->len > 0)
        g_string_append (src->messages, "; ");
      if (src->messages->len < 1024)
        g_string_append (src->messages, text);
      return 1;
    }
  g_debug ("%s: libtiff warning: %s", src->path, text);
  return 1;
}

/* Sets @error in our domain, naming the file and adding what libtiff said. */
G_GNUC_PRINTF (4, 5)
static void
hr_tiff_set_error (HrTiffSource *src, GError **error, HrStackError code, const char *format, ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);

  if (src->messages->len > 0)
    {
      /* TRANSLATORS: "%s: %s (libtiff: %s)": file name, problem, libtiff's own message */
      g_set_error (error, HR_STACK_ERROR, code, _ ("%s: %s (libtiff: %s)"), src->path, what,
                   src->messages->str);
      g_string_truncate (src->messages, 0);
    }
  else
    g_set_error (error, HR_STACK_ERROR, code, "%s: %s", src->path, what);
}

/* After a libtiff call that succeeded: whether libtiff said anything about the data on the
 * way (a warning about a strip it trimmed, a tag it ignored), which makes the call's result
 * unreliable. */
static gboolean
hr_tiff_check_messages (HrTiffSource *src, GError **error, const char *what, guint number,
                        guint page)
{
  if (src->messages->len == 0)
    return TRUE;
  /* TRANSLATORS: "%s %u of page %u": "strip", "tile" or "row" (translated separately), its
   * number and the page; libtiff's words follow in parentheses */
  hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("%s %u of page %u is damaged"), what,
                     number, page);
  return FALSE;
}

/* -- opening ----------------------------------------------------------------------------- */

void
hr_tiff_source_free (HrTiffSource *src)
{
  if (src == NULL)
    return;
  if (src->tif != NULL)
    TIFFClose (src->tif); /* closes fd */
  else if (src->fd >= 0)
    close (src->fd);
  if (src->options != NULL)
    TIFFOpenOptionsFree (src->options);
  g_clear_pointer (&src->info, hr_stack_info_unref);
  g_string_free (src->messages, TRUE);
  g_free (src->pages);
  for (guint i = 0; i < src->n_slots; i++)
    g_free (src->slots[i].data);
  g_free (src->slots);
  g_free (src->tile_buffer);
  g_free (src->row_buffer);
  g_free (src->io_buffer);
  g_free (src->deflated);
  if (src->inflater != NULL)
    libdeflate_free_decompressor (src->inflater);
  g_free (src->path);
  g_free (src);
}

/* Deflate strips and tiles are inflated by zlib, not by libdeflate: libtiff hands a whole
 * strip or tile to libdeflate, accepts LIBDEFLATE_INSUFFICIENT_SPACE (data that inflate to
 * more than the strip's rows, which libtiff lets pass for short last strips) as success, and
 * then leaves the end of the output buffer unwritten, so that what was in it before (another
 * plane's or page's strip) came out as values. zlib stops at the strip's size with every byte
 * of it written, the strip's first rows as every reader takes them. Set again for each page,
 * whose codec state libtiff makes anew. */
static gboolean
hr_tiff_use_zlib (HrTiffSource *src, const HrPage *page)
{
  if (page->compression != COMPRESSION_ADOBE_DEFLATE && page->compression != COMPRESSION_DEFLATE)
    return TRUE;
  return TIFFSetField (src->tif, TIFFTAG_DEFLATE_SUBCODEC, DEFLATE_SUBCODEC_ZLIB) == 1;
}

static gboolean
hr_tiff_select_page (HrTiffSource *src, tdir_t dir, GError **error)
{
  if (src->current_dir == dir)
    return TRUE;
  /* By the directory's offset, recorded when the file was opened: TIFFSetDirectory() walks
   * the chain from the first page, which makes reading N pages take N² steps. */
  if (!TIFFSetSubDirectory (src->tif, src->pages[dir].dir_offset) || src->messages->len > 0
      || !hr_tiff_use_zlib (src, &src->pages[dir]))
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("cannot read page %u"),
                         (guint)dir + 1);
      src->current_dir = (tdir_t)-1;
      return FALSE;
    }
  src->current_dir = dir;
  return TRUE;
}

static const char *
hr_compression_name (guint16 compression)
{
  switch (compression)
    {
      case COMPRESSION_NONE:
        return "none";
      case COMPRESSION_LZW:
        return "lzw";
      case COMPRESSION_ADOBE_DEFLATE:
      case COMPRESSION_DEFLATE:
        return "deflate";
      case COMPRESSION_PACKBITS:
        return "packbits";
      case COMPRESSION_ZSTD:
        return "zstd";
      case COMPRESSION_LZMA:
        return "lzma";
      case COMPRESSION_JPEG:
        return "jpeg";
      case COMPRESSION_WEBP:
        return "webp";
      default:
        {
          const TIFFCodec *codec = TIFFFindCODEC (compression);
          return codec != NULL ? codec->name : "unknown";
        }
    }
}

static gsize
hr_sample_format_size (HrSampleFormat format)
{
  switch (format)
    {
      case HR_SAMPLE_FORMAT_UINT8:
      case HR_SAMPLE_FORMAT_INT8:
        return 1;
      case HR_SAMPLE_FORMAT_UINT16:
      case HR_SAMPLE_FORMAT_INT16:
      case HR_SAMPLE_FORMAT_FLOAT16:
        return 2;
      case HR_SAMPLE_FORMAT_UINT32:
      case HR_SAMPLE_FORMAT_INT32:
      case HR_SAMPLE_FORMAT_FLOAT32:
        return 4;
      case HR_SAMPLE_FORMAT_FLOAT64:
        return 8;
      default:
        g_assert_not_reached ();
    }
}

/* Whether libtiff undoes a predictor for this compression: its LZW, deflate, LZMA and
 * Zstandard codecs do (TIFFPredictorInit()); for the others the Predictor tag is not
 * theirs, libtiff ignores it and hands over the differences as values. */
static gboolean
hr_tiff_codec_applies_predictor (guint16 compression)
{
  return compression == COMPRESSION_LZW || compression == COMPRESSION_ADOBE_DEFLATE
         || compression == COMPRESSION_DEFLATE || compression == COMPRESSION_LZMA
         || compression == COMPRESSION_ZSTD;
}

static gboolean hr_tiff_pread (HrTiffSource *src, tdir_t dir, guint8 *buffer, gsize size,
                               guint64 offset, GError **error);
static guint64 hr_read_uint (const guint8 *p, guint size, gboolean big_endian);

/* The Predictor of page @index, whose directory is at @dir_offset, read from the directory's
 * entries in the file: libtiff drops the tag where the page's codec does not use it. 1
 * (none) when the directory has no such entry; 0 when it has one of another form than one
 * SHORT (not a predictor libtiff knows). */
static gboolean
hr_tiff_file_predictor (HrTiffSource *src, guint index, guint64 dir_offset, guint16 *predictor,
                        GError **error)
{
  gboolean big_endian = TIFFIsBigEndian (src->tif), bigtiff = TIFFIsBigTIFF (src->tif);
  gsize entry_size = bigtiff ? 20 : 12, count_size = bigtiff ? 8 : 2;
  guint8 count[8];
  g_autofree guint8 *entries = NULL;
  guint64 n;

  *predictor = PREDICTOR_NONE;
  if (dir_offset > src->file_size || count_size > src->file_size - dir_offset)
    return TRUE; /* not where libtiff read it: nothing to add */
  if (!hr_tiff_pread (src, index, count, count_size, dir_offset, error))
    return FALSE;
  n = hr_read_uint (count, count_size, big_endian);
  /* libtiff has read this directory: it lies inside the file */
  if (n == 0 || n > 65535 || n * entry_size > src->file_size - dir_offset - count_size)
    return TRUE;
  entries = g_malloc (n * entry_size);
  if (!hr_tiff_pread (src, index, entries, n * entry_size, dir_offset + count_size, error))
    return FALSE;
  for (guint64 i = 0; i < n; i++)
    {
      const guint8 *e = entries + i * entry_size;

      if (hr_read_uint (e, 2, big_endian) != TIFFTAG_PREDICTOR)
        continue;
      *predictor = hr_read_uint (e + 2, 2, big_endian) == TIFF_SHORT
                           && hr_read_uint (e + 4, bigtiff ? 8 : 4, big_endian) == 1
                       ? (guint16)hr_read_uint (e + (bigtiff ? 12 : 8), 2, big_endian)
                       : 0;
      break;
    }
  return TRUE;
}

/* Reads the current directory's description into @page and checks that headrank can read
 * it and that every strip or tile lies inside the file. */
static gboolean
hr_tiff_describe_page (HrTiffSource *src, guint index, HrPage *page, GError **error)
{
  TIFF *tif = src->tif;
  guint64 *offsets = NULL, *counts = NULL;
  guint32 n_striles;
  guint64 strile_bytes;

  memset (page, 0, sizeof *page);
  page->dir_offset = TIFFCurrentDirOffset (tif);
  if (!TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &page->width)
      || !TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &page->height) || page->width == 0
      || page->height == 0)
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("page %u has no image size"),
                         index + 1);
      return FALSE;
    }
  TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLESPERPIXEL, &page->spp);
  TIFFGetFieldDefaulted (tif, TIFFTAG_BITSPERSAMPLE, &page->bits);
  TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLEFORMAT, &page->sample_format_tag);
  TIFFGetFieldDefaulted (tif, TIFFTAG_PLANARCONFIG, &page->planar);
  TIFFGetFieldDefaulted (tif, TIFFTAG_COMPRESSION, &page->compression);
  TIFFGetFieldDefaulted (tif, TIFFTAG_FILLORDER, &page->fill_order);
  if (!TIFFGetField (tif, TIFFTAG_PHOTOMETRIC, &page->photometric))
    page->photometric = PHOTOMETRIC_MINISBLACK;
  if ((page->compression == COMPRESSION_ADOBE_DEFLATE || page->compression == COMPRESSION_DEFLATE)
      && !TIFFIsTiled (tif) && page->fill_order == FILLORDER_MSB2LSB
      && (!TIFFIsByteSwapped (tif) || page->bits <= 8))
    {
      guint16 predictor = PREDICTOR_NONE;

      /* a tag of the deflate codec: asked only of deflate pages */
      TIFFGetFieldDefaulted (tif, TIFFTAG_PREDICTOR, &predictor);
      page->inflate_direct = predictor == PREDICTOR_NONE;
    }

  if (page->spp == 0)
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT,
                         _ ("page %u has zero samples per pixel"), index + 1);
      return FALSE;
    }

  switch (page->sample_format_tag)
    {
      case SAMPLEFORMAT_UINT:
        page->format = page->bits == 8    ? HR_SAMPLE_FORMAT_UINT8
                       : page->bits == 16 ? HR_SAMPLE_FORMAT_UINT16
                       : page->bits == 32 ? HR_SAMPLE_FORMAT_UINT32
                                          : (HrSampleFormat)-1;
        break;
      case SAMPLEFORMAT_INT:
        page->format = page->bits == 8    ? HR_SAMPLE_FORMAT_INT8
                       : page->bits == 16 ? HR_SAMPLE_FORMAT_INT16
                       : page->bits == 32 ? HR_SAMPLE_FORMAT_INT32
                                          : (HrSampleFormat)-1;
        break;
      case SAMPLEFORMAT_IEEEFP:
        page->format = page->bits == 16   ? HR_SAMPLE_FORMAT_FLOAT16
                       : page->bits == 32 ? HR_SAMPLE_FORMAT_FLOAT32
                       : page->bits == 64 ? HR_SAMPLE_FORMAT_FLOAT64
                                          : (HrSampleFormat)-1;
        break;
      case SAMPLEFORMAT_COMPLEXINT:
      case SAMPLEFORMAT_COMPLEXIEEEFP:
        hr_tiff_set_error (src, error, HR_STACK_ERROR_UNSUPPORTED,
                           _ ("page %u holds complex numbers, which are not features"), index + 1);
        return FALSE;
      default:
        page->format = (HrSampleFormat)-1;
        break;
    }
  if ((int)page->format < 0)
    {
      const char *kind = page->sample_format_tag == SAMPLEFORMAT_INT      ? "int"
                         : page->sample_format_tag == SAMPLEFORMAT_IEEEFP ? "float"
                         : page->sample_format_tag == SAMPLEFORMAT_UINT   ? "uint"
                                                                          : "void";
      hr_tiff_set_error (src, error, HR_STACK_ERROR_UNSUPPORTED,
                         _ ("page %u has %u-bit %s samples; headrank reads 8-, 16- and 32-bit "
                            "integers and 16-, 32- and 64-bit floats"),
                         index + 1, (guint)page->bits, kind);
      return FALSE;
    }

  if (page->photometric == PHOTOMETRIC_YCBCR || page->photometric == PHOTOMETRIC_LOGL
      || page->photometric == PHOTOMETRIC_LOGLUV || page->photometric == PHOTOMETRIC_CIELAB
      || page->photometric == PHOTOMETRIC_ICCLAB || page->photometric == PHOTOMETRIC_ITULAB)
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_UNSUPPORTED,
                         _ ("page %u has a colour encoding (photometric %u) that is not raw "
                            "feature values"),
                         index + 1, (guint)page->photometric);
      return FALSE;
    }
  if (!TIFFIsCODECConfigured (page->compression))
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_UNSUPPORTED,
                         _ ("page %u uses compression %u, which this libtiff cannot decode"),
                         index + 1, (guint)page->compression);
      return FALSE;
    }
  if (!hr_tiff_codec_applies_predictor (page->compression))
    {
      guint16 predictor;

      if (!hr_tiff_file_predictor (src, index, page->dir_offset, &predictor, error))
        return FALSE;
      if (predictor != PREDICTOR_NONE)
        {
          if (page->compression == COMPRESSION_NONE)
            hr_tiff_set_error (src, error, HR_STACK_ERROR_UNSUPPORTED,
                               _ ("page %u is uncompressed but has predictor %u, which libtiff "
                                  "ignores"),
                               index + 1, (guint)predictor);
          else
            hr_tiff_set_error (
                src, error, HR_STACK_ERROR_UNSUPPORTED,
                /* TRANSLATORS: %s is a compression's name (packbits, LERC) */
                _ ("page %u has predictor %u with %s compression, which libtiff decodes "
                   "without undoing the predictor"),
                index + 1, (guint)predictor, hr_compression_name (page->compression));
          return FALSE;
        }
    }
  {
    guint32 depth = 1;

    /* SGI's ImageDepth (tifffile's volumetric=True): libtiff reads only the first slice */
    if (TIFFGetField (tif, TIFFTAG_IMAGEDEPTH, &depth) && depth > 1)
      {
        hr_tiff_set_error (src, error, HR_STACK_ERROR_UNSUPPORTED,
                           _ ("page %u is a volume of %u slices (ImageDepth), which headrank "
                              "does not read: write one page per slice"),
                           index + 1, (guint)depth);
        return FALSE;
      }
  }

  /* A page can hold at most what its file could decode to: a lying header stops here,
   * before libtiff or headrank allocates anything for it. */
  {
    double decoded
        = (double)page->width * page->height * page->spp * hr_sample_format_size (page->format);

    page->decoded_bytes = decoded < 0x1p63 ? (guint64)decoded : G_MAXUINT64;

    if (decoded > (double)HR_SMALL_DECODED_SIZE
        && decoded > (double)src->file_size * HR_MAX_COMPRESSION_RATIO)
      {
        hr_tiff_set_error (
            src, error, HR_STACK_ERROR_TOO_LARGE,
            _ ("page %u claims %u × %u × %u values, more than a file of %llu bytes can hold"),
            index + 1, page->width, page->height, (guint)page->spp,
            (unsigned long long)src->file_size);
        return FALSE;
      }
  }

  page->tiled = TIFFIsTiled (tif);
  if (page->tiled)
    {
      if (!TIFFGetField (tif, TIFFTAG_TILEWIDTH, &page->tile_width)
          || !TIFFGetField (tif, TIFFTAG_TILELENGTH, &page->tile_height) || page->tile_width == 0
          || page->tile_height == 0)
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT,
                             _ ("page %u is tiled but has no tile size"), index + 1);
          return FALSE;
        }
      n_striles = TIFFNumberOfTiles (tif);
      strile_bytes = (guint64)TIFFTileSize64 (tif);
      /* Tiles may be larger than the image, but a tile is decoded whole: refuse tiles
       * beyond any real writer's, before a buffer is allocated for one. */
      if (strile_bytes > HR_BAND_LIMIT)
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_TOO_LARGE,
                             _ ("page %u has tiles of %u × %u pixels, too large to decode"),
                             index + 1, page->tile_width, page->tile_height);
          return FALSE;
        }
    }
  else
    {
      TIFFGetFieldDefaulted (tif, TIFFTAG_ROWSPERSTRIP, &page->rows_per_strip);
      if (page->rows_per_strip == 0 || page->rows_per_strip > page->height)
        page->rows_per_strip = page->height;
      n_striles = TIFFNumberOfStrips (tif);
      strile_bytes = (guint64)TIFFStripSize64 (tif);
    }
  if (n_striles == 0 || strile_bytes == 0)
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("page %u has no strips or tiles"),
                         index + 1);
      return FALSE;
    }

  /* Every strip or tile must lie inside the file, and an uncompressed one must hold all
   * its bytes: a lying header is caught here, before anything is allocated for it. */
  if (!TIFFGetField (tif, page->tiled ? TIFFTAG_TILEOFFSETS : TIFFTAG_STRIPOFFSETS, &offsets)
      || !TIFFGetField (tif, page->tiled ? TIFFTAG_TILEBYTECOUNTS : TIFFTAG_STRIPBYTECOUNTS,
                        &counts)
      || offsets == NULL || counts == NULL)
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT,
                         _ ("page %u has no strip or tile offsets"), index + 1);
      return FALSE;
    }
  for (guint32 i = 0; i < n_striles; i++)
    {
      if (offsets[i] > src->file_size || counts[i] > src->file_size - offsets[i])
        {
          hr_tiff_set_error (
              src, error, HR_STACK_ERROR_TRUNCATED,
              _ ("page %u: %s %u lies past the end of the file (offset %llu, %llu bytes, file size "
                 "%llu)"),
              /* TRANSLATORS: "tile" or "strip" fill the %s of "page %u: %s %u lies past …" */
              index + 1, page->tiled ? _ ("tile") : _ ("strip"), i, (unsigned long long)offsets[i],
              (unsigned long long)counts[i], (unsigned long long)src->file_size);
          return FALSE;
        }
      /* offset 0 marks a missing strip or tile, as a byte count of 0 does; below 8 (16 in
       * a BigTIFF) it would be the file's header read as data */
      if (offsets[i] < (TIFFIsBigTIFF (tif) ? 16u : 8u))
        {
          hr_tiff_set_error (
              src, error, HR_STACK_ERROR_CORRUPT,
              _ ("page %u: %s %u starts at offset %llu, inside the file's header: the "
                 "file is damaged"),
              index + 1, page->tiled ? _ ("tile") : _ ("strip"), i, (unsigned long long)offsets[i]);
          return FALSE;
        }
      if (counts[i] == 0)
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_TRUNCATED, _ ("page %u: %s %u has no data"),
                             index + 1, page->tiled ? _ ("tile") : _ ("strip"), i);
          return FALSE;
        }
      page->compressed_bytes += counts[i];
    }
  if (page->compression != COMPRESSION_NONE)
    {
      guint64 decoded
          = (guint64)page->width * page->height * page->spp * hr_sample_format_size (page->format);

      if (decoded > HR_SMALL_DECODED_SIZE
          && decoded / HR_MAX_COMPRESSION_RATIO > page->compressed_bytes)
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_TOO_LARGE,
                             _ ("page %u claims %llu bytes of data from %llu compressed bytes"),
                             index + 1, (unsigned long long)decoded,
                             (unsigned long long)page->compressed_bytes);
          return FALSE;
        }
    }
  if (page->compression == COMPRESSION_NONE)
    {
      /* An uncompressed strip holds rows × scanline bytes, the last strip may be shorter. */
      guint64 row_bytes = (guint64)TIFFScanlineSize64 (tif);
      guint64 expected_total;

      if (page->tiled)
        expected_total = strile_bytes * n_striles;
      else
        {
          guint64 planes = page->planar == PLANARCONFIG_SEPARATE ? page->spp : 1;
          expected_total = row_bytes * page->height * planes;
        }
      if (page->compressed_bytes < expected_total)
        {
          hr_tiff_set_error (
              src, error, HR_STACK_ERROR_TRUNCATED,
              _ ("page %u: the file holds %llu of its %llu bytes of uncompressed data"), index + 1,
              (unsigned long long)page->compressed_bytes, (unsigned long long)expected_total);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
hr_page_same_shape (const HrPage *a, const HrPage *b)
{
  return a->width == b->width && a->height == b->height && a->spp == b->spp;
}

/* -- metadata ---------------------------------------------------------------------------- */

typedef struct
{
  const char *kind; /* "imagej", "ome", "tifffile", "none" */
  /* Sizes as the metadata give them, up to G_MAXUINT64 (a number too large to read is
   * G_MAXUINT64): they are held against the pages present before anything uses them. */
  guint64 channels, depth, frames;
  guint64 stride_c, stride_z, stride_t;
  gboolean known;          /* axes were given */
  gboolean channels_named; /* the metadata state the channel count (ImageJ "channels=") */
  gboolean has_other_axes;
} HrAxes;

/* A decimal count after @p: G_MAXUINT64 if it does not fit, 0 if there is none. */
static guint64
hr_parse_count (const char *p)
{
  guint64 value;
  char *end;

  if (!g_ascii_isdigit (*p))
    return 0;
  errno = 0;
  value = g_ascii_strtoull (p, &end, 10);
  return errno == ERANGE ? G_MAXUINT64 : value;
}

static guint64
hr_parse_imagej_value (const char *description, const char *key)
{
  g_autofree char *needle = g_strconcat ("\n", key, "=", NULL);
  const char *p = strstr (description, needle);

  return p == NULL ? 0 : hr_parse_count (p + strlen (needle));
}

static guint64
hr_parse_xml_attribute (const char *element, const char *name)
{
  g_autofree char *needle = g_strconcat (" ", name, "=\"", NULL);
  const char *p = strstr (element, needle);

  return p == NULL ? 0 : hr_parse_count (p + strlen (needle));
}

/* channels × depth × frames, or FALSE if it overflows. */
static gboolean
hr_axes_product (const HrAxes *axes, guint64 *product)
{
  return g_uint64_checked_mul (product, axes->channels, axes->depth)
         && g_uint64_checked_mul (product, *product, axes->frames);
}

/* Page strides for the C, Z and T axes in the order the pages are stored, fastest first.
 * They are used only once the product of the sizes has been found equal to the number of
 * pages; until then they saturate instead of wrapping. */
static void
hr_axes_set_order (HrAxes *axes, const char *fastest_first)
{
  guint64 stride = 1;

  for (const char *p = fastest_first; *p != '\0'; p++)
    {
      guint64 size = 1;

      switch (*p)
        {
          case 'C':
            axes->stride_c = stride;
            size = axes->channels;
            break;
          case 'Z':
            axes->stride_z = stride;
            size = axes->depth;
            break;
          case 'T':
            axes->stride_t = stride;
            size = axes->frames;
            break;
          default:
            break;
        }
      if (!g_uint64_checked_mul (&stride, stride, size))
        stride = G_MAXUINT64;
    }
}

/* A JSON member that is a positive integer. */
static gboolean
hr_json_get_size (JsonNode *node, guint64 *value)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64 || json_node_get_int (node) <= 0)
    return FALSE;
  *value = (guint64)json_node_get_int (node);
  return TRUE;
}

/* tifffile's JSON description, {"shape": [...], "axes": "..."}. Text that is not such JSON
 * (not JSON, nested too deep, or members of other types) is no metadata, as for tifffile;
 * nothing of it reaches json-glib's accessors with the wrong type. */
static void
hr_parse_tifffile_json (const char *description, HrAxes *axes)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonNode *root, *member;
  JsonObject *object;
  JsonArray *shape;
  const char *axes_string;
  gsize n_axes;
  gboolean too_deep;
  g_autofree char *leading_fastest_first = NULL;
  GString *order;

  if (hr_json_prescan (description, strlen (description), HR_DESCRIPTION_MAX_DEPTH, &too_deep) >= 0)
    return;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, description, -1, NULL))
    return;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  object = json_node_get_object (root);
  member = json_object_get_member (object, "shape");
  if (member == NULL)
    return;
  axes->kind = "tifffile";
  if (!JSON_NODE_HOLDS_ARRAY (member))
    return;
  shape = json_node_get_array (member);
  member = json_object_get_member (object, "axes");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member)
      || json_node_get_value_type (member) != G_TYPE_STRING)
    return;
  axes_string = json_node_get_string (member);
  n_axes = strlen (axes_string);
  if (n_axes != json_array_get_length (shape))
    return;

  /* Axes before Y and X number the pages, the last of them fastest. 'S' (samples) lives
   * inside a page. */
  order = g_string_new (NULL);
  for (gsize i = 0; i < n_axes; i++)
    {
      char axis = axes_string[i];
      guint64 size;

      if (!hr_json_get_size (json_array_get_element (shape, (guint)i), &size))
        {
          g_string_free (order, TRUE);
          return;
        }
      switch (axis)
        {
          case 'C':
          case 'Z':
          case 'T':
            if (strchr (order->str, axis) != NULL)
              {
                /* an axis twice: not a shape headrank can map onto pages */
                axes->has_other_axes = TRUE;
                break;
              }
            if (axis == 'C')
              axes->channels = size;
            else if (axis == 'Z')
              axes->depth = size;
            else
              axes->frames = size;
            g_string_prepend_c (order, axis);
            break;
          case 'Y':
          case 'X':
          case 'S':
            break;
          default:
            if (size > 1)
              axes->has_other_axes = TRUE;
            break;
        }
    }
  leading_fastest_first = g_string_free (order, FALSE);
  hr_axes_set_order (axes, leading_fastest_first);
  axes->known = TRUE;
}

/* Reads the axes that the first page's description gives. Fails only on metadata that say
 * something headrank would otherwise have to guess about. */
static gboolean
hr_parse_axes (HrTiffSource *src, const char *description, HrAxes *axes, GError **error)
{
  memset (axes, 0, sizeof *axes);
  axes->kind = "none";
  axes->channels = axes->depth = axes->frames = 1;
  axes->stride_c = 1;

  if (description == NULL)
    return TRUE;

  if (g_str_has_prefix (description, "ImageJ="))
    {
      axes->kind = "imagej";
      axes->channels_named = strstr (description, "\nchannels=") != NULL;
      axes->channels = MAX (1u, hr_parse_imagej_value (description, "channels"));
      axes->depth = MAX (1u, hr_parse_imagej_value (description, "slices"));
      axes->frames = MAX (1u, hr_parse_imagej_value (description, "frames"));
      /* ImageJ without channels/slices/frames but with images=N: a plain stack, which
       * ImageJ treats as slices. */
      if (axes->channels == 1 && axes->depth == 1 && axes->frames == 1)
        axes->depth = MAX (1u, hr_parse_imagej_value (description, "images"));
      hr_axes_set_order (axes, "CZT");
      axes->known = TRUE;
    }
  else if (strstr (description, "<OME") != NULL)
    {
      const char *pixels = strstr (description, "<Pixels ");
      const char *order_attr;
      char order[4] = "CZT";

      axes->kind = "ome";
      if (pixels == NULL)
        return TRUE;
      axes->channels = MAX (1u, hr_parse_xml_attribute (pixels, "SizeC"));
      axes->depth = MAX (1u, hr_parse_xml_attribute (pixels, "SizeZ"));
      axes->frames = MAX (1u, hr_parse_xml_attribute (pixels, "SizeT"));
      order_attr = strstr (pixels, " DimensionOrder=\"");
      if (order_attr != NULL)
        {
          const char *value = order_attr + strlen (" DimensionOrder=\"");
          gsize length = strcspn (value, "\"");

          /* XY and then C, Z and T, each once, and the closing quote: all of it is read
           * only after its length is known (the text may end anywhere). */
          g_autofree char *shown = g_utf8_make_valid (value, (gssize)MIN (length, 16));

          if (length != 5 || value[5] != '"' || strncmp (value, "XY", 2) != 0
              || strchr ("CZT", value[2]) == NULL || strchr ("CZT", value[3]) == NULL
              || strchr ("CZT", value[4]) == NULL || value[2] == value[3] || value[2] == value[4]
              || value[3] == value[4])
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT,
                           _ ("%s: the OME metadata give the dimension order “%s”, which is "
                              "not XY followed by C, Z and T"),
                           src->path, shown);
              return FALSE;
            }
          memcpy (order, value + 2, 3);
        }
      hr_axes_set_order (axes, order);
      axes->known = TRUE;
    }
  else if (description[0] == '{')
    hr_parse_tifffile_json (description, axes);
  return TRUE;
}

/* -- layout ------------------------------------------------------------------------------ */

static void
hr_tiff_set_layout_error (HrTiffSource *src, GError **error, const char *why)
{
  /* TRANSLATORS: the first %s is a file name, the second the reason; the layout names
   * and the option --layout stay in English. */
  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
               _ ("%s: cannot tell how the file holds its features (%s); choose a layout: "
                  "matrix, channels or pages (--layout)"),
               src->path, why);
}

/* The metadata's channels, slices and frames are not the file's pages. */
static void
hr_tiff_set_axes_error (HrTiffSource *src, const HrAxes *axes, GError **error)
{
  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT,
               _ ("%s: the metadata describe %llu channels × %llu slices × %llu frames, but the "
                  "file has %u pages"),
               src->path, (unsigned long long)axes->channels, (unsigned long long)axes->depth,
               (unsigned long long)axes->frames, src->n_pages);
}

static gboolean
hr_tiff_decide_layout (HrTiffSource *src, HrStackLayout requested, const HrAxes *axes,
                       GError **error)
{
  const HrPage *first = &src->pages[0];
  HrStackLayout layout = requested;
  guint64 axes_pages = 0, axes_planes = 0;
  /* Whether the metadata's C × Z × T (or Z × T) pages are the pages present; products
   * that overflow are not. */
  gboolean axes_overflow = !hr_axes_product (axes, &axes_pages);
  gboolean axes_fit = !axes_overflow && axes_pages == src->n_pages;
  gboolean planes_fit = g_uint64_checked_mul (&axes_planes, axes->depth, axes->frames)
                        && axes_planes == src->n_pages;

  if (layout == HR_STACK_LAYOUT_AUTO)
    {
      /* An ImageJ hyperstack that names its channels is per-pixel even with one channel
       * (as headrank writes one); a plain ImageJ image has no "channels=". */
      if (axes->channels_named && !axes->has_other_axes && first->spp == 1 && axes_fit)
        layout = HR_STACK_LAYOUT_CHANNELS;
      else if (src->n_pages == 1 && axes->known
               && (first->spp == 1 ? !axes_fit : !planes_fit && axes_planes > 1))
        {
          /* metadata of several planes over one page: an ImageJ stack written after one IFD,
           * whose other planes no page describes */
          hr_tiff_set_axes_error (src, axes, error);
          return FALSE;
        }
      else if (src->n_pages == 1)
        layout = first->spp == 1 ? HR_STACK_LAYOUT_MATRIX : HR_STACK_LAYOUT_CHANNELS;
      else if (axes->known && !axes->has_other_axes && (axes->channels > 1 || first->spp > 1))
        layout = HR_STACK_LAYOUT_CHANNELS;
      else if (first->height == 1 && first->spp == 1)
        layout = HR_STACK_LAYOUT_PAGES;
      else
        {
          g_autofree char *why
              = g_strdup_printf (_ ("%u pages of %u × %u, and no metadata names a channel axis"),
                                 src->n_pages, first->width, first->height);
          hr_tiff_set_layout_error (src, error, why);
          return FALSE;
        }
    }

  src->layout = layout;
  switch (layout)
    {
      case HR_STACK_LAYOUT_MATRIX:
        if (src->n_pages != 1)
          {
            g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                         _ ("%s: the matrix layout reads one page, the file has %u"), src->path,
                         src->n_pages);
            return FALSE;
          }
        if (first->spp != 1)
          {
            g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                         _ ("%s: the matrix layout needs one value per pixel, the file has %u "
                            "(try the channels layout)"),
                         src->path, (guint)first->spp);
            return FALSE;
          }
        src->n_samples = first->height;
        src->n_features = first->width;
        break;

      case HR_STACK_LAYOUT_PAGES:
        src->n_samples = src->n_pages;
        if (!g_size_checked_mul (&src->n_features, (gsize)first->width * first->height, first->spp))
          {
            g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                         _ ("%s: pages are too large"), src->path);
            return FALSE;
          }
        break;

      case HR_STACK_LAYOUT_CHANNELS:
        {
          guint planes;
          gsize plane_pixels = (gsize)first->width * first->height;

          if (first->spp > 1)
            {
              /* C values per pixel; pages are Z slices and T frames. */
              src->channels_in_samples = TRUE;
              src->channels = first->spp;
              /* Pages are the Z slices (fastest) and T frames. */
              if (axes->known && planes_fit)
                {
                  src->depth = (guint)axes->depth;
                  src->frames = (guint)axes->frames;
                }
              else
                {
                  src->depth = src->n_pages;
                  src->frames = 1;
                }
              src->stride_z = 1;
              src->stride_t = src->depth;
              src->stride_c = 0;
            }
          else
            {
              if (axes->known && !axes->has_other_axes && axes_fit)
                {
                  /* all at most the number of pages, which is a tdir_t */
                  src->channels = (guint)axes->channels;
                  src->depth = (guint)axes->depth;
                  src->frames = (guint)axes->frames;
                  src->stride_c = (guint)axes->stride_c;
                  src->stride_z = (guint)axes->stride_z;
                  src->stride_t = (guint)axes->stride_t;
                }
              else if (axes->known && (axes->channels > 1 || axes_overflow || axes_pages != 1))
                {
                  hr_tiff_set_axes_error (src, axes, error);
                  return FALSE;
                }
              else
                {
                  /* No usable axes: every page is one feature channel. */
                  src->channels = src->n_pages;
                  src->depth = src->frames = 1;
                  src->stride_c = 1;
                  src->stride_z = src->stride_t = src->n_pages;
                }
            }
          planes = src->depth * src->frames;
          if (!g_size_checked_mul (&src->n_samples, plane_pixels, planes))
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                           _ ("%s: the image is too large"), src->path);
              return FALSE;
            }
          src->n_features = src->channels;
        }
        break;

      case HR_STACK_LAYOUT_AUTO:
      default:
        g_assert_not_reached ();
    }

  /* Every page that is read must agree with the first. */
  if (layout != HR_STACK_LAYOUT_MATRIX)
    {
      for (guint i = 1; i < src->n_pages; i++)
        {
          const HrPage *page = &src->pages[i];

          if (!hr_page_same_shape (page, first))
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT,
                           _ ("%s: page %u is %u × %u × %u but page 1 is %u × %u × %u"), src->path,
                           i + 1, page->width, page->height, (guint)page->spp, first->width,
                           first->height, (guint)first->spp);
              return FALSE;
            }
          if (page->format != first->format)
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT,
                           _ ("%s: page %u holds %s values but page 1 holds %s"), src->path, i + 1,
                           hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, page->format),
                           hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, first->format));
              return FALSE;
            }
          if (page->spp > 1
              && (page->planar == PLANARCONFIG_SEPARATE)
                     != (first->planar == PLANARCONFIG_SEPARATE))
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT,
                           page->planar == PLANARCONFIG_SEPARATE
                               ? _ ("%s: page %u stores its samples in separate planes but page 1 "
                                    "stores them interleaved (PlanarConfiguration)")
                               : _ ("%s: page %u stores its samples interleaved but page 1 stores "
                                    "them in separate planes (PlanarConfiguration)"),
                           src->path, i + 1);
              return FALSE;
            }
        }
    }
  if (src->n_samples == 0 || src->n_features == 0)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT, _ ("%s: the stack is empty"),
                   src->path);
      return FALSE;
    }
  return TRUE;
}

static guint64
hr_read_uint (const guint8 *p, guint size, gboolean big_endian)
{
  guint64 v = 0;

  for (guint i = 0; i < size; i++)
    v |= (guint64)p[big_endian ? size - 1 - i : i] << (8 * i);
  return v;
}

/* Checks the header and the first directory's extent ourselves, so that a file that is
 * not TIFF, or is cut inside its first directory, gets the right error code. */
static gboolean
hr_tiff_check_header (const char *path, int fd, guint64 file_size, GError **error)
{
  guint8 head[16], count[8];
  gboolean big_endian, bigtiff;
  guint64 offset, entries, ifd_bytes;
  ssize_t got;

  do
    got = pread (fd, head, sizeof head, 0);
  while (got < 0 && errno == EINTR);
  if (got < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (got < 4
      || !((head[0] == 'I' && head[1] == 'I' && (head[2] == 42 || head[2] == 43) && head[3] == 0)
           || (head[0] == 'M' && head[1] == 'M' && head[2] == 0
               && (head[3] == 42 || head[3] == 43))))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NOT_TIFF,
                   got == 0 ? _ ("%s: the file is empty") : _ ("%s: not a TIFF file"), path);
      return FALSE;
    }
  big_endian = head[0] == 'M';
  bigtiff = hr_read_uint (head + 2, 2, big_endian) == 43;
  if (got < (bigtiff ? 16 : 8))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TRUNCATED,
                   _ ("%s: the file ends inside its header"), path);
      return FALSE;
    }
  offset
      = bigtiff ? hr_read_uint (head + 8, 8, big_endian) : hr_read_uint (head + 4, 4, big_endian);
  if (offset < (bigtiff ? 16u : 8u) || offset > file_size - (bigtiff ? 8 : 2))
    {
      g_set_error (
          error, HR_STACK_ERROR,
          offset < file_size ? HR_STACK_ERROR_CORRUPT : HR_STACK_ERROR_TRUNCATED,
          _ ("%s: the first directory lies outside the file (offset %llu, file size %llu)"), path,
          (unsigned long long)offset, (unsigned long long)file_size);
      return FALSE;
    }
  do
    got = pread (fd, count, bigtiff ? 8 : 2, (off_t)offset);
  while (got < 0 && errno == EINTR);
  if (got != (bigtiff ? 8 : 2))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TRUNCATED,
                   _ ("%s: the file ends inside its first directory"), path);
      return FALSE;
    }
  entries = hr_read_uint (count, bigtiff ? 8 : 2, big_endian);
  ifd_bytes = bigtiff ? 8 + entries * 20 + 8 : 2 + entries * 12 + 4;
  if (entries > 65535 || ifd_bytes > file_size - offset)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TRUNCATED,
                   _ ("%s: the file ends inside its first directory"), path);
      return FALSE;
    }
  return TRUE;
}

HrTiffSource *
hr_tiff_source_open (const char *path, HrStackLayout layout, GCancellable *cancellable,
                     GError **error)
{
  g_autoptr (HrTiffSource) src = g_new0 (HrTiffSource, 1);
  g_autofree char *description = NULL;
  GStatBuf st;
  HrAxes axes;
  HrPage *pages = NULL;
  guint n_pages = 0, capacity = 0;
  guint64 compressed_decoded = 0;
  char *desc_tag = NULL;

  src->path = g_strdup (path);
  src->fd = -1;
  src->messages = g_string_new (NULL);
  src->current_dir = (tdir_t)-1;

  src->fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (src->fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (fstat (src->fd, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR,
                   S_ISDIR (st.st_mode) ? G_IO_ERROR_IS_DIRECTORY : G_IO_ERROR_NOT_REGULAR_FILE,
                   _ ("%s: not a regular file"), path);
      return NULL;
    }
  src->file_size = (guint64)st.st_size;
  if (!hr_tiff_check_header (path, src->fd, src->file_size, error))
    return NULL;

  src->options = TIFFOpenOptionsAlloc ();
  TIFFOpenOptionsSetErrorHandlerExtR (src->options, hr_tiff_error_handler, src);
  TIFFOpenOptionsSetWarningHandlerExtR (src->options, hr_tiff_warning_handler, src);
  TIFFOpenOptionsSetMaxSingleMemAlloc (src->options, HR_LIBTIFF_MAX_ALLOC);

  /* "m": no memory mapping. Mapped pages of the file would count in the resident memory of
   * the process as they are read, so that reading a large stack in chunks would look (and,
   * under memory pressure, behave) like holding all of it; read() into one strip buffer
   * keeps memory bounded by the chunk. */
  src->tif = TIFFFdOpenExt (src->fd, path, "rm", src->options);
  if (src->tif == NULL)
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("cannot read the TIFF header"));
      return NULL;
    }
  src->current_dir = 0;

  /* Describe every page; the chain of directories is walked once. The array grows with
   * the file, so it is allocated fallibly. */
  do
    {
      HrPage *page;

      if (n_pages == capacity)
        {
          guint new_capacity = capacity == 0 ? 16 : capacity * 2;
          HrPage *grown = new_capacity > capacity
                              ? g_try_realloc_n (pages, new_capacity, sizeof (HrPage))
                              : NULL;

          if (grown == NULL)
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                           _ ("%s: not enough memory for the directories of %u pages (%zu bytes)"),
                           path, n_pages + 1, (gsize)new_capacity * sizeof (HrPage));
              g_free (pages);
              return NULL;
            }
          pages = grown;
          capacity = new_capacity;
        }
      page = &pages[n_pages];
      if (g_cancellable_set_error_if_cancelled (cancellable, error)
          || !hr_tiff_describe_page (src, n_pages, page, error))
        {
          g_free (pages);
          return NULL;
        }
      if (src->messages->len > 0)
        {
          /* warnings about the data of this page (hr_tiff_warning_concerns_data()) */
          hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("page %u is damaged"),
                             n_pages + 1);
          g_free (pages);
          return NULL;
        }
      n_pages++;
      if (page->compression != COMPRESSION_NONE)
        compressed_decoded = page->decoded_bytes > G_MAXUINT64 - compressed_decoded
                                 ? G_MAXUINT64
                                 : compressed_decoded + page->decoded_bytes;
      if (n_pages == 1 && TIFFGetField (src->tif, TIFFTAG_IMAGEDESCRIPTION, &desc_tag)
          && desc_tag != NULL)
        {
          /* as long as the tag is: a copy allocated fallibly */
          gsize length = strlen (desc_tag);

          description = g_try_malloc (length + 1);
          if (description == NULL)
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                           _ ("%s: not enough memory for the image description (%zu bytes)"), path,
                           length + 1);
              g_free (pages);
              return NULL;
            }
          memcpy (description, desc_tag, length + 1);
        }
    }
  while (TIFFReadDirectory (src->tif));
  if (src->messages->len > 0)
    {
      /* TIFFReadDirectory also returns 0 on a broken chain: that is an error, not the end. */
      hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT, _ ("cannot read page %u"),
                         n_pages + 1);
      g_free (pages);
      return NULL;
    }
  src->n_pages = n_pages;
  src->pages = pages;
  /* The last page is libtiff's current directory, but selected anew before it is read,
   * for hr_tiff_use_zlib(). */
  src->current_dir = (tdir_t)-1;

  /* What the compressed pages decode to, all together, against the file: pages that share
   * one strip each claim it whole, and the limit of each page alone lets a few hundred of
   * them decode gigabytes out of kilobytes. */
  if (compressed_decoded > HR_SMALL_DECODED_SIZE
      && compressed_decoded / HR_MAX_COMPRESSION_RATIO > src->file_size)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                   _ ("%s: the %u pages claim %llu bytes of decoded data, more than a file of "
                      "%llu bytes can hold"),
                   path, src->n_pages, (unsigned long long)compressed_decoded,
                   (unsigned long long)src->file_size);
      return NULL;
    }

  src->decode_budget
      = MAX (HR_SMALL_DECODED_SIZE, src->file_size > G_MAXUINT64 / HR_MAX_COMPRESSION_RATIO
                                        ? G_MAXUINT64
                                        : src->file_size * HR_MAX_COMPRESSION_RATIO);

  if (!hr_parse_axes (src, description, &axes, error)
      || !hr_tiff_decide_layout (src, layout, &axes, error))
    return NULL;

  if (!hr_tiff_plan_band_cache (src))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                   _ ("%s: not enough memory for the strips of %u pages"), path, src->n_pages);
      return NULL;
    }

  src->info = hr_stack_info_new_internal ();
  src->info->path = g_strdup (path);
  src->info->layout = src->layout;
  src->info->sample_format = src->pages[0].format;
  src->info->compression = g_strdup (hr_compression_name (src->pages[0].compression));
  src->info->metadata_kind = g_strdup (axes.kind);
  src->info->n_pages = src->n_pages;
  src->info->tiled = src->pages[0].tiled;
  src->info->big_endian = TIFFIsBigEndian (src->tif);
  src->info->bigtiff = TIFFIsBigTIFF (src->tif);
  switch (src->layout)
    {
      case HR_STACK_LAYOUT_CHANNELS:
        src->info->per_pixel = TRUE;
        src->info->width = src->pages[0].width;
        src->info->height = src->pages[0].height;
        src->info->depth = src->depth;
        src->info->frames = src->frames;
        src->info->channels = src->channels;
        break;
      default:
        src->info->width = src->pages[0].width;
        src->info->height = src->pages[0].height;
        break;
    }
  return g_steal_pointer (&src);
}

HrStackInfo *
hr_tiff_source_get_info (HrTiffSource *src)
{
  return src->info;
}

gsize
hr_tiff_source_get_n_samples (HrTiffSource *src)
{
  return src->n_samples;
}

gsize
hr_tiff_source_get_n_features (HrTiffSource *src)
{
  return src->n_features;
}

/* A chunk of samples that covers whole strips or rows of tiles where the layout allows it,
 * of about 16 MiB of float32 output. */
gsize
hr_tiff_source_get_preferred_chunk (HrTiffSource *src)
{
  const HrPage *page = &src->pages[0];
  gsize row_bytes = MAX ((gsize)1, src->n_features * sizeof (float));
  gsize chunk = MAX ((gsize)1, ((gsize)16 << 20) / row_bytes);

  if (src->layout == HR_STACK_LAYOUT_MATRIX)
    {
      gsize band = page->tiled ? page->tile_height : page->rows_per_strip;
      if (band > 0 && chunk > band)
        chunk -= chunk % band;
    }
  else if (src->layout == HR_STACK_LAYOUT_CHANNELS)
    {
      gsize band_pixels
          = (gsize)page->width * (page->tiled ? page->tile_height : page->rows_per_strip);
      if (band_pixels > 0 && chunk > band_pixels)
        chunk -= chunk % band_pixels;
      else if (band_pixels > chunk && !hr_page_has_raw_strips (page)
               && band_pixels <= HR_BAND_CHUNK_LIMIT / row_bytes)
        {
          /* Strips (or rows of tiles) larger than the chunk would be decoded once for each
           * chunk they reach into, for every channel page: a chunk of one whole band
           * decodes each once. */
          chunk = band_pixels;
        }
    }
  return MIN (chunk, src->n_samples);
}

/* Whether reading costs decoding: some page is compressed or tiled (or in another bit
 * order), not read as it lies in the file. */
gboolean
hr_tiff_source_decodes (HrTiffSource *src)
{
  for (guint i = 0; i < src->n_pages; i++)
    if (!hr_page_has_raw_strips (&src->pages[i]))
      return TRUE;
  return FALSE;
}

/* Reading all samples at once allocates n_samples × n_features floats. */
gboolean
hr_tiff_source_check_whole_read (HrTiffSource *src, GError **error)
{
  gsize out_bytes;

  /* Each page was checked against the file when it was described; what is left is whether
   * the whole matrix can be addressed at all. */
  if (!g_size_checked_mul (&out_bytes, src->n_samples, src->n_features)
      || !g_size_checked_mul (&out_bytes, out_bytes, sizeof (float)))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                   _ ("%s: %zu × %zu values are too many to hold"), src->path, src->n_samples,
                   src->n_features);
      return FALSE;
    }
  return TRUE;
}

/* -- decoding ---------------------------------------------------------------------------- */

static inline float
hr_half_to_float (guint16 h)
{
  guint32 sign = (guint32)(h & 0x8000u) << 16;
  guint32 exponent = (h >> 10) & 0x1fu;
  guint32 mantissa = h & 0x3ffu;
  guint32 bits;
  float f;

  if (exponent == 0)
    {
      if (mantissa == 0)
        bits = sign;
      else
        {
          /* subnormal half: normalise into a float */
          exponent = 127 - 14;
          while (!(mantissa & 0x400u))
            {
              mantissa <<= 1;
              exponent--;
            }
          bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
        }
    }
  else if (exponent == 31)
    bits = sign | 0x7f800000u | (mantissa << 13);
  else
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  memcpy (&f, &bits, sizeof f);
  return f;
}

#define HR_CONVERT_LOOP(type, expr)                                                                \
  G_STMT_START                                                                                     \
  {                                                                                                \
    const type *s = (const type *)(const void *)src;                                               \
    if (pixel_stride == n_values)                                                                  \
      for (gsize i = 0; i < n_pixels * n_values; i++)                                              \
        dst[i] = (expr);                                                                           \
    else                                                                                           \
      for (gsize p = 0; p < n_pixels; p++)                                                         \
        for (guint v = 0; v < n_values; v++)                                                       \
          {                                                                                        \
            gsize i = p * n_values + v;                                                            \
            dst[p * pixel_stride + v] = (expr);                                                    \
          }                                                                                        \
  }                                                                                                \
  G_STMT_END

/* Converts @n_pixels pixels of @n_values values each (native byte order, as libtiff
 * delivers them and hr_tiff_read_raw_strips() swaps them) to float32, pixel p's values at
 * dst[p × pixel_stride …]. */
static void
hr_convert (const guint8 *src, HrSampleFormat format, gsize n_pixels, guint n_values, float *dst,
            gsize pixel_stride)
{
  switch (format)
    {
      case HR_SAMPLE_FORMAT_UINT8:
        HR_CONVERT_LOOP (guint8, (float)s[i]);
        break;
      case HR_SAMPLE_FORMAT_UINT16:
        HR_CONVERT_LOOP (guint16, (float)s[i]);
        break;
      case HR_SAMPLE_FORMAT_UINT32:
        HR_CONVERT_LOOP (guint32, (float)s[i]);
        break;
      case HR_SAMPLE_FORMAT_INT8:
        HR_CONVERT_LOOP (gint8, (float)s[i]);
        break;
      case HR_SAMPLE_FORMAT_INT16:
        HR_CONVERT_LOOP (gint16, (float)s[i]);
        break;
      case HR_SAMPLE_FORMAT_INT32:
        HR_CONVERT_LOOP (gint32, (float)s[i]);
        break;
      case HR_SAMPLE_FORMAT_FLOAT16:
        HR_CONVERT_LOOP (guint16, hr_half_to_float (s[i]));
        break;
      case HR_SAMPLE_FORMAT_FLOAT32:
        if (pixel_stride == n_values)
          memcpy (dst, src, n_pixels * n_values * sizeof (float));
        else
          HR_CONVERT_LOOP (float, s[i]);
        break;
      case HR_SAMPLE_FORMAT_FLOAT64:
        HR_CONVERT_LOOP (double, (float)s[i]);
        break;
      default:
        g_assert_not_reached ();
    }
}

static gboolean
hr_grow (guint8 **buffer, gsize *capacity, gsize size)
{
  if (*capacity >= size)
    return TRUE;
  g_free (*buffer);
  *buffer = g_try_malloc (size);
  *capacity = *buffer != NULL ? size : 0;
  return *buffer != NULL;
}

/* The slot that holds the decoded band of page @dir. */
static HrBandSlot *
hr_tiff_band_slot (HrTiffSource *src, tdir_t dir)
{
  return &src->slots[src->n_slots > 1 ? dir : 0];
}

/* Channel pages are read side by side, a few samples of each page in turn: with one slot
 * for the file, each page's strip would be decoded again for every chunk it reaches into.
 * Where the bands of all pages fit in HR_BAND_CHUNK_LIMIT, each page keeps its own, and a
 * strip is decoded once per pass however small the chunks. Returns FALSE when the slot
 * array cannot be allocated. */
static gboolean
hr_tiff_plan_band_cache (HrTiffSource *src)
{
  guint64 total = 0;
  gboolean decoded = FALSE;

  src->n_slots = 1;
  if (src->layout == HR_STACK_LAYOUT_CHANNELS && !src->channels_in_samples && src->n_pages > 1)
    {
      for (guint i = 0; i < src->n_pages && total <= HR_BAND_CHUNK_LIMIT; i++)
        {
          const HrPage *page = &src->pages[i];
          guint64 rows = page->tiled ? page->tile_height : page->rows_per_strip;

          decoded |= !hr_page_has_raw_strips (page);
          total += rows * page->width * page->spp * hr_sample_format_size (page->format);
        }
      if (decoded && total <= HR_BAND_CHUNK_LIMIT)
        src->n_slots = src->n_pages;
    }
  src->slots = g_try_new0 (HrBandSlot, src->n_slots);
  return src->slots != NULL;
}

/* Counts @bytes decoded by libtiff against the budget of one pass over the samples. */
static gboolean
hr_tiff_charge_decoding (HrTiffSource *src, gsize bytes, GError **error)
{
  src->decoded_this_pass += bytes;
  if (src->decoded_this_pass <= src->decode_budget)
    return TRUE;
  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
               _ ("%s: one pass over the samples decodes more than %llu bytes from a file of "
                  "%llu bytes (its compressed strips decode to too much, or are shared)"),
               src->path, (unsigned long long)src->decode_budget,
               (unsigned long long)src->file_size);
  return FALSE;
}

static gboolean hr_tiff_pread (HrTiffSource *src, tdir_t dir, guint8 *buffer, gsize size,
                               guint64 offset, GError **error);

/* Inflates deflate strip @strip of the current page, @size bytes decoded, into @out with
 * libdeflate, from the file: about 1.7 times as fast as zlib through libtiff (1.03 s against
 * 1.77 s of CPU for the 2,353 strips of 85 × 768 float32 values of a 614 MB stack). Only a
 * strip that inflates to exactly its @size bytes, its checksum right, counts; for anything
 * else (data that inflate to more or less, bad data, a read that fails) it returns FALSE
 * and libtiff decodes the strip as it always did, deciding what can be read of it. Pages
 * with a predictor, or whose values libtiff would byte-swap, are always libtiff's
 * (HrPage.inflate_direct).
 *
 * A stored strip that libtiff would not read whole is libtiff's too, so that the limits stay
 * libtiff's and the result is the one libtiff gives: one larger than libtiff may allocate for
 * this file (HR_LIBTIFF_MAX_ALLOC), or, from 1 MiB on, larger than 10 times its decoded size
 * plus 4,096 bytes (TIFFFillStrip() of libtiff 4.5 says "Too large strip byte count" and reads
 * only that much; it measures against the size of a whole strip, never smaller than @size, so
 * this test hands libtiff every strip it refuses). */
static gboolean
hr_tiff_inflate_strip (HrTiffSource *src, guint32 strip, guint8 *out, gsize size)
{
  guint64 offset = TIFFGetStrileOffset (src->tif, strip);
  guint64 count = TIFFGetStrileByteCount (src->tif, strip);
  g_autoptr (GError) ignored = NULL;
  size_t actual = 0;

  if (count == 0 || count > src->file_size || offset > src->file_size - count || count > G_MAXSSIZE
      || count > (guint64)HR_LIBTIFF_MAX_ALLOC
      || (count > ((guint64)1 << 20) && (count - 4096) / 10 > (guint64)size)
      || !hr_grow (&src->deflated, &src->deflated_capacity, (gsize)count)
      || !hr_tiff_pread (src, src->current_dir, src->deflated, (gsize)count, offset, &ignored))
    return FALSE;
  if (src->inflater == NULL)
    src->inflater = libdeflate_alloc_decompressor ();
  return src->inflater != NULL
         && libdeflate_zlib_decompress (src->inflater, src->deflated, (size_t)count, out, size,
                                        &actual)
                == LIBDEFLATE_SUCCESS
         && actual == size;
}

/* Decodes band @band (a strip, or a row of tiles) of page @dir into the page's slot, selecting the
 * page only when the band is not decoded already. */
static gboolean
hr_tiff_load_band (HrTiffSource *src, tdir_t dir, const HrPage *page, int plane, guint32 band,
                   gsize band_rows, gsize pixel_bytes, GError **error)
{
  gsize band_bytes = band_rows * page->width * pixel_bytes;
  guint32 sample = plane < 0 ? 0 : (guint32)plane;
  HrBandSlot *slot = hr_tiff_band_slot (src, dir);

  if (slot->valid && slot->dir == dir && slot->plane == plane && slot->index == band)
    return TRUE;
  slot->valid = FALSE;
  if (!hr_tiff_select_page (src, dir, error))
    return FALSE;
  if (!hr_grow (&slot->data, &slot->capacity, band_bytes))
    {
      hr_tiff_set_error (src, error, HR_STACK_ERROR_NO_MEMORY, _ ("out of memory for %zu bytes"),
                         band_bytes);
      return FALSE;
    }

  if (!hr_tiff_charge_decoding (src, band_bytes, error))
    return FALSE;
  if (!page->tiled)
    {
      guint32 strip = TIFFComputeStrip (src->tif, band * page->rows_per_strip, (guint16)sample);
      tmsize_t got
          = page->inflate_direct && hr_tiff_inflate_strip (src, strip, slot->data, band_bytes)
                ? (tmsize_t)band_bytes
                : TIFFReadEncodedStrip (src->tif, strip, slot->data, (tmsize_t)band_bytes);

      if (got < 0 || (gsize)got < band_bytes)
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT,
                             _ ("cannot decode strip %u of page %u"), strip,
                             (guint)src->current_dir + 1);
          return FALSE;
        }
      if (!hr_tiff_check_messages (src, error, _ ("strip"), strip, (guint)src->current_dir + 1))
        return FALSE;
    }
  else
    {
      gsize tile_bytes = (gsize)TIFFTileSize64 (src->tif);
      gsize tile_row_bytes = (gsize)page->tile_width * pixel_bytes;

      if (!hr_grow (&src->tile_buffer, &src->tile_capacity, tile_bytes))
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_NO_MEMORY,
                             _ ("out of memory for %zu bytes"), tile_bytes);
          return FALSE;
        }
      for (guint32 x0 = 0; x0 < page->width; x0 += page->tile_width)
        {
          guint32 tile
              = TIFFComputeTile (src->tif, x0, band * page->tile_height, 0, (guint16)sample);
          gsize copy_bytes = (gsize)MIN (page->tile_width, page->width - x0) * pixel_bytes;
          tmsize_t got
              = TIFFReadEncodedTile (src->tif, tile, src->tile_buffer, (tmsize_t)tile_bytes);

          if (got < 0 || (gsize)got < band_rows * tile_row_bytes - (tile_row_bytes - copy_bytes))
            {
              hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT,
                                 _ ("cannot decode tile %u of page %u"), tile,
                                 (guint)src->current_dir + 1);
              return FALSE;
            }
          if (!hr_tiff_check_messages (src, error, _ ("tile"), tile, (guint)src->current_dir + 1))
            return FALSE;
          for (gsize r = 0; r < band_rows; r++)
            memcpy (slot->data + (r * page->width + x0) * pixel_bytes,
                    src->tile_buffer + r * tile_row_bytes, copy_bytes);
        }
    }
  slot->valid = TRUE;
  slot->dir = src->current_dir;
  slot->plane = plane;
  slot->index = band;
  return TRUE;
}

/* Like hr_tiff_read_pixels(), through libtiff's decoding, page @dir being the current
 * one: a strip or a row of tiles at a time, or a row at a time for huge strips. */
static gboolean
hr_tiff_read_decoded (HrTiffSource *src, tdir_t dir, int plane, gsize first, gsize n, float *out,
                      gsize pixel_stride, GError **error)
{
  const HrPage *page = &src->pages[dir];
  guint n_values = plane < 0 ? page->spp : 1;
  gsize value_bytes = hr_sample_format_size (page->format);
  gsize pixel_bytes = n_values * value_bytes;
  gsize width = page->width;
  gsize y_first, y_last, band_height;
  gboolean row_by_row;

  y_first = first / width;
  y_last = (first + n - 1) / width;
  band_height = page->tiled ? page->tile_height : page->rows_per_strip;
  row_by_row = !page->tiled && band_height * width * pixel_bytes > HR_BAND_LIMIT;

  if (row_by_row)
    {
      /* A huge strip: libtiff decodes it one scanline at a time. */
      if (!hr_tiff_select_page (src, dir, error))
        return FALSE;
      if (!hr_grow (&src->row_buffer, &src->row_capacity, (gsize)TIFFScanlineSize64 (src->tif)))
        {
          hr_tiff_set_error (src, error, HR_STACK_ERROR_NO_MEMORY, _ ("out of memory"));
          return FALSE;
        }
      for (gsize y = y_first; y <= y_last; y++)
        {
          gsize p0 = MAX (first, y * width), p1 = MIN (first + n, (y + 1) * width);

          if (!hr_tiff_charge_decoding (src, src->row_capacity, error))
            return FALSE;
          if (TIFFReadScanline (src->tif, src->row_buffer, (guint32)y,
                                (guint16)(plane < 0 ? 0 : plane))
              < 0)
            {
              hr_tiff_set_error (src, error, HR_STACK_ERROR_CORRUPT,
                                 _ ("cannot decode row %zu of page %u"), y, (guint)dir + 1);
              return FALSE;
            }
          /* TRANSLATORS: fills the %s of "%s %u of page %u is damaged" */
          if (!hr_tiff_check_messages (src, error, _ ("row"), (guint)y, (guint)dir + 1))
            return FALSE;
          hr_convert (src->row_buffer + (p0 - y * width) * pixel_bytes, page->format, p1 - p0,
                      n_values, out + (p0 - first) * pixel_stride, pixel_stride);
        }
      return TRUE;
    }

  for (gsize band = y_first / band_height; band <= y_last / band_height; band++)
    {
      gsize band_y0 = band * band_height;
      gsize band_rows = MIN (band_height, page->height - band_y0);
      gsize p0 = MAX (first, band_y0 * width);
      gsize p1 = MIN (first + n, (band_y0 + band_rows) * width);

      if (!hr_tiff_load_band (src, dir, page, plane, (guint32)band, band_rows, pixel_bytes, error))
        return FALSE;
      hr_convert (hr_tiff_band_slot (src, dir)->data + (p0 - band_y0 * width) * pixel_bytes,
                  page->format, p1 - p0, n_values, out + (p0 - first) * pixel_stride, pixel_stride);
    }
  return TRUE;
}

/* Whether the strips of @page hold their values as they are to be read, so that headrank
 * reads them from the file itself: uncompressed, in strips (not tiles), in the bit order
 * that libtiff leaves as it is. */
static gboolean
hr_page_has_raw_strips (const HrPage *page)
{
  return !page->tiled && page->compression == COMPRESSION_NONE
         && page->fill_order == FILLORDER_MSB2LSB;
}

/* Whether strip @strip (band @band of its plane) of the current page holds all the bytes of
 * its rows. One that does not is left to libtiff, which decides what can be read of it. */
static gboolean
hr_strip_holds_rows (HrTiffSource *src, const HrPage *page, guint32 strip, gsize band,
                     gsize pixel_bytes)
{
  gsize rows = MIN ((gsize)page->rows_per_strip, page->height - band * page->rows_per_strip);

  return TIFFGetStrileByteCount (src->tif, strip) >= (guint64)rows * page->width * pixel_bytes;
}

/* Reads @size bytes at @offset of the file (of page @dir) into @buffer. */
static gboolean
hr_tiff_pread (HrTiffSource *src, tdir_t dir, guint8 *buffer, gsize size, guint64 offset,
               GError **error)
{
  gsize done = 0;

  while (done < size)
    {
      ssize_t got = pread (src->fd, buffer + done, MIN (size - done, (gsize)G_MAXSSIZE),
                           (off_t)(offset + done));

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", src->path,
                       g_strerror (saved));
          return FALSE;
        }
      if (got == 0)
        {
          /* Every strip was checked against the file when it was opened: it has been cut
           * since. */
          hr_tiff_set_error (
              src, error, HR_STACK_ERROR_TRUNCATED,
              _ ("page %u: the file ends at byte %llu, inside the data (was it changed while "
                 "being read?)"),
              (guint)dir + 1, (unsigned long long)(offset + done));
          return FALSE;
        }
      done += (gsize)got;
    }
  return TRUE;
}

/* Reverses the bytes of each of @n_values values of @value_bytes bytes (1, 2, 4 or 8). */
static void
hr_swap_values (guint8 *data, gsize n_values, gsize value_bytes)
{
  switch (value_bytes)
    {
      case 2:
        for (gsize i = 0; i < n_values; i++)
          {
            guint16 v;
            memcpy (&v, data + i * 2, 2);
            v = GUINT16_SWAP_LE_BE (v);
            memcpy (data + i * 2, &v, 2);
          }
        break;
      case 4:
        for (gsize i = 0; i < n_values; i++)
          {
            guint32 v;
            memcpy (&v, data + i * 4, 4);
            v = GUINT32_SWAP_LE_BE (v);
            memcpy (data + i * 4, &v, 4);
          }
        break;
      case 8:
        for (gsize i = 0; i < n_values; i++)
          {
            guint64 v;
            memcpy (&v, data + i * 8, 8);
            v = GUINT64_SWAP_LE_BE (v);
            memcpy (data + i * 8, &v, 8);
          }
        break;
      default:
        break;
    }
}

/* Like hr_tiff_read_pixels() for a page of uncompressed strips, page @dir being the current
 * one: reads the bytes of the pixels asked for from the file with pread(), strips that
 * follow each other in the file in one piece. float32 values in the machine's byte order
 * that land packed in @out go there directly; anything else goes through a bounded buffer,
 * byte-swapped and converted. What libtiff would read is exactly these bytes (its
 * uncompressed strips are not decoded, and bytes are swapped as here); a strip shorter than
 * its rows is left to libtiff as before. */
static gboolean
hr_tiff_read_raw_strips (HrTiffSource *src, tdir_t dir, int plane, gsize first, gsize n, float *out,
                         gsize pixel_stride, GError **error)
{
  const HrPage *page = &src->pages[dir];
  guint n_values = plane < 0 ? page->spp : 1;
  gsize value_bytes = hr_sample_format_size (page->format);
  gsize pixel_bytes = n_values * value_bytes;
  gsize page_pixels = (gsize)page->width * page->height;
  gsize strip_pixels = (gsize)page->width * page->rows_per_strip;
  guint16 sample = (guint16)(plane < 0 ? 0 : plane);
  gboolean swap = value_bytes > 1 && TIFFIsByteSwapped (src->tif);
  gboolean direct = page->format == HR_SAMPLE_FORMAT_FLOAT32 && !swap && pixel_stride == n_values;
  gsize last = first + n;
  gsize pos = first;

  while (pos < last)
    {
      gsize band = pos / strip_pixels;
      guint32 strip = TIFFComputeStrip (src->tif, (guint32)(band * page->rows_per_strip), sample);
      gsize end = MIN (last, MIN ((band + 1) * strip_pixels, page_pixels));
      guint64 offset;

      if (!hr_strip_holds_rows (src, page, strip, band, pixel_bytes))
        {
          if (!hr_tiff_read_decoded (src, dir, plane, pos, end - pos,
                                     out + (pos - first) * pixel_stride, pixel_stride, error))
            return FALSE;
          pos = end;
          continue;
        }

      /* The strips of a plane are numbered in order; take the following ones while each
       * starts where the last ended. */
      offset = TIFFGetStrileOffset (src->tif, strip)
               + (guint64)(pos - band * strip_pixels) * pixel_bytes;
      while (end < last
             && TIFFGetStrileOffset (src->tif, strip + 1)
                    == offset + (guint64)(end - pos) * pixel_bytes
             && hr_strip_holds_rows (src, page, strip + 1, band + 1, pixel_bytes))
        {
          strip++;
          band++;
          end = MIN (last, MIN ((band + 1) * strip_pixels, page_pixels));
        }

      if (direct)
        {
          if (!hr_tiff_pread (src, dir, (guint8 *)(out + (pos - first) * pixel_stride),
                              (end - pos) * pixel_bytes, offset, error))
            return FALSE;
        }
      else
        {
          gsize buffer_pixels = MIN (end - pos, MAX ((gsize)1, HR_IO_BUFFER_LIMIT / pixel_bytes));

          if (!hr_grow (&src->io_buffer, &src->io_capacity, buffer_pixels * pixel_bytes))
            {
              hr_tiff_set_error (src, error, HR_STACK_ERROR_NO_MEMORY,
                                 _ ("out of memory for %zu bytes"), buffer_pixels * pixel_bytes);
              return FALSE;
            }
          for (gsize p = pos; p < end; p += buffer_pixels)
            {
              gsize count = MIN (buffer_pixels, end - p);

              if (!hr_tiff_pread (src, dir, src->io_buffer, count * pixel_bytes,
                                  offset + (guint64)(p - pos) * pixel_bytes, error))
                return FALSE;
              if (swap)
                hr_swap_values (src->io_buffer, count * n_values, value_bytes);
              hr_convert (src->io_buffer, page->format, count, n_values,
                          out + (p - first) * pixel_stride, pixel_stride);
            }
        }
      pos = end;
    }
  return TRUE;
}

/* Reads pixels [first, first + n) (row-major) of page @dir, plane @plane (-1: all samples of
 * a contiguous page), converting each pixel's values to float32 at out[i × pixel_stride]. */
static gboolean
hr_tiff_read_pixels (HrTiffSource *src, tdir_t dir, int plane, gsize first, gsize n, float *out,
                     gsize pixel_stride, GError **error)
{
  if (n == 0)
    return TRUE;
  if (hr_page_has_raw_strips (&src->pages[dir]))
    return hr_tiff_select_page (src, dir, error)
           && hr_tiff_read_raw_strips (src, dir, plane, first, n, out, pixel_stride, error);
  /* selects the page when a band is not decoded already */
  return hr_tiff_read_decoded (src, dir, plane, first, n, out, pixel_stride, error);
}

/* Reads all values of page @dir as one flattened row of n_features values: (Y, X, S) for a
 * contiguous page, (S, Y, X) for a planar one, as tifffile shapes a page. */
static gboolean
hr_tiff_read_page_row (HrTiffSource *src, tdir_t dir, float *out, GError **error)
{
  const HrPage *page = &src->pages[dir];
  gsize pixels = (gsize)page->width * page->height;

  if (page->planar == PLANARCONFIG_SEPARATE && page->spp > 1)
    {
      for (guint s = 0; s < page->spp; s++)
        if (!hr_tiff_read_pixels (src, dir, (int)s, 0, pixels, out + s * pixels, 1, error))
          return FALSE;
      return TRUE;
    }
  return hr_tiff_read_pixels (src, dir, -1, 0, pixels, out, page->spp, error);
}

gboolean
hr_tiff_source_read (HrTiffSource *src, gsize first_sample, gsize n_samples, float *out,
                     GCancellable *cancellable, GError **error)
{
  const HrPage *first_page = &src->pages[0];
  gsize D = src->n_features;

  g_return_val_if_fail (first_sample + n_samples <= src->n_samples, FALSE);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (first_sample == 0)
    src->decoded_this_pass = 0; /* a new pass */

  switch (src->layout)
    {
      case HR_STACK_LAYOUT_MATRIX:
        return hr_tiff_read_pixels (src, 0, -1, first_sample * D, n_samples * D, out, 1, error);

      case HR_STACK_LAYOUT_PAGES:
        for (gsize s = 0; s < n_samples; s++)
          {
            if ((s & 63) == 63 && g_cancellable_set_error_if_cancelled (cancellable, error))
              return FALSE;
            if (!hr_tiff_read_page_row (src, (tdir_t)(first_sample + s), out + s * D, error))
              return FALSE;
          }
        return TRUE;

      case HR_STACK_LAYOUT_CHANNELS:
        {
          gsize plane_pixels = (gsize)first_page->width * first_page->height;
          gsize done = 0;

          while (done < n_samples)
            {
              gsize sample = first_sample + done;
              gsize plane = sample / plane_pixels; /* z + t × depth */
              gsize pixel = sample % plane_pixels;
              gsize count = MIN (n_samples - done, plane_pixels - pixel);
              guint z = (guint)(plane % src->depth), t = (guint)(plane / src->depth);
              float *dst = out + done * D;

              if (src->channels_in_samples)
                {
                  tdir_t dir = (tdir_t)(z * src->stride_z + t * src->stride_t);

                  if (first_page->planar == PLANARCONFIG_SEPARATE)
                    {
                      for (guint c = 0; c < src->channels; c++)
                        if (!hr_tiff_read_pixels (src, dir, (int)c, pixel, count, dst + c, D,
                                                  error))
                          return FALSE;
                    }
                  else if (!hr_tiff_read_pixels (src, dir, -1, pixel, count, dst, D, error))
                    return FALSE;
                }
              else
                {
                  for (guint c = 0; c < src->channels; c++)
                    {
                      tdir_t dir
                          = (tdir_t)(c * src->stride_c + z * src->stride_z + t * src->stride_t);

                      if (!hr_tiff_read_pixels (src, dir, -1, pixel, count, dst + c, D, error))
                        return FALSE;
                    }
                }
              done += count;
            }
          return TRUE;
        }

      case HR_STACK_LAYOUT_AUTO:
      default:
        g_assert_not_reached ();
    }
  return FALSE;
}
