/* headrank: zarr stores (v2 and v3), read in C
 *
 * Metadata through json-glib, after a pre-scan that bounds the nesting (json-glib parses
 * recursively); chunks through the codecs' own libraries: c-blosc (every compressor and
 * shuffle it has: the blosc header says which), libzstd, zlib (gzip and zlib streams).
 * Sharding and every other codec are refused by name.
 */
#include "hr-private.h"
#include "hr-json.h"
#include "hr-zarr.h"

#include "hr-error.h"

#include <blosc.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <float.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* Metadata files larger than this are refused (a consolidated .zmetadata of thousands of
 * arrays is a few MiB). */
#define HR_ZARR_MAX_METADATA ((gsize)64 << 20)
/* Nesting of metadata JSON: AnnData's consolidated v3 metadata nests three levels per group. */
#define HR_ZARR_MAX_JSON_DEPTH 256
/* Group nesting followed when walking a store without consolidated metadata. */
#define HR_ZARR_MAX_GROUP_DEPTH 32
#define HR_ZARR_MAX_DIMS 32

typedef enum
{
  HR_ZARR_KIND_OTHER,
  HR_ZARR_KIND_FLOAT,
  HR_ZARR_KIND_INT,
  HR_ZARR_KIND_UINT,
  HR_ZARR_KIND_BOOL,
  HR_ZARR_KIND_STRING, /* UTF-8 strings through the vlen-utf8 codec (v2: a filter) */
} HrZarrKind;

typedef enum
{
  HR_ZARR_CODEC_NONE,
  HR_ZARR_CODEC_BLOSC,
  HR_ZARR_CODEC_ZSTD,
  HR_ZARR_CODEC_GZIP,
  HR_ZARR_CODEC_ZLIB,
} HrZarrCodec;

typedef struct
{
  char *path; /* inside the store, "" at the root */
  guint format;
  guint n_dims;
  guint64 shape[HR_ZARR_MAX_DIMS];
  guint64 chunks[HR_ZARR_MAX_DIMS];
  char *dtype;
  HrZarrKind kind;
  guint item_size;
  gboolean big_endian;
  gboolean fortran;
  double fill;
  HrZarrCodec codec;
  char separator;
  gboolean v3_default_keys; /* "c/0/1" rather than "0.1" */
  char *codecs;
  gboolean crc32c;  /* the chunk (inner chunk of a shard) ends in its CRC-32C */
  gboolean sharded; /* chunks holds the shard's shape, inner the chunks' */
  guint64 inner[HR_ZARR_MAX_DIMS];
  gboolean index_at_start;
  gboolean index_crc32c;
  char *unsupported;
  char *not_number;  /* why a string array is not read as numbers, or NULL */
  char *fill_string; /* the fill value of a string array (NULL: null, a missing value) */
  gboolean vlen_utf8;
  HrZarrRole role;
} HrZarrArray;

struct _HrZarrStore
{
  gatomicrefcount ref_count;
  char *path;
  HrZarrLayout layout;
  GPtrArray *arrays;       /* HrZarrArray, sorted by path */
  GHashTable *group_attrs; /* group path → JsonObject of its attributes */
  GHashTable *array_attrs; /* array path → JsonObject */
  char *sparse_x;          /* encoding-type of a sparse X, or NULL */
};

/* What one thread decodes with: a chunk as stored (or a shard's index) and decoded. */
typedef struct
{
  guint8 *encoded;
  gsize encoded_size;
  guint8 *decoded;
  ZSTD_DCtx *zstd;
} HrZarrScratch;

/* One chunk of a row of chunks: its file (the chunk's, or the shard that holds it), where
 * its bytes are in it (the whole file when not sharded), and the columns it fills. */
typedef struct
{
  guint64 file_row, file_column;
  guint64 offset, length;
  gboolean whole_file;
  gsize col0, cols;
} HrZarrJob;

struct _HrZarrReader
{
  HrZarrStore *store;
  const HrZarrArray *array;
  char *dir;
  guint64 n_rows;
  gsize n_columns;
  gsize chunk_rows, chunk_columns, n_chunk_columns;
  gsize chunk_elements, chunk_bytes;
  gsize chunk_dim0;        /* rows of a chunk as stored (chunk_rows may be fewer) */
  gsize per_shard_columns; /* inner chunks across a shard (1 when not sharded) */
  float *cache;            /* one row of chunks: chunk_rows × n_columns, for partial reads */
  guint64 cached;          /* the chunk row in the cache, or G_MAXUINT64 */
  HrZarrScratch *scratch;  /* n_scratch, one per thread; [0] is the caller's */
  guint n_scratch;
  guint n_threads;   /* the caller and the pool's workers decode a row of chunks */
  int blosc_threads; /* c-blosc's own threads, when a row is one chunk */
  GThreadPool *pool; /* n_threads - 1 workers, or NULL */
  GArray *jobs;      /* HrZarrJob: the chunks of the row being decoded */
  /* the row being decoded by several threads */
  float *dst;
  gsize dst_rows;
  GError **job_errors; /* one per job: the first job's error is reported */
  gint next_job;
  gint failed;
  guint running;
  GMutex lock;
  GCond done;
  gboolean column; /* a reader of a 1-dimensional column (numbers or strings), no cache */
  guint8 *shard_index;
  gsize shard_index_size;
  guint64 shard_cached; /* the shard whose index is in shard_index, or G_MAXUINT64 */
};

/* -- small helpers --------------------------------------------------------------------------- */

static void
hr_zarr_array_free (HrZarrArray *a)
{
  g_free (a->path);
  g_free (a->dtype);
  g_free (a->codecs);
  g_free (a->unsupported);
  g_free (a->not_number);
  g_free (a->fill_string);
  g_free (a);
}

static gpointer
hr_zarr_try_alloc (const char *store, const char *what, gsize size, GError **error)
{
  gpointer p = size <= HR_ZARR_MAX_BUFFER ? g_try_malloc (MAX (size, 1)) : NULL;

  /* past the bound: the store's shape is absurd; under it: the system is out of memory */
  if (p == NULL)
    g_set_error (error, HR_STACK_ERROR,
                 size <= HR_ZARR_MAX_BUFFER ? HR_STACK_ERROR_NO_MEMORY : HR_STACK_ERROR_TOO_LARGE,
                 /* TRANSLATORS: %s: the store; %s: what (a chunk, a row of chunks); then its
                    size in bytes and the limit */
                 _ ("%s: %s of %zu bytes cannot be allocated (limit %zu bytes)"), store, what, size,
                 HR_ZARR_MAX_BUFFER);
  return p;
}

/* Reads and parses a metadata file: NULL without error when it does not exist. */
static JsonNode *
hr_zarr_load_json (const char *store, const char *file, gboolean *exists, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local = NULL;
  GStatBuf st;
  gsize length;
  gboolean too_deep;
  JsonNode *root;

  *exists = FALSE;
  if (g_stat (file, &st) != 0)
    return NULL;
  *exists = TRUE;
  if (!S_ISREG (st.st_mode) || (guint64)st.st_size > HR_ZARR_MAX_METADATA)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: a metadata file in it */
                   _ ("%s: metadata %s is not a regular file of at most 64 MiB"), store, file);
      return NULL;
    }
  if (!g_file_get_contents (file, &text, &length, &local))
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_file_error (local->code), "%s: %s", store,
                   local->message);
      return NULL;
    }
  /* one object (checked below) nested at most HR_ZARR_MAX_JSON_DEPTH deep before json-glib,
   * which recurses, sees it; and only one: json-glib stops after the first value of
   * "{…}{…}" and leaks what it built of the rest */
  if (hr_json_prescan (text, length, HR_ZARR_MAX_JSON_DEPTH, &too_deep) >= 0)
    {
      if (too_deep)
        g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                     _ ("%s: metadata %s is nested more than %d levels deep"), store, file,
                     HR_ZARR_MAX_JSON_DEPTH);
      else
        g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                     _ ("%s: metadata %s is not JSON"), store, file);
      return NULL;
    }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize)length, &local))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT, _ ("%s: metadata %s: %s"), store,
                   file, local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   _ ("%s: metadata %s is not a JSON object"), store, file);
      return NULL;
    }
  return json_node_copy (root);
}

/* A list of non-negative integers (shape, chunks) of at most HR_ZARR_MAX_DIMS. */
static gboolean
hr_json_dims (JsonArray *list, guint64 *out, guint *n_out)
{
  guint n;

  if (list == NULL || (n = json_array_get_length (list)) > HR_ZARR_MAX_DIMS)
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      gint64 v;

      if (!hr_json_node_int (json_array_get_element (list, i), &v) || v < 0
          || v > ((gint64)1 << 53))
        return FALSE;
      out[i] = (guint64)v;
    }
  *n_out = n;
  return TRUE;
}

/* Whether a path inside the store stays inside it: no empty, "." or ".." component. */
static gboolean
hr_zarr_path_ok (const char *path)
{
  g_auto (GStrv) parts = NULL;

  if (path[0] == '\0')
    return TRUE;
  if (strchr (path, '\\') != NULL)
    return FALSE;
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0' || strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0)
      return FALSE;
  return TRUE;
}

/* -- array metadata ----------------------------------------------------------------------- */

static void
hr_zarr_set_unsupported (HrZarrArray *a, char *reason)
{
  if (a->unsupported == NULL)
    a->unsupported = reason;
  else
    g_free (reason);
}

/* A v2 dtype such as "<f4", ">i2", "|u1", "|b1". */
static void
hr_zarr_parse_v2_dtype (HrZarrArray *a, const char *dtype)
{
  char kind;
  int size;

  a->dtype = g_strdup (dtype);
  if (strcmp (dtype, "|O") == 0)
    {
      /* objects: strings when the filters say vlen-utf8 (hr_zarr_parse_v2 checks) */
      a->kind = HR_ZARR_KIND_STRING;
      a->not_number = g_strdup_printf (_ ("data type “%s” is not a number"), dtype);
      return;
    }
  if (strlen (dtype) != 3 || strchr ("<>|", dtype[0]) == NULL || !g_ascii_isdigit (dtype[2]))
    goto unsupported;
  kind = dtype[1];
  size = dtype[2] - '0';
  a->big_endian = dtype[0] == '>';
  a->item_size = (guint)size;
  if (kind == 'f' && (size == 2 || size == 4 || size == 8))
    a->kind = HR_ZARR_KIND_FLOAT;
  else if (kind == 'i' && (size == 1 || size == 2 || size == 4 || size == 8))
    a->kind = HR_ZARR_KIND_INT;
  else if (kind == 'u' && (size == 1 || size == 2 || size == 4 || size == 8))
    a->kind = HR_ZARR_KIND_UINT;
  else if (kind == 'b' && size == 1)
    a->kind = HR_ZARR_KIND_BOOL;
  else
    goto unsupported;
  return;
unsupported:
  a->kind = HR_ZARR_KIND_OTHER;
  /* TRANSLATORS: %s: a zarr data type such as "|O" or "<c8" */
  hr_zarr_set_unsupported (a, g_strdup_printf (_ ("data type “%s” is not a number"), dtype));
}

static void
hr_zarr_parse_v3_dtype (HrZarrArray *a, const char *dtype)
{
  static const struct
  {
    const char *name;
    HrZarrKind kind;
    guint size;
  } types[] = {
    { "bool", HR_ZARR_KIND_BOOL, 1 },     { "int8", HR_ZARR_KIND_INT, 1 },
    { "int16", HR_ZARR_KIND_INT, 2 },     { "int32", HR_ZARR_KIND_INT, 4 },
    { "int64", HR_ZARR_KIND_INT, 8 },     { "uint8", HR_ZARR_KIND_UINT, 1 },
    { "uint16", HR_ZARR_KIND_UINT, 2 },   { "uint32", HR_ZARR_KIND_UINT, 4 },
    { "uint64", HR_ZARR_KIND_UINT, 8 },   { "float16", HR_ZARR_KIND_FLOAT, 2 },
    { "float32", HR_ZARR_KIND_FLOAT, 4 }, { "float64", HR_ZARR_KIND_FLOAT, 8 },
  };

  a->dtype = g_strdup (dtype);
  if (strcmp (dtype, "string") == 0 || strcmp (dtype, "variable_length_utf8") == 0)
    {
      a->kind = HR_ZARR_KIND_STRING;
      a->not_number = g_strdup_printf (_ ("data type “%s” is not a number"), dtype);
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    if (strcmp (dtype, types[i].name) == 0)
      {
        a->kind = types[i].kind;
        a->item_size = types[i].size;
        return;
      }
  a->kind = HR_ZARR_KIND_OTHER;
  hr_zarr_set_unsupported (a, g_strdup_printf (_ ("data type “%s” is not a number"), dtype));
}

/* Reinterprets the low @size bytes of @bits as a value of the array's type. */
static double
hr_zarr_bits_value (const HrZarrArray *a, guint64 bits)
{
  if (a->kind == HR_ZARR_KIND_FLOAT && a->item_size == 4)
    {
      guint32 b = (guint32)bits;
      float f;

      memcpy (&f, &b, sizeof f);
      return f;
    }
  if (a->kind == HR_ZARR_KIND_FLOAT && a->item_size == 8)
    {
      double d;

      memcpy (&d, &bits, sizeof d);
      return d;
    }
  return (double)bits;
}

static double hr_zarr_half (guint16 h);

/* The fill value: a number, "NaN", "Infinity", "-Infinity", "0x…" (v3: the value's bits),
 * true/false, or null (v2: zero). */
static gboolean
hr_zarr_parse_fill (HrZarrArray *a, JsonNode *n)
{
  const char *s;

  a->fill = 0;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (a->kind == HR_ZARR_KIND_STRING)
    {
      /* a string, or (zarr-python v2 object arrays) 0 */
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
        a->fill_string = g_strdup (json_node_get_string (n));
      else if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
               || json_node_get_int (n) != 0)
        return FALSE;
      else
        a->fill_string = g_strdup ("");
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n))
    return a->kind == HR_ZARR_KIND_OTHER;
  switch (json_node_get_value_type (n))
    {
      case G_TYPE_INT64:
        a->fill = (double)json_node_get_int (n);
        return TRUE;
      case G_TYPE_DOUBLE:
        a->fill = json_node_get_double (n);
        return TRUE;
      case G_TYPE_BOOLEAN:
        a->fill = json_node_get_boolean (n) ? 1 : 0;
        return TRUE;
      case G_TYPE_STRING:
        s = json_node_get_string (n);
        if (strcmp (s, "NaN") == 0)
          a->fill = NAN;
        else if (strcmp (s, "Infinity") == 0)
          a->fill = INFINITY;
        else if (strcmp (s, "-Infinity") == 0)
          a->fill = -INFINITY;
        else if (g_str_has_prefix (s, "0x") && strlen (s) > 2 && strlen (s) <= 18)
          {
            guint64 bits;
            char *end;

            bits = g_ascii_strtoull (s + 2, &end, 16);
            if (*end != '\0')
              return FALSE;
            a->fill = a->kind == HR_ZARR_KIND_FLOAT && a->item_size == 2
                          ? hr_zarr_half ((guint16)bits)
                          : hr_zarr_bits_value (a, bits);
          }
        else
          return a->kind == HR_ZARR_KIND_OTHER; /* strings of string arrays */
        return TRUE;
      default:
        return FALSE;
    }
}

static gboolean
hr_zarr_codec_from_name (const char *name, HrZarrCodec *codec)
{
  if (strcmp (name, "blosc") == 0)
    *codec = HR_ZARR_CODEC_BLOSC;
  else if (strcmp (name, "zstd") == 0)
    *codec = HR_ZARR_CODEC_ZSTD;
  else if (strcmp (name, "gzip") == 0)
    *codec = HR_ZARR_CODEC_GZIP;
  else if (strcmp (name, "zlib") == 0)
    *codec = HR_ZARR_CODEC_ZLIB;
  else
    return FALSE;
  return TRUE;
}

/* A compressor's description for `headrank info`: "blosc(lz4, shuffle)", "zstd", … */
static void
hr_zarr_describe_codec (GString *s, const char *name, JsonObject *config)
{
  const char *cname = hr_json_string_member (config, "cname");
  JsonNode *shuffle = config != NULL ? json_object_get_member (config, "shuffle") : NULL;

  g_string_append (s, name);
  if (cname != NULL)
    {
      const char *sh = NULL;
      gint64 v;

      if (hr_json_node_int (shuffle, &v))
        sh = v == 0 ? "noshuffle" : v == 1 ? "shuffle" : v == 2 ? "bitshuffle" : "?";
      else if (shuffle != NULL)
        sh = hr_json_string_member (config, "shuffle");
      g_string_append_printf (s, "(%s%s%s)", cname, sh != NULL ? ", " : "", sh != NULL ? sh : "");
    }
}

static gboolean
hr_zarr_parse_v2 (HrZarrArray *a, JsonObject *meta)
{
  const char *dtype = hr_json_string_member (meta, "dtype");
  const char *order = hr_json_string_member (meta, "order");
  const char *sep = hr_json_string_member (meta, "dimension_separator");
  JsonNode *compressor = json_object_get_member (meta, "compressor");
  JsonNode *filters = json_object_get_member (meta, "filters");
  g_autoptr (GString) codecs = g_string_new (NULL);
  guint n_chunks;

  a->format = 2;
  if (dtype == NULL || !hr_json_dims (hr_json_array_member (meta, "shape"), a->shape, &a->n_dims)
      || !hr_json_dims (hr_json_array_member (meta, "chunks"), a->chunks, &n_chunks)
      || n_chunks != a->n_dims)
    return FALSE;
  if (order != NULL && strcmp (order, "C") != 0 && strcmp (order, "F") != 0)
    return FALSE;
  a->fortran = order != NULL && strcmp (order, "F") == 0;
  if (sep != NULL && strcmp (sep, ".") != 0 && strcmp (sep, "/") != 0)
    return FALSE;
  a->separator = sep != NULL ? sep[0] : '.';
  hr_zarr_parse_v2_dtype (a, dtype);
  if (!hr_zarr_parse_fill (a, json_object_get_member (meta, "fill_value")))
    return FALSE;

  if (filters != NULL && JSON_NODE_HOLDS_ARRAY (filters)
      && json_array_get_length (json_node_get_array (filters)) > 0)
    {
      JsonNode *first = json_array_get_element (json_node_get_array (filters), 0);
      const char *id = JSON_NODE_HOLDS_OBJECT (first)
                           ? hr_json_string_member (json_node_get_object (first), "id")
                           : NULL;

      g_string_append_printf (codecs, "filter %s", id != NULL ? id : "?");
      if (a->kind == HR_ZARR_KIND_STRING && g_strcmp0 (id, "vlen-utf8") == 0
          && json_array_get_length (json_node_get_array (filters)) == 1)
        a->vlen_utf8 = TRUE;
      else
        /* TRANSLATORS: %s: the name of a zarr filter, such as "delta" or "vlen-utf8" */
        hr_zarr_set_unsupported (
            a, g_strdup_printf (_ ("filter “%s” is not supported"), id != NULL ? id : "?"));
    }
  else if (filters != NULL && !JSON_NODE_HOLDS_NULL (filters) && !JSON_NODE_HOLDS_ARRAY (filters))
    return FALSE;
  if (a->kind == HR_ZARR_KIND_STRING && !a->vlen_utf8)
    /* TRANSLATORS: %s: a zarr data type ("|O": Python objects) */
    hr_zarr_set_unsupported (
        a, g_strdup_printf (_ ("data type “%s” without the vlen-utf8 filter is not supported"),
                            dtype));

  if (compressor == NULL || JSON_NODE_HOLDS_NULL (compressor))
    a->codec = HR_ZARR_CODEC_NONE;
  else if (JSON_NODE_HOLDS_OBJECT (compressor))
    {
      JsonObject *c = json_node_get_object (compressor);
      const char *id = hr_json_string_member (c, "id");

      if (id == NULL)
        return FALSE;
      if (codecs->len > 0)
        g_string_append (codecs, " + ");
      hr_zarr_describe_codec (codecs, id, c);
      if (!hr_zarr_codec_from_name (id, &a->codec))
        /* TRANSLATORS: %s: the name of a zarr compressor or codec, such as "lzma" */
        hr_zarr_set_unsupported (a, g_strdup_printf (_ ("compressor “%s” is not supported"), id));
    }
  else
    return FALSE;
  a->codecs = g_string_free (g_steal_pointer (&codecs), FALSE);
  if (a->codecs[0] == '\0')
    {
      g_free (a->codecs);
      a->codecs = g_strdup ("none");
    }
  return TRUE;
}

/* The index of a shard: bytes (little-endian) and an optional crc32c. */
static gboolean
hr_zarr_parse_index_codecs (HrZarrArray *a, JsonArray *list)
{
  guint n = list != NULL ? json_array_get_length (list) : 0;

  if (n == 0 || n > 2)
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (list, i);
      JsonObject *codec = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *name = hr_json_string_member (codec, "name");
      const char *endian
          = hr_json_string_member (hr_json_object_member (codec, "configuration"), "endian");

      if (name == NULL)
        return FALSE;
      if (i == 0 && strcmp (name, "bytes") == 0)
        {
          if (endian != NULL && strcmp (endian, "little") != 0)
            {
              hr_zarr_set_unsupported (a,
                                       g_strdup (_ ("a big-endian shard index is not supported")));
              return TRUE;
            }
        }
      else if (i == 1 && strcmp (name, "crc32c") == 0)
        a->index_crc32c = TRUE;
      else
        {
          /* TRANSLATORS: %s: the name of a zarr codec, such as "sharding_indexed" or "crc32c" */
          hr_zarr_set_unsupported (a, g_strdup_printf (_ ("codec “%s” is not supported"), name));
          return TRUE;
        }
    }
  return TRUE;
}

/* A v3 codec list: [transpose] bytes [blosc|zstd|gzip] [crc32c], or (when @outer) one
 * sharding_indexed codec whose inner codecs are such a list. FALSE when the list is
 * invalid; a codec headrank does not have makes the array unsupported. */
static gboolean
hr_zarr_parse_codecs (HrZarrArray *a, JsonArray *list, GString *codecs, gboolean outer)
{
  guint n_list = json_array_get_length (list);
  gboolean have_bytes = FALSE, have_compressor = FALSE;

  for (guint i = 0; i < n_list; i++)
    {
      JsonNode *node = json_array_get_element (list, i);
      JsonObject *codec, *config;
      const char *cname;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return FALSE;
      codec = json_node_get_object (node);
      cname = hr_json_string_member (codec, "name");
      config = hr_json_object_member (codec, "configuration");
      if (cname == NULL)
        return FALSE;
      if (codecs->len > 0 && codecs->str[codecs->len - 1] != '(')
        g_string_append (codecs, " + ");
      if (strcmp (cname, "sharding_indexed") == 0 && outer && n_list == 1)
        {
          JsonArray *inner = hr_json_array_member (config, "codecs");
          const char *location = hr_json_string_member (config, "index_location");
          guint n_inner;

          if (inner == NULL
              || !hr_json_dims (hr_json_array_member (config, "chunk_shape"), a->inner, &n_inner)
              || n_inner != a->n_dims)
            return FALSE;
          for (guint d = 0; d < a->n_dims; d++)
            if (a->inner[d] == 0 || a->chunks[d] % a->inner[d] != 0)
              return FALSE;
          if (location != NULL && strcmp (location, "end") != 0 && strcmp (location, "start") != 0)
            return FALSE;
          a->sharded = TRUE;
          a->index_at_start = location != NULL && strcmp (location, "start") == 0;
          if (!hr_zarr_parse_index_codecs (a, hr_json_array_member (config, "index_codecs")))
            return FALSE;
          g_string_append (codecs, "sharding(");
          if (!hr_zarr_parse_codecs (a, inner, codecs, FALSE))
            return FALSE;
          g_string_append (codecs, ")");
          return TRUE;
        }
      if (strcmp (cname, "transpose") == 0 && !have_bytes)
        {
          JsonArray *order = hr_json_array_member (config, "order");
          guint64 perm[HR_ZARR_MAX_DIMS];
          guint n_perm = 0;

          if (!hr_json_dims (order, perm, &n_perm) || n_perm != a->n_dims)
            return FALSE;
          if (a->n_dims == 2 && perm[0] == 1 && perm[1] == 0)
            a->fortran = !a->fortran;
          else
            for (guint k = 0; k < n_perm; k++)
              if (perm[k] != k)
                {
                  hr_zarr_set_unsupported (
                      a, g_strdup (_ ("a transpose other than of the two axes of a matrix is not "
                                      "supported")));
                  break;
                }
          g_string_append_printf (codecs, "transpose(%s)", a->fortran ? "F" : "C");
        }
      else if (strcmp (cname, "vlen-utf8") == 0 && !have_bytes && a->kind == HR_ZARR_KIND_STRING)
        {
          have_bytes = TRUE;
          a->vlen_utf8 = TRUE;
          g_string_append (codecs, "vlen-utf8");
        }
      else if (strcmp (cname, "bytes") == 0 && !have_bytes && a->kind != HR_ZARR_KIND_STRING)
        {
          const char *endian = hr_json_string_member (config, "endian");

          have_bytes = TRUE;
          if (endian != NULL && strcmp (endian, "big") != 0 && strcmp (endian, "little") != 0)
            return FALSE;
          a->big_endian = endian != NULL && strcmp (endian, "big") == 0;
          g_string_append_printf (codecs, "bytes(%s)", a->big_endian ? "big" : "little");
        }
      else if (have_bytes && !have_compressor && !a->crc32c
               && hr_zarr_codec_from_name (cname, &a->codec))
        {
          have_compressor = TRUE;
          hr_zarr_describe_codec (codecs, cname, config);
        }
      else if (have_bytes && !a->crc32c && strcmp (cname, "crc32c") == 0)
        {
          a->crc32c = TRUE;
          g_string_append (codecs, "crc32c");
        }
      else
        {
          g_string_append (codecs, cname);
          /* TRANSLATORS: %s: the name of a zarr codec, such as "sharding_indexed" or "crc32c" */
          hr_zarr_set_unsupported (a, g_strdup_printf (_ ("codec “%s” is not supported"), cname));
        }
    }
  if (!have_bytes && a->kind == HR_ZARR_KIND_STRING)
    hr_zarr_set_unsupported (a, g_strdup (_ ("no “vlen-utf8” codec")));
  else if (!have_bytes)
    hr_zarr_set_unsupported (a, g_strdup (_ ("no “bytes” codec")));
  return TRUE;
}

static gboolean
hr_zarr_parse_v3 (HrZarrArray *a, JsonObject *meta)
{
  const char *dtype = hr_json_string_member (meta, "data_type");
  JsonObject *grid = hr_json_object_member (meta, "chunk_grid");
  JsonObject *keys = hr_json_object_member (meta, "chunk_key_encoding");
  JsonArray *list = hr_json_array_member (meta, "codecs");
  g_autoptr (GString) codecs = g_string_new (NULL);
  const char *name, *sep;
  guint n_chunks;

  a->format = 3;
  if (dtype == NULL || grid == NULL || keys == NULL || list == NULL
      || !hr_json_dims (hr_json_array_member (meta, "shape"), a->shape, &a->n_dims))
    return FALSE;
  name = hr_json_string_member (grid, "name");
  if (name == NULL)
    return FALSE;
  if (strcmp (name, "regular") != 0)
    /* TRANSLATORS: %s: the name of a zarr chunk grid */
    hr_zarr_set_unsupported (a, g_strdup_printf (_ ("chunk grid “%s” is not supported"), name));
  else if (!hr_json_dims (
               hr_json_array_member (hr_json_object_member (grid, "configuration"), "chunk_shape"),
               a->chunks, &n_chunks)
           || n_chunks != a->n_dims)
    return FALSE;

  name = hr_json_string_member (keys, "name");
  sep = hr_json_string_member (hr_json_object_member (keys, "configuration"), "separator");
  if (name == NULL || (sep != NULL && strcmp (sep, ".") != 0 && strcmp (sep, "/") != 0))
    return FALSE;
  if (strcmp (name, "default") == 0)
    {
      a->v3_default_keys = TRUE;
      a->separator = sep != NULL ? sep[0] : '/';
    }
  else if (strcmp (name, "v2") == 0)
    a->separator = sep != NULL ? sep[0] : '.';
  else
    /* TRANSLATORS: %s: the name of a zarr chunk key encoding */
    hr_zarr_set_unsupported (
        a, g_strdup_printf (_ ("chunk key encoding “%s” is not supported"), name));

  hr_zarr_parse_v3_dtype (a, dtype);
  if (!hr_zarr_parse_fill (a, json_object_get_member (meta, "fill_value")))
    return FALSE;

  if (!hr_zarr_parse_codecs (a, list, codecs, TRUE))
    return FALSE;
  a->codecs = g_string_free (g_steal_pointer (&codecs), FALSE);
  return TRUE;
}

/* Parses one array's metadata (v2 .zarray object or v3 zarr.json object). */
static HrZarrArray *
hr_zarr_array_parse (const char *store, const char *path, JsonObject *meta, guint format,
                     GError **error)
{
  g_autoptr (GPtrArray) keep = NULL;
  HrZarrArray *a = g_new0 (HrZarrArray, 1);
  gboolean ok;

  a->path = g_strdup (path);
  ok = format == 2 ? hr_zarr_parse_v2 (a, meta) : hr_zarr_parse_v3 (a, meta);
  if (ok && a->unsupported == NULL)
    for (guint d = 0; d < a->n_dims; d++)
      if (a->chunks[d] == 0)
        ok = FALSE;
  if (ok && a->unsupported == NULL && (a->n_dims == 0 || a->n_dims > 2))
    /* TRANSLATORS: %u: a number of dimensions */
    a->unsupported = g_strdup_printf (_ ("%u dimensions (headrank reads 1 or 2)"), a->n_dims);
  if (!ok)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: an array in it ("/" for the root) */
                   _ ("%s: the metadata of array “%s” are invalid"), store,
                   path[0] != '\0' ? path : "/");
      hr_zarr_array_free (a);
      return NULL;
    }
  if (a->codecs == NULL)
    a->codecs = g_strdup ("none");
  return a;
}

/* -- the store ------------------------------------------------------------------------------ */

static void
hr_zarr_store_free (HrZarrStore *store)
{
  g_free (store->path);
  g_clear_pointer (&store->arrays, g_ptr_array_unref);
  g_clear_pointer (&store->group_attrs, g_hash_table_unref);
  g_clear_pointer (&store->array_attrs, g_hash_table_unref);
  g_free (store->sparse_x);
  g_free (store);
}

HrZarrStore *
hr_zarr_store_ref (HrZarrStore *store)
{
  g_atomic_ref_count_inc (&store->ref_count);
  return store;
}

void
hr_zarr_store_unref (HrZarrStore *store)
{
  if (store != NULL && g_atomic_ref_count_dec (&store->ref_count))
    hr_zarr_store_free (store);
}

static gboolean
hr_zarr_add_array (HrZarrStore *store, const char *path, JsonObject *meta, guint format,
                   GError **error)
{
  HrZarrArray *a;
  JsonObject *attrs;

  for (guint i = 0; i < store->arrays->len; i++)
    if (strcmp (((HrZarrArray *)store->arrays->pdata[i])->path, path) == 0)
      return TRUE;
  a = hr_zarr_array_parse (store->path, path, meta, format, error);
  if (a == NULL)
    return FALSE;
  g_ptr_array_add (store->arrays, a);
  attrs = format == 3 ? hr_json_object_member (meta, "attributes") : NULL;
  if (attrs != NULL)
    g_hash_table_replace (store->array_attrs, g_strdup (path), json_object_ref (attrs));
  return TRUE;
}

static void
hr_zarr_add_group_attrs (HrZarrStore *store, const char *path, JsonObject *attrs)
{
  if (attrs != NULL)
    g_hash_table_replace (store->group_attrs, g_strdup (path), json_object_ref (attrs));
}

static char *
hr_zarr_join (const char *prefix, const char *name)
{
  return prefix[0] != '\0' ? g_strconcat (prefix, "/", name, NULL) : g_strdup (name);
}

/* v3 consolidated metadata: a "metadata" object of path → node metadata; zarr-python nests a
 * group's own consolidated metadata inside it too. */
static gboolean
hr_zarr_read_v3_consolidated (HrZarrStore *store, const char *prefix, JsonObject *metadata,
                              guint depth, GError **error)
{
  g_autoptr (GList) names = json_object_get_members (metadata);

  if (depth > HR_ZARR_MAX_GROUP_DEPTH)
    return TRUE;
  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonObject *node = hr_json_object_member (metadata, name);
      const char *type = hr_json_string_member (node, "node_type");
      g_autofree char *path = hr_zarr_join (prefix, name);

      if (node == NULL || type == NULL || !hr_zarr_path_ok (name))
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       /* TRANSLATORS: %s: the store; %s: a path inside it */
                       _ ("%s: consolidated metadata of “%s” are invalid"), store->path, name);
          return FALSE;
        }
      if (strcmp (type, "array") == 0)
        {
          if (!hr_zarr_add_array (store, path, node, 3, error))
            return FALSE;
        }
      else
        {
          JsonObject *inner = hr_json_object_member (
              hr_json_object_member (node, "consolidated_metadata"), "metadata");

          hr_zarr_add_group_attrs (store, path, hr_json_object_member (node, "attributes"));
          if (inner != NULL && !hr_zarr_read_v3_consolidated (store, path, inner, depth + 1, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* v2 .zmetadata: {"metadata": {"a/.zarray": {…}, "a/.zattrs": {…}, ".zgroup": {…}}} */
static gboolean
hr_zarr_read_v2_consolidated (HrZarrStore *store, JsonObject *root, GError **error)
{
  JsonObject *metadata = hr_json_object_member (root, "metadata");
  g_autoptr (GList) names = NULL;

  if (metadata == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   _ ("%s: .zmetadata has no “metadata” object"), store->path);
      return FALSE;
    }
  names = json_object_get_members (metadata);
  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *key = l->data;
      const char *slash = strrchr (key, '/');
      const char *file = slash != NULL ? slash + 1 : key;
      g_autofree char *path = g_strndup (key, slash != NULL ? (gsize)(slash - key) : 0);
      JsonObject *node = hr_json_object_member (metadata, key);

      if (node == NULL || !hr_zarr_path_ok (path))
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       _ ("%s: consolidated metadata of “%s” are invalid"), store->path, key);
          return FALSE;
        }
      if (strcmp (file, ".zarray") == 0)
        {
          if (!hr_zarr_add_array (store, path, node, 2, error))
            return FALSE;
        }
      else if (strcmp (file, ".zattrs") == 0)
        {
          /* attributes of a group or of an array: kept for both lookups */
          hr_zarr_add_group_attrs (store, path, node);
          g_hash_table_replace (store->array_attrs, g_strdup (path), json_object_ref (node));
        }
    }
  return TRUE;
}

/* Walks the folders of a store without consolidated metadata. */
static gboolean
hr_zarr_walk (HrZarrStore *store, const char *prefix, guint depth, GError **error)
{
  g_autofree char *dir = hr_zarr_join (store->path, prefix);
  g_autofree char *v3 = g_build_filename (dir, "zarr.json", NULL);
  g_autofree char *zarray = g_build_filename (dir, ".zarray", NULL);
  g_autofree char *zgroup = g_build_filename (dir, ".zgroup", NULL);
  g_autofree char *zattrs = g_build_filename (dir, ".zattrs", NULL);
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonNode) attrs = NULL;
  g_autoptr (GDir) d = NULL;
  gboolean exists;
  const char *name;

  if (depth > HR_ZARR_MAX_GROUP_DEPTH)
    return TRUE;
  node = hr_zarr_load_json (store->path, v3, &exists, error);
  if (exists && node == NULL)
    return FALSE;
  if (node != NULL)
    {
      JsonObject *o = json_node_get_object (node);
      const char *type = hr_json_string_member (o, "node_type");
      gint64 format = 0;

      if (!hr_json_node_int (json_object_get_member (o, "zarr_format"), &format) || format != 3
          || type == NULL || (strcmp (type, "array") != 0 && strcmp (type, "group") != 0))
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       _ ("%s: metadata %s is not zarr v3 metadata"), store->path, v3);
          return FALSE;
        }
      if (strcmp (type, "array") == 0)
        return hr_zarr_add_array (store, prefix, o, 3, error);
      hr_zarr_add_group_attrs (store, prefix, hr_json_object_member (o, "attributes"));
    }
  else
    {
      attrs = hr_zarr_load_json (store->path, zattrs, &exists, error);
      if (exists && attrs == NULL)
        return FALSE;
      node = hr_zarr_load_json (store->path, zarray, &exists, error);
      if (exists && node == NULL)
        return FALSE;
      if (node != NULL)
        {
          if (attrs != NULL)
            g_hash_table_replace (store->array_attrs, g_strdup (prefix),
                                  json_object_ref (json_node_get_object (attrs)));
          return hr_zarr_add_array (store, prefix, json_node_get_object (node), 2, error);
        }
      if (!g_file_test (zgroup, G_FILE_TEST_IS_REGULAR))
        return TRUE; /* not a zarr node: skipped */
      if (attrs != NULL)
        hr_zarr_add_group_attrs (store, prefix, json_node_get_object (attrs));
    }

  d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return TRUE;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *child = g_build_filename (dir, name, NULL);
      g_autofree char *path = NULL;

      if (name[0] == '.' || !g_file_test (child, G_FILE_TEST_IS_DIR))
        continue;
      path = hr_zarr_join (prefix, name);
      if (!hr_zarr_walk (store, path, depth + 1, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hr_zarr_is_store (const char *path)
{
  static const char *const markers[] = { "zarr.json", ".zgroup", ".zarray", ".zmetadata" };

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autofree char *file = g_build_filename (path, markers[i], NULL);

      if (g_file_test (file, G_FILE_TEST_EXISTS))
        return TRUE;
    }
  return FALSE;
}

static gint
hr_zarr_array_compare (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(HrZarrArray *const *)a)->path, (*(HrZarrArray *const *)b)->path);
}

static const char *
hr_zarr_encoding_type (GHashTable *table, const char *path)
{
  JsonObject *attrs = g_hash_table_lookup (table, path);

  return hr_json_string_member (attrs, "encoding-type");
}

/* Gives each array its role in the store's layout. */
static void
hr_zarr_assign_roles (HrZarrStore *store)
{
  const char *root_type = hr_zarr_encoding_type (store->group_attrs, "");
  const char *x_type = hr_zarr_encoding_type (store->group_attrs, "X");
  int features = -1, projections = -1, x;

  if (root_type != NULL && strcmp (root_type, "anndata") == 0)
    {
      int backbone = hr_zarr_store_find_array (store, "obsm/X_backbone");

      store->layout = HR_ZARR_LAYOUT_ANNDATA;
      if (x_type != NULL && strcmp (x_type, "array") != 0)
        store->sparse_x = g_strdup (x_type);
      x = hr_zarr_store_find_array (store, "X");
      if (backbone >= 0)
        {
          features = backbone;
          projections = x;
        }
      else
        {
          features = x;
          projections = hr_zarr_store_find_array (store, "obsm/X_projections");
        }
      for (guint i = 0; i < store->arrays->len; i++)
        {
          HrZarrArray *a = store->arrays->pdata[i];

          if (g_str_has_prefix (a->path, "obs/"))
            a->role = HR_ZARR_ROLE_OBS;
        }
    }
  else if (store->arrays->len == 1 && ((HrZarrArray *)store->arrays->pdata[0])->path[0] == '\0')
    {
      store->layout = HR_ZARR_LAYOUT_ARRAY;
      features = 0;
    }
  else
    {
      features = hr_zarr_store_find_array (store, "features");
      projections = hr_zarr_store_find_array (store, "projections");
      store->layout
          = features >= 0 || projections >= 0 ? HR_ZARR_LAYOUT_XARRAY : HR_ZARR_LAYOUT_GROUP;
    }
  if (features >= 0)
    ((HrZarrArray *)store->arrays->pdata[features])->role = HR_ZARR_ROLE_FEATURES;
  if (projections >= 0)
    ((HrZarrArray *)store->arrays->pdata[projections])->role = HR_ZARR_ROLE_PROJECTIONS;
}

/* hr_zarr_store_open:
 * Opens the zarr store (v2 or v3) in the folder @path and reads its metadata: consolidated
 * metadata when the store has them (.zmetadata, or zarr.json's consolidated_metadata), else
 * each group's and array's own.
 */
HrZarrStore *
hr_zarr_store_open (const char *path, GError **error)
{
  g_autoptr (HrZarrStore) store = g_new0 (HrZarrStore, 1);
  g_autofree char *zmetadata = g_build_filename (path, ".zmetadata", NULL);
  g_autofree char *v3 = g_build_filename (path, "zarr.json", NULL);
  g_autoptr (JsonNode) node = NULL;
  JsonObject *consolidated = NULL;
  gboolean exists;
  GStatBuf st;

  g_return_val_if_fail (path != NULL, NULL);
  g_atomic_ref_count_init (&store->ref_count);
  store->path = g_strdup (path);
  store->arrays = g_ptr_array_new_with_free_func ((GDestroyNotify)hr_zarr_array_free);
  store->group_attrs
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_object_unref);
  store->array_attrs
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_object_unref);

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (!hr_zarr_is_store (path))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                   _ ("%s: not a zarr store (no zarr.json, .zgroup, .zarray or .zmetadata)"), path);
      return NULL;
    }

  node = hr_zarr_load_json (path, v3, &exists, error);
  if (exists && node == NULL)
    return NULL;
  if (node != NULL)
    consolidated = hr_json_object_member (
        hr_json_object_member (json_node_get_object (node), "consolidated_metadata"), "metadata");
  if (consolidated != NULL && json_object_get_size (consolidated) > 0
      && g_strcmp0 (hr_json_string_member (json_node_get_object (node), "node_type"), "group") == 0)
    {
      hr_zarr_add_group_attrs (store, "",
                               hr_json_object_member (json_node_get_object (node), "attributes"));
      if (!hr_zarr_read_v3_consolidated (store, "", consolidated, 0, error))
        return NULL;
    }
  else
    {
      g_autoptr (JsonNode) zmeta = NULL;

      if (node == NULL)
        {
          zmeta = hr_zarr_load_json (path, zmetadata, &exists, error);
          if (exists && zmeta == NULL)
            return NULL;
        }
      if (zmeta != NULL)
        {
          if (!hr_zarr_read_v2_consolidated (store, json_node_get_object (zmeta), error))
            return NULL;
        }
      else if (!hr_zarr_walk (store, "", 0, error))
        return NULL;
    }

  g_ptr_array_sort (store->arrays, hr_zarr_array_compare);
  hr_zarr_assign_roles (store);
  return g_steal_pointer (&store);
}

const char *
hr_zarr_store_get_path (HrZarrStore *store)
{
  return store->path;
}

HrZarrLayout
hr_zarr_store_get_layout (HrZarrStore *store)
{
  return store->layout;
}

const char *
hr_zarr_layout_to_string (HrZarrLayout layout)
{
  switch (layout)
    {
      case HR_ZARR_LAYOUT_ARRAY:
        return "array";
      case HR_ZARR_LAYOUT_ANNDATA:
        return "anndata";
      case HR_ZARR_LAYOUT_XARRAY:
        return "xarray";
      case HR_ZARR_LAYOUT_GROUP:
      default:
        return "group";
    }
}

const char *
hr_zarr_role_to_string (HrZarrRole role)
{
  switch (role)
    {
      case HR_ZARR_ROLE_FEATURES:
        return "features";
      case HR_ZARR_ROLE_PROJECTIONS:
        return "projections";
      case HR_ZARR_ROLE_OBS:
        return "obs";
      case HR_ZARR_ROLE_NONE:
      default:
        return "-";
    }
}

guint
hr_zarr_store_get_n_arrays (HrZarrStore *store)
{
  return store->arrays->len;
}

#define HR_ZARR_ARRAY(store, i) ((const HrZarrArray *)(store)->arrays->pdata[i])

const char *
hr_zarr_store_get_array_path (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->path;
}

int
hr_zarr_store_find_array (HrZarrStore *store, const char *path)
{
  for (guint i = 0; i < store->arrays->len; i++)
    if (strcmp (HR_ZARR_ARRAY (store, i)->path, path) == 0)
      return (int)i;
  return -1;
}

guint
hr_zarr_array_get_format (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->format;
}

guint
hr_zarr_array_get_n_dims (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->n_dims;
}

const guint64 *
hr_zarr_array_get_shape (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->shape;
}

const guint64 *
hr_zarr_array_get_chunks (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->chunks;
}

const char *
hr_zarr_array_get_dtype (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->dtype;
}

gboolean
hr_zarr_array_get_fortran_order (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->fortran;
}

const char *
hr_zarr_array_get_codecs (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->codecs;
}

HrZarrRole
hr_zarr_array_get_role (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->role;
}

guint
hr_zarr_array_get_item_size (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->item_size;
}

gboolean
hr_zarr_array_is_float (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->kind == HR_ZARR_KIND_FLOAT;
}

const char *
hr_zarr_array_get_unsupported (HrZarrStore *store, guint i)
{
  return HR_ZARR_ARRAY (store, i)->unsupported != NULL ? HR_ZARR_ARRAY (store, i)->unsupported
                                                       : HR_ZARR_ARRAY (store, i)->not_number;
}

const char *
hr_zarr_store_get_role_path (HrZarrStore *store, HrZarrRole role, GError **error)
{
  if (role == HR_ZARR_ROLE_FEATURES && store->sparse_x != NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                   /* TRANSLATORS: %s: the store; %s: AnnData's encoding, such as "csr_matrix" */
                   _ ("%s: X is a sparse matrix (%s); headrank reads dense arrays only"),
                   store->path, store->sparse_x);
      return NULL;
    }
  for (guint i = 0; i < store->arrays->len; i++)
    if (HR_ZARR_ARRAY (store, i)->role == role)
      return HR_ZARR_ARRAY (store, i)->path;
  return NULL;
}

/* -- reading -------------------------------------------------------------------------------- */

static double
hr_zarr_half (guint16 h)
{
  guint32 exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double sign = (h & 0x8000) != 0 ? -1.0 : 1.0;

  if (exponent == 0x1f)
    return mantissa != 0 ? NAN : sign * INFINITY;
  if (exponent == 0)
    return sign * ldexp ((double)mantissa, -24);
  return sign * ldexp ((double)(mantissa | 0x400), (int)exponent - 25);
}

/* A double as float32 as numpy's astype(float32) makes it: beyond float32's range, ±inf. */
static inline float
hr_zarr_to_float (double v)
{
  if (v > FLT_MAX)
    return INFINITY;
  if (v < -FLT_MAX)
    return -INFINITY;
  return (float)v;
}

static inline guint64
hr_zarr_load_bits (const guint8 *p, guint size, gboolean big_endian)
{
  guint64 bits = 0;

  if (big_endian)
    for (guint k = 0; k < size; k++)
      bits = (bits << 8) | p[k];
  else
    for (guint k = size; k-- > 0;)
      bits = (bits << 8) | p[k];
  return bits;
}

static inline float
hr_zarr_element (const HrZarrArray *a, const guint8 *p)
{
  guint64 bits = hr_zarr_load_bits (p, a->item_size, a->big_endian);

  switch (a->kind)
    {
      case HR_ZARR_KIND_FLOAT:
        if (a->item_size == 2)
          return (float)hr_zarr_half ((guint16)bits);
        return hr_zarr_to_float (hr_zarr_bits_value (a, bits));
      case HR_ZARR_KIND_INT:
        {
          guint shift = 64 - 8 * a->item_size;
          gint64 v = (gint64)(bits << shift) >> shift;

          return (float)v;
        }
      case HR_ZARR_KIND_BOOL:
        return bits != 0 ? 1.0f : 0.0f;
      case HR_ZARR_KIND_UINT:
      case HR_ZARR_KIND_OTHER:
      default:
        return (float)bits;
    }
}

static void hr_zarr_worker (gpointer data, gpointer user_data);

/* The threads that decode a row of chunks: as many as there are processors (at most 8),
 * chunks in a row, and chunks of HR_ZARR_MAX_BUFFER bytes together (each thread has one);
 * a row of one chunk is decoded by c-blosc's own threads when it is blosc and large. */
static void
hr_zarr_reader_init_threads (HrZarrReader *reader)
{
  guint cpus = MIN (g_get_num_processors (), 8);
  guint threads = (guint)MIN ((gsize)cpus, MAX (reader->n_chunk_columns, 1));

  while (threads > 1 && reader->chunk_bytes > HR_ZARR_MAX_BUFFER / threads)
    threads--;
  reader->n_threads = threads;
  reader->n_scratch = threads;
  reader->scratch = g_new0 (HrZarrScratch, threads);
  reader->blosc_threads
      = reader->n_chunk_columns == 1 && reader->chunk_bytes >= ((gsize)1 << 20) ? (int)cpus : 1;
  reader->jobs = g_array_new (FALSE, FALSE, sizeof (HrZarrJob));
  g_mutex_init (&reader->lock);
  g_cond_init (&reader->done);
}

/* hr_zarr_reader_new:
 * A reader of the array @array_path: it must be 1- or 2-dimensional, of a number type, with
 * codecs headrank has. A 1-dimensional array reads as one column.
 */
HrZarrReader *
hr_zarr_reader_new (HrZarrStore *store, const char *array_path, GError **error)
{
  g_autoptr (HrZarrReader) reader = NULL;
  const HrZarrArray *a;
  int index = hr_zarr_store_find_array (store, array_path);
  gsize cache_size;

  if (index < 0)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                   /* TRANSLATORS: %s: the store; %s: an array path inside it */
                   _ ("%s: no array “%s” in the store"), store->path, array_path);
      return NULL;
    }
  a = HR_ZARR_ARRAY (store, index);
  if (a->unsupported != NULL || a->not_number != NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                   /* TRANSLATORS: %s: the store; %s: the array; %s: why it cannot be read */
                   _ ("%s: array “%s”: %s"), store->path, a->path[0] != '\0' ? a->path : "/",
                   a->unsupported != NULL ? a->unsupported : a->not_number);
      return NULL;
    }
  reader = g_new0 (HrZarrReader, 1);
  reader->store = hr_zarr_store_ref (store);
  reader->array = a;
  reader->dir
      = a->path[0] != '\0' ? g_build_filename (store->path, a->path, NULL) : g_strdup (store->path);
  reader->n_rows = a->shape[0];
  reader->n_columns = a->n_dims == 2 ? (gsize)a->shape[1] : 1;
  if (a->sharded)
    {
      /* the cache holds a row of inner chunks; a shard is read an inner chunk at a time */
      const guint64 *inner = a->inner;

      reader->chunk_dim0 = (gsize)inner[0];
      reader->chunk_columns = a->n_dims == 2 ? (gsize)inner[1] : 1;
      reader->per_shard_columns = a->n_dims == 2 ? (gsize)(a->chunks[1] / inner[1]) : 1;
      if (a->chunks[0] / inner[0] > G_MAXUINT32 || reader->per_shard_columns > G_MAXUINT32)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                       _ ("%s: array “%s”: its chunks are too large to address"), store->path,
                       a->path[0] != '\0' ? a->path : "/");
          return NULL;
        }
    }
  else
    {
      reader->chunk_dim0 = (gsize)a->chunks[0];
      reader->chunk_columns = a->n_dims == 2 ? (gsize)a->chunks[1] : 1;
      reader->per_shard_columns = 1;
    }
  reader->chunk_rows = (gsize)MIN ((guint64)reader->chunk_dim0, MAX (a->shape[0], 1));
  reader->n_chunk_columns
      = reader->n_columns == 0 ? 0 : (reader->n_columns - 1) / reader->chunk_columns + 1;
  reader->cached = G_MAXUINT64;
  if (a->shape[0] > G_MAXSIZE / 2 || (a->n_dims == 2 && a->shape[1] > G_MAXSIZE / 2)
      || !g_size_checked_mul (&reader->chunk_elements, reader->chunk_dim0, reader->chunk_columns)
      || !g_size_checked_mul (&reader->chunk_bytes, reader->chunk_elements, a->item_size)
      || !g_size_checked_mul (&cache_size, reader->chunk_rows, reader->n_columns)
      || !g_size_checked_mul (&cache_size, cache_size, sizeof (float)))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                   _ ("%s: array “%s”: its chunks are too large to address"), store->path,
                   a->path[0] != '\0' ? a->path : "/");
      return NULL;
    }
  /* TRANSLATORS: what is allocated, in "%s: %s of N bytes cannot be allocated" */
  reader->cache = hr_zarr_try_alloc (store->path, _ ("a row of chunks"), cache_size, error);
  if (reader->cache == NULL)
    return NULL;
  hr_zarr_reader_init_threads (reader);
  /* TRANSLATORS: what is allocated, in "%s: %s of N bytes cannot be allocated" */
  reader->scratch[0].decoded
      = hr_zarr_try_alloc (store->path, _ ("a chunk"), reader->chunk_bytes, error);
  if (reader->scratch[0].decoded == NULL)
    return NULL;
  /* the workers' chunks: fewer workers when they cannot be had */
  for (guint k = 1; k < reader->n_threads; k++)
    if ((reader->scratch[k].decoded = g_try_malloc (reader->chunk_bytes)) == NULL)
      reader->n_threads = k;
  if (reader->n_threads > 1)
    reader->pool
        = g_thread_pool_new (hr_zarr_worker, reader, (int)reader->n_threads - 1, FALSE, NULL);
  if (reader->pool == NULL)
    reader->n_threads = 1;
  return g_steal_pointer (&reader);
}

void
hr_zarr_reader_free (HrZarrReader *reader)
{
  if (reader == NULL)
    return;
  if (reader->pool != NULL)
    g_thread_pool_free (reader->pool, FALSE, TRUE);
  hr_zarr_store_unref (reader->store);
  g_free (reader->dir);
  g_free (reader->cache);
  g_free (reader->shard_index);
  for (guint k = 0; reader->scratch != NULL && k < reader->n_scratch; k++)
    {
      g_free (reader->scratch[k].encoded);
      g_free (reader->scratch[k].decoded);
      if (reader->scratch[k].zstd != NULL)
        ZSTD_freeDCtx (reader->scratch[k].zstd);
    }
  g_free (reader->scratch);
  if (reader->jobs != NULL)
    {
      /* made with the lock and the condition (hr_zarr_reader_init_threads) */
      g_array_unref (reader->jobs);
      g_mutex_clear (&reader->lock);
      g_cond_clear (&reader->done);
    }
  g_free (reader);
}

guint64
hr_zarr_reader_get_n_rows (HrZarrReader *reader)
{
  return reader->n_rows;
}

gsize
hr_zarr_reader_get_n_columns (HrZarrReader *reader)
{
  return reader->n_columns;
}

gsize
hr_zarr_reader_get_chunk_rows (HrZarrReader *reader)
{
  return reader->chunk_rows;
}

/* The file of chunk (@row, @column). */
static char *
hr_zarr_chunk_file (HrZarrReader *reader, guint64 row, guint64 column)
{
  const HrZarrArray *a = reader->array;
  char sep[2] = { a->separator, '\0' };
  g_autofree char *key = NULL;

  if (a->n_dims == 2)
    key = g_strdup_printf ("%" G_GUINT64_FORMAT "%s%" G_GUINT64_FORMAT, row, sep, column);
  else
    key = g_strdup_printf ("%" G_GUINT64_FORMAT, row);
  if (a->v3_default_keys)
    {
      char *with_prefix = g_strconcat ("c", sep, key, NULL);

      g_free (key);
      key = with_prefix;
    }
  if (a->separator == '/')
    return g_strconcat (reader->dir, "/", key, NULL);
  return g_build_filename (reader->dir, key, NULL);
}

/* CRC-32C (Castagnoli), as zarr's crc32c codec stores it (little-endian, after the data). */
static guint32
hr_zarr_crc32c (const guint8 *data, gsize length)
{
  static guint32 table[256];
  static gsize initialised;
  guint32 crc = 0xffffffffu;

  if (g_once_init_enter (&initialised))
    {
      for (guint32 i = 0; i < 256; i++)
        {
          guint32 c = i;

          for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
          table[i] = c;
        }
      g_once_init_leave (&initialised, TRUE);
    }
  for (gsize i = 0; i < length; i++)
    crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

static gboolean
hr_zarr_crc_ok (const guint8 *data, gsize length)
{
  return length >= 4
         && hr_zarr_crc32c (data, length - 4)
                == (guint32)hr_zarr_load_bits (data + length - 4, 4, FALSE);
}

/* Decodes one chunk's bytes into scratch->decoded, which they must fill exactly. */
static gboolean
hr_zarr_decode (HrZarrReader *reader, HrZarrScratch *scratch, const guint8 *src, gsize src_size,
                const char *file, GError **error)
{
  const HrZarrArray *a = reader->array;
  gsize want = reader->chunk_bytes;
  const char *what = NULL;

  if (a->crc32c)
    {
      if (!hr_zarr_crc_ok (src, src_size))
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       /* TRANSLATORS: %s: the store; %s: the chunk's file */
                       _ ("%s: chunk %s: the CRC-32C checksum does not match"), reader->store->path,
                       file);
          return FALSE;
        }
      src_size -= 4;
    }
  switch (a->codec)
    {
      case HR_ZARR_CODEC_NONE:
        if (src_size != want)
          what = "raw";
        else
          memcpy (scratch->decoded, src, want);
        break;
      case HR_ZARR_CODEC_BLOSC:
        {
          size_t nbytes = 0;
          int n;

          /* the header's sizes must fit the data before c-blosc reads it */
          if (src_size < BLOSC_MIN_HEADER_LENGTH
              || blosc_cbuffer_validate (src, src_size, &nbytes) != 0 || nbytes != want)
            what = "blosc";
          else
            {
              n = blosc_decompress_ctx (src, scratch->decoded, want, reader->blosc_threads);
              if (n < 0 || (gsize)n != want)
                what = "blosc";
            }
          break;
        }
      case HR_ZARR_CODEC_ZSTD:
        {
          size_t n;

          /* a context of its own per thread, made once: ZSTD_decompress makes one a call */
          if (scratch->zstd == NULL)
            scratch->zstd = ZSTD_createDCtx ();
          n = scratch->zstd != NULL
                  ? ZSTD_decompressDCtx (scratch->zstd, scratch->decoded, want, src, src_size)
                  : ZSTD_decompress (scratch->decoded, want, src, src_size);

          if (ZSTD_isError (n) || n != want)
            what = "zstd";
          break;
        }
      case HR_ZARR_CODEC_GZIP:
      case HR_ZARR_CODEC_ZLIB:
        {
          z_stream zs = { 0 };

          /* chunks are at most HR_ZARR_MAX_BUFFER and their data a quarter more: both fit
           * zlib's 32-bit counts, so that one call inflates the whole stream */
          what = a->codec == HR_ZARR_CODEC_GZIP ? "gzip" : "zlib";
          if (inflateInit2 (&zs, a->codec == HR_ZARR_CODEC_GZIP ? 16 + MAX_WBITS : MAX_WBITS)
              != Z_OK)
            break;
          zs.next_in = (Bytef *)src;
          zs.avail_in = (uInt)src_size;
          zs.next_out = scratch->decoded;
          zs.avail_out = (uInt)want;
          if (inflate (&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == want && zs.avail_in == 0)
            what = NULL;
          inflateEnd (&zs);
          break;
        }
    }
  if (what != NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: the chunk's file; %s: the codec; then the
                      number of bytes it should decode to */
                   _ ("%s: chunk %s: %s data do not decode to %zu bytes"), reader->store->path,
                   file, what, want);
      return FALSE;
    }
  return TRUE;
}

/* The largest encoded chunk accepted: a quarter more than its decoded size, and a little. */
static gsize
hr_zarr_max_encoded (HrZarrReader *reader)
{
  return reader->chunk_bytes + reader->chunk_bytes / 4 + 65536;
}

/* Copies a decoded chunk into @dst (rows of n_columns): @rows × @cols values at column @col0. */
static void
hr_zarr_store_decoded (HrZarrReader *reader, const guint8 *decoded, float *dst, gsize rows,
                       gsize col0, gsize cols)
{
  const HrZarrArray *a = reader->array;
  gsize c0 = reader->chunk_dim0;

  if (a->kind == HR_ZARR_KIND_FLOAT && a->item_size == 4 && !a->big_endian && !a->fortran
      && G_BYTE_ORDER == G_LITTLE_ENDIAN)
    for (gsize i = 0; i < rows; i++)
      memcpy (dst + i * reader->n_columns + col0, decoded + i * reader->chunk_columns * 4,
              cols * 4);
  else
    for (gsize i = 0; i < rows; i++)
      for (gsize j = 0; j < cols; j++)
        {
          gsize e = a->fortran ? j * c0 + i : i * reader->chunk_columns + j;

          dst[i * reader->n_columns + col0 + j] = hr_zarr_element (a, decoded + e * a->item_size);
        }
}

static void
hr_zarr_store_fill (HrZarrReader *reader, float *dst, gsize rows, gsize col0, gsize cols)
{
  float fill = hr_zarr_to_float (reader->array->fill);

  for (gsize i = 0; i < rows; i++)
    for (gsize j = 0; j < cols; j++)
      dst[i * reader->n_columns + col0 + j] = fill;
}

static gboolean
hr_zarr_read_error (HrZarrReader *reader, const char *file, int saved_errno, GError **error)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               /* TRANSLATORS: %s: the store; %s: the chunk's file; %s: the system's reason */
               _ ("%s: chunk %s cannot be read: %s"), reader->store->path, file,
               g_strerror (saved_errno));
  return FALSE;
}

/* Reads @length bytes at @offset of @fd into scratch->encoded. */
static gboolean
hr_zarr_pread (HrZarrReader *reader, HrZarrScratch *scratch, int fd, guint64 offset, gsize length,
               const char *file, GError **error)
{
  gsize done = 0;

  if (length > scratch->encoded_size)
    {
      guint8 *bigger
          = length <= HR_ZARR_MAX_BUFFER ? g_try_realloc (scratch->encoded, length) : NULL;

      if (bigger == NULL)
        {
          g_set_error (error, HR_STACK_ERROR,
                       length <= HR_ZARR_MAX_BUFFER ? HR_STACK_ERROR_NO_MEMORY
                                                    : HR_STACK_ERROR_TOO_LARGE,
                       _ ("%s: %s of %zu bytes cannot be allocated (limit %zu bytes)"),
                       reader->store->path, file, length, HR_ZARR_MAX_BUFFER);
          return FALSE;
        }
      scratch->encoded = bigger;
      scratch->encoded_size = length;
    }
  while (done < length)
    {
      gssize n = pread (fd, scratch->encoded + done, length - done, (off_t)(offset + done));

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return hr_zarr_read_error (reader, file, errno, error);
      if (n == 0)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TRUNCATED,
                       /* TRANSLATORS: %s: the store; %s: the chunk's file */
                       _ ("%s: chunk %s ends early"), reader->store->path, file);
          return FALSE;
        }
      done += (gsize)n;
    }
  return TRUE;
}

/* Opens a chunk's (or shard's) file: -1 with no error when it does not exist (the fill value),
 * -1 with an error when it cannot be read. */
static int
hr_zarr_open_chunk (HrZarrReader *reader, const char *file, guint64 *size, GError **error)
{
  struct stat st;
  int fd = g_open (file, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0)
    {
      if (errno != ENOENT && errno != ENOTDIR)
        hr_zarr_read_error (reader, file, errno, error);
      return -1;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: the chunk's file */
                   _ ("%s: chunk %s is not a regular file"), reader->store->path, file);
      close (fd);
      return -1;
    }
  *size = (guint64)st.st_size;
  return fd;
}

/* Decodes one chunk of a row into @dst: a chunk whose file is missing holds the fill value. */
static gboolean
hr_zarr_run_job (HrZarrReader *reader, HrZarrScratch *scratch, const HrZarrJob *job, float *dst,
                 gsize rows, GError **error)
{
  g_autofree char *file = hr_zarr_chunk_file (reader, job->file_row, job->file_column);
  g_autoptr (GError) local = NULL;
  guint64 size = 0, offset = job->offset, length = job->length;
  int fd = hr_zarr_open_chunk (reader, file, &size, &local);
  gboolean ok;

  if (fd < 0)
    {
      if (local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      /* a chunk never written holds the fill value */
      hr_zarr_store_fill (reader, dst, rows, job->col0, job->cols);
      return TRUE;
    }
  if (job->whole_file)
    {
      if (size > hr_zarr_max_encoded (reader))
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       /* TRANSLATORS: %s: the store; %s: the chunk's file; then its size */
                       _ ("%s: chunk %s is too large for its chunk (%" PRIu64 " bytes)"),
                       reader->store->path, file, size);
          close (fd);
          return FALSE;
        }
      offset = 0;
      length = size;
    }
  ok = hr_zarr_pread (reader, scratch, fd, offset, (gsize)length, file, error)
       && hr_zarr_decode (reader, scratch, scratch->encoded, (gsize)length, file, error);
  close (fd);
  if (ok)
    hr_zarr_store_decoded (reader, scratch->decoded, dst, rows, job->col0, job->cols);
  return ok;
}

/* Takes the row's jobs in order until none is left or one has failed. A job taken is always
 * run, so that every job before a failed one has run: the first failure is the same
 * whatever the threads' timing. */
static void
hr_zarr_take_jobs (HrZarrReader *reader, HrZarrScratch *scratch)
{
  for (;;)
    {
      gint i;

      if (g_atomic_int_get (&reader->failed))
        break;
      i = g_atomic_int_add (&reader->next_job, 1);
      if ((guint)i >= reader->jobs->len)
        break;
      if (!hr_zarr_run_job (reader, scratch, &g_array_index (reader->jobs, HrZarrJob, i),
                            reader->dst, reader->dst_rows, &reader->job_errors[i]))
        g_atomic_int_set (&reader->failed, 1);
    }
}

/* A worker of the pool: @data is its scratch's index. */
static void
hr_zarr_worker (gpointer data, gpointer user_data)
{
  HrZarrReader *reader = user_data;

  hr_zarr_take_jobs (reader, &reader->scratch[GPOINTER_TO_UINT (data)]);
  g_mutex_lock (&reader->lock);
  if (--reader->running == 0)
    g_cond_signal (&reader->done);
  g_mutex_unlock (&reader->lock);
}

/* Runs the row's jobs: on the caller's thread alone, or on it and the pool's workers. The
 * chunks fill disjoint columns of @dst; each thread decodes into a scratch of its own. */
static gboolean
hr_zarr_run_jobs (HrZarrReader *reader, float *dst, gsize rows, GError **error)
{
  guint n = reader->jobs->len;
  guint workers = n > 1 ? MIN (reader->n_threads - 1, n - 1) : 0;
  gboolean ok = TRUE;

  if (workers == 0)
    {
      for (guint i = 0; i < n; i++)
        if (!hr_zarr_run_job (reader, &reader->scratch[0],
                              &g_array_index (reader->jobs, HrZarrJob, i), dst, rows, error))
          return FALSE;
      return TRUE;
    }
  reader->dst = dst;
  reader->dst_rows = rows;
  reader->job_errors = g_new0 (GError *, n);
  reader->next_job = 0;
  reader->failed = 0;
  reader->running = workers;
  for (guint k = 1; k <= workers; k++)
    g_thread_pool_push (reader->pool, GUINT_TO_POINTER (k), NULL);
  hr_zarr_take_jobs (reader, &reader->scratch[0]);
  g_mutex_lock (&reader->lock);
  while (reader->running > 0)
    g_cond_wait (&reader->done, &reader->lock);
  g_mutex_unlock (&reader->lock);
  for (guint i = 0; i < n; i++)
    if (reader->job_errors[i] != NULL)
      {
        if (ok)
          g_propagate_error (error, reader->job_errors[i]);
        else
          g_error_free (reader->job_errors[i]);
        ok = FALSE;
      }
  g_clear_pointer (&reader->job_errors, g_free);
  reader->dst = NULL;
  return ok;
}

/* The jobs of one row of a sharded array's inner chunks, @row, from shard column @sj (its
 * index is read here); inner chunks the shard does not hold get the fill value in @dst. */
static gboolean
hr_zarr_plan_shard (HrZarrReader *reader, guint64 row, float *dst, gsize rows, gsize sj,
                    GError **error)
{
  const HrZarrArray *a = reader->array;
  HrZarrScratch *scratch = &reader->scratch[0];
  guint64 per_row = a->chunks[0] / a->inner[0];
  guint64 sr = row / per_row, ir = row % per_row;
  gsize first_column = sj * reader->per_shard_columns;
  gsize n_inner = MIN (reader->per_shard_columns, reader->n_chunk_columns - first_column);
  g_autofree char *file = hr_zarr_chunk_file (reader, sr, sj);
  g_autoptr (GError) local = NULL;
  guint64 size = 0, index_bytes, index_offset, n_entries;
  int fd;

  fd = hr_zarr_open_chunk (reader, file, &size, &local);
  if (fd < 0)
    {
      if (local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      for (gsize k = 0; k < n_inner; k++)
        {
          gsize col0 = (first_column + k) * reader->chunk_columns;

          hr_zarr_store_fill (reader, dst, rows, col0,
                              MIN (reader->chunk_columns, reader->n_columns - col0));
        }
      return TRUE;
    }

  /* the index: (offset, size) per inner chunk of the shard, in C order, then its CRC-32C */
  n_entries = per_row * reader->per_shard_columns;
  if (n_entries > G_MAXUINT64 / 16 - 1
      || (index_bytes = n_entries * 16 + (a->index_crc32c ? 4 : 0)) > size)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: the shard's file */
                   _ ("%s: shard %s is too short for its index"), reader->store->path, file);
      close (fd);
      return FALSE;
    }
  index_offset = a->index_at_start ? 0 : size - index_bytes;
  if (!hr_zarr_pread (reader, scratch, fd, index_offset, (gsize)index_bytes, file, error))
    {
      close (fd);
      return FALSE;
    }
  close (fd);
  if (a->index_crc32c && !hr_zarr_crc_ok (scratch->encoded, (gsize)index_bytes))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: the shard's file */
                   _ ("%s: shard %s: the CRC-32C checksum of its index does not match"),
                   reader->store->path, file);
      return FALSE;
    }
  /* only this row's entries are used */
  for (gsize k = 0; k < n_inner; k++)
    {
      const guint8 *entry = scratch->encoded + (ir * reader->per_shard_columns + k) * 16;
      guint64 offset = hr_zarr_load_bits (entry, 8, FALSE);
      guint64 length = hr_zarr_load_bits (entry + 8, 8, FALSE);
      HrZarrJob job = { sr, sj, offset, length, FALSE, 0, 0 };

      job.col0 = (first_column + k) * reader->chunk_columns;
      job.cols = MIN (reader->chunk_columns, reader->n_columns - job.col0);
      if (offset == G_MAXUINT64 && length == G_MAXUINT64)
        {
          hr_zarr_store_fill (reader, dst, rows, job.col0, job.cols);
          continue;
        }
      if (offset > size || length > size - offset || length > hr_zarr_max_encoded (reader))
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       /* TRANSLATORS: %s: the store; %s: the shard's file */
                       _ ("%s: shard %s: its index points outside the file"), reader->store->path,
                       file);
          return FALSE;
        }
      g_array_append_val (reader->jobs, job);
    }
  return TRUE;
}

/* Decodes chunk row @row into @dst (its rows × n_columns). */
static gboolean
hr_zarr_fill_rows (HrZarrReader *reader, guint64 row, float *dst, GError **error)
{
  const HrZarrArray *a = reader->array;
  guint64 first = row * reader->chunk_rows;
  gsize rows = (gsize)MIN ((guint64)reader->chunk_rows, reader->n_rows - first);

  g_array_set_size (reader->jobs, 0);
  if (a->sharded)
    {
      for (gsize sj = 0; sj * reader->per_shard_columns < reader->n_chunk_columns; sj++)
        if (!hr_zarr_plan_shard (reader, row, dst, rows, sj, error))
          return FALSE;
    }
  else
    for (gsize cj = 0; cj < reader->n_chunk_columns; cj++)
      {
        HrZarrJob job = { row, cj, 0, 0, TRUE, cj * reader->chunk_columns, 0 };

        job.cols = MIN (reader->chunk_columns, reader->n_columns - job.col0);
        g_array_append_val (reader->jobs, job);
      }
  return hr_zarr_run_jobs (reader, dst, rows, error);
}

gboolean
hr_zarr_reader_read_rows (HrZarrReader *reader, guint64 first, gsize n_rows, float *out,
                          GError **error)
{
  gsize done = 0;

  if (first > reader->n_rows || n_rows > reader->n_rows - first)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   /* TRANSLATORS: %s: the store; then a row range and the number of rows */
                   _ ("%s: rows %" PRIu64 "–%" PRIu64 " are beyond the array's %" PRIu64 " rows"),
                   reader->store->path, first, first + n_rows, reader->n_rows);
      return FALSE;
    }
  while (done < n_rows)
    {
      guint64 row = first + done;
      guint64 chunk_row = row / reader->chunk_rows;
      guint64 chunk_first = chunk_row * reader->chunk_rows;
      gsize offset = (gsize)(row - chunk_first);
      gsize take = MIN (reader->chunk_rows - offset, n_rows - done);
      gsize in_row = (gsize)MIN ((guint64)reader->chunk_rows, reader->n_rows - chunk_first);

      if (offset == 0 && take == in_row && chunk_row != reader->cached)
        {
          /* a whole row of chunks: decoded straight into the caller's rows */
          if (!hr_zarr_fill_rows (reader, chunk_row, out + done * reader->n_columns, error))
            return FALSE;
          done += take;
          continue;
        }
      if (chunk_row != reader->cached)
        {
          reader->cached = G_MAXUINT64;
          if (!hr_zarr_fill_rows (reader, chunk_row, reader->cache, error))
            return FALSE;
          reader->cached = chunk_row;
        }
      memcpy (out + done * reader->n_columns, reader->cache + offset * reader->n_columns,
              take * reader->n_columns * sizeof (float));
      done += take;
    }
  return TRUE;
}

/* -- columns: 1-dimensional arrays of numbers (read exactly) and of strings ------------------ */

HrZarrColumnType
hr_zarr_array_get_column_type (HrZarrStore *store, guint i)
{
  switch (HR_ZARR_ARRAY (store, i)->kind)
    {
      case HR_ZARR_KIND_FLOAT:
        return HR_ZARR_COLUMN_FLOAT;
      case HR_ZARR_KIND_STRING:
        return HR_ZARR_COLUMN_STRING;
      case HR_ZARR_KIND_INT:
      case HR_ZARR_KIND_UINT:
      case HR_ZARR_KIND_BOOL:
        return HR_ZARR_COLUMN_INTEGER;
      case HR_ZARR_KIND_OTHER:
      default:
        return HR_ZARR_COLUMN_OTHER;
    }
}

static JsonObject *
hr_zarr_attributes (HrZarrStore *store, const char *path)
{
  JsonObject *attrs = g_hash_table_lookup (store->group_attrs, path);

  return attrs != NULL ? attrs : g_hash_table_lookup (store->array_attrs, path);
}

const char *
hr_zarr_store_get_string_attribute (HrZarrStore *store, const char *path, const char *name)
{
  return hr_json_string_member (hr_zarr_attributes (store, path), name);
}

gboolean
hr_zarr_store_has_attributes (HrZarrStore *store, const char *path)
{
  return hr_zarr_attributes (store, path) != NULL;
}

char **
hr_zarr_store_get_strv_attribute (HrZarrStore *store, const char *path, const char *name)
{
  JsonArray *list = hr_json_array_member (hr_zarr_attributes (store, path), name);
  g_autoptr (GStrvBuilder) builder = NULL;

  if (list == NULL)
    return NULL;
  builder = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonNode *n = json_array_get_element (list, i);

      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
        return NULL;
      g_strv_builder_add (builder, json_node_get_string (n));
    }
  return g_strv_builder_end (builder);
}

/* A reader of a 1-dimensional array of numbers or strings: no cache of float32 rows; numbers
 * decode into reader->scratch[0].decoded, strings into a buffer of their own size. */
static HrZarrReader *
hr_zarr_column_reader_new (HrZarrStore *store, const char *path, GError **error)
{
  g_autoptr (HrZarrReader) reader = NULL;
  int index = hr_zarr_store_find_array (store, path);
  const HrZarrArray *a;

  if (index < 0)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                   _ ("%s: no array “%s” in the store"), store->path, path);
      return NULL;
    }
  a = HR_ZARR_ARRAY (store, index);
  if (a->unsupported != NULL || a->kind == HR_ZARR_KIND_OTHER)
    {
      /* (a data type headrank does not read makes the array unsupported when parsed) */
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED, _ ("%s: array “%s”: %s"),
                   store->path, path,
                   a->unsupported != NULL ? a->unsupported : _ ("its data type is not supported"));
      return NULL;
    }
  if (a->n_dims != 1)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                   /* TRANSLATORS: %s: the store; %s: an array; %u: its number of dimensions */
                   _ ("%s: array “%s” has %u dimensions; a column has 1"), store->path, path,
                   a->n_dims);
      return NULL;
    }

  reader = g_new0 (HrZarrReader, 1);
  reader->store = hr_zarr_store_ref (store);
  reader->array = a;
  reader->column = TRUE;
  reader->dir = g_build_filename (store->path, a->path, NULL);
  reader->n_rows = a->shape[0];
  reader->n_columns = 1;
  reader->chunk_dim0 = (gsize)(a->sharded ? a->inner[0] : a->chunks[0]);
  reader->chunk_columns = reader->per_shard_columns = reader->n_chunk_columns = 1;
  reader->chunk_rows = reader->chunk_dim0;
  reader->cached = reader->shard_cached = G_MAXUINT64;
  if (a->sharded && a->chunks[0] / a->inner[0] > G_MAXUINT32)
    reader->chunk_dim0 = 0;
  if (reader->chunk_dim0 == 0 || a->shape[0] > G_MAXSIZE / 16
      || !g_size_checked_mul (&reader->chunk_bytes, reader->chunk_dim0, MAX (a->item_size, 1)))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE,
                   _ ("%s: array “%s”: its chunks are too large to address"), store->path, path);
      return NULL;
    }
  reader->chunk_elements = reader->chunk_dim0;
  hr_zarr_reader_init_threads (reader); /* one thread: the column's chunks one by one */
  if (a->kind != HR_ZARR_KIND_STRING)
    {
      reader->scratch[0].decoded
          = hr_zarr_try_alloc (store->path, _ ("a chunk"), reader->chunk_bytes, error);
      if (reader->scratch[0].decoded == NULL)
        return NULL;
    }
  return g_steal_pointer (&reader);
}

/* Loads the stored bytes of chunk @c (through its shard) into reader->scratch[0].encoded: *@found
 * is FALSE when the chunk was never written (it holds the fill value). */
static gboolean
hr_zarr_column_load (HrZarrReader *reader, guint64 c, gsize max_size, gsize *size, gboolean *found,
                     char **file_out, GError **error)
{
  const HrZarrArray *a = reader->array;
  guint64 per_shard = a->sharded ? a->chunks[0] / a->inner[0] : 1;
  guint64 file_size = 0, offset = 0, length;
  g_autofree char *file = hr_zarr_chunk_file (reader, c / per_shard, 0);
  g_autoptr (GError) local = NULL;
  int fd;

  *found = FALSE;
  fd = hr_zarr_open_chunk (reader, file, &file_size, &local);
  if (fd < 0)
    {
      *file_out = g_steal_pointer (&file);
      if (local == NULL)
        return TRUE; /* never written */
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  length = file_size;
  if (a->sharded)
    {
      guint64 k = c % per_shard, index_bytes = per_shard * 16 + (a->index_crc32c ? 4 : 0);

      if (reader->shard_cached != c / per_shard)
        {
          reader->shard_cached = G_MAXUINT64;
          if (index_bytes > file_size)
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                           _ ("%s: shard %s is too short for its index"), reader->store->path,
                           file);
              close (fd);
              return FALSE;
            }
          if (!hr_zarr_pread (reader, &reader->scratch[0], fd,
                              a->index_at_start ? 0 : file_size - index_bytes, (gsize)index_bytes,
                              file, error))
            {
              close (fd);
              return FALSE;
            }
          if (a->index_crc32c && !hr_zarr_crc_ok (reader->scratch[0].encoded, (gsize)index_bytes))
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                           _ ("%s: shard %s: the CRC-32C checksum of its index does not match"),
                           reader->store->path, file);
              close (fd);
              return FALSE;
            }
          if (index_bytes > reader->shard_index_size)
            {
              guint8 *bigger = g_try_realloc (reader->shard_index, (gsize)index_bytes);

              if (bigger == NULL)
                {
                  /* (the index was read: it is within HR_ZARR_MAX_BUFFER) */
                  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                               _ ("%s: %s of %zu bytes cannot be allocated (limit %zu bytes)"),
                               reader->store->path, file, (gsize)index_bytes, HR_ZARR_MAX_BUFFER);
                  close (fd);
                  return FALSE;
                }
              reader->shard_index = bigger;
              reader->shard_index_size = (gsize)index_bytes;
            }
          memcpy (reader->shard_index, reader->scratch[0].encoded, (gsize)index_bytes);
          reader->shard_cached = c / per_shard;
        }
      offset = hr_zarr_load_bits (reader->shard_index + k * 16, 8, FALSE);
      length = hr_zarr_load_bits (reader->shard_index + k * 16 + 8, 8, FALSE);
      if (offset == G_MAXUINT64 && length == G_MAXUINT64)
        {
          close (fd);
          *file_out = g_steal_pointer (&file);
          return TRUE;
        }
      if (offset > file_size || length > file_size - offset)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       _ ("%s: shard %s: its index points outside the file"), reader->store->path,
                       file);
          close (fd);
          return FALSE;
        }
    }
  if (length > max_size)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   _ ("%s: chunk %s is too large for its chunk (%" PRIu64 " bytes)"),
                   reader->store->path, file, length);
      close (fd);
      return FALSE;
    }
  if (!hr_zarr_pread (reader, &reader->scratch[0], fd, offset, (gsize)length, file, error))
    {
      close (fd);
      return FALSE;
    }
  close (fd);
  *size = (gsize)length;
  *found = TRUE;
  *file_out = g_steal_pointer (&file);
  return TRUE;
}

/* Inflates or decompresses @src of unknown decoded size into a new buffer of at most
 * HR_ZARR_MAX_BUFFER bytes. */
static guint8 *
hr_zarr_decode_any (HrZarrReader *reader, const guint8 *src, gsize src_size, gsize *out_size)
{
  const HrZarrArray *a = reader->array;
  g_autofree guint8 *out = NULL;
  gsize capacity = MAX (src_size * 4, 4096), done = 0;

  switch (a->codec)
    {
      case HR_ZARR_CODEC_NONE:
        out = g_try_malloc (MAX (src_size, 1));
        if (out != NULL)
          memcpy (out, src, src_size);
        *out_size = src_size;
        return g_steal_pointer (&out);
      case HR_ZARR_CODEC_BLOSC:
        {
          size_t nbytes = 0;

          if (src_size < BLOSC_MIN_HEADER_LENGTH
              || blosc_cbuffer_validate (src, src_size, &nbytes) != 0 || nbytes > HR_ZARR_MAX_BUFFER
              || (out = g_try_malloc (MAX (nbytes, 1))) == NULL
              || blosc_decompress_ctx (src, out, nbytes, 1) != (int)nbytes)
            return NULL;
          *out_size = nbytes;
          return g_steal_pointer (&out);
        }
      case HR_ZARR_CODEC_ZSTD:
        {
          ZSTD_DCtx *dctx = ZSTD_createDCtx ();
          ZSTD_inBuffer in = { src, src_size, 0 };
          gboolean ok = FALSE;

          capacity = MIN (capacity, HR_ZARR_MAX_BUFFER);
          out = dctx != NULL ? g_try_malloc (capacity) : NULL;
          while (out != NULL)
            {
              ZSTD_outBuffer o = { out, capacity, done };
              size_t r = ZSTD_decompressStream (dctx, &o, &in);
              guint8 *bigger;

              done = o.pos;
              if (ZSTD_isError (r))
                break;
              if (r == 0 && in.pos == in.size)
                {
                  ok = TRUE;
                  break;
                }
              if (r == 0)
                continue; /* another frame follows */
              if (done < capacity)
                break; /* the input ended inside a frame */
              if (capacity >= HR_ZARR_MAX_BUFFER)
                break;
              capacity = MIN (capacity * 2, HR_ZARR_MAX_BUFFER);
              bigger = g_try_realloc (out, capacity);
              if (bigger == NULL)
                break;
              out = bigger;
            }
          ZSTD_freeDCtx (dctx);
          if (!ok)
            return NULL;
          *out_size = done;
          return g_steal_pointer (&out);
        }
      case HR_ZARR_CODEC_GZIP:
      case HR_ZARR_CODEC_ZLIB:
        {
          z_stream zs = { 0 };
          int z = Z_OK;

          if (src_size > G_MAXUINT32
              || inflateInit2 (&zs, a->codec == HR_ZARR_CODEC_GZIP ? 16 + MAX_WBITS : MAX_WBITS)
                     != Z_OK)
            return NULL;
          capacity = MIN (capacity, HR_ZARR_MAX_BUFFER);
          out = g_try_malloc (capacity);
          zs.next_in = (Bytef *)src;
          zs.avail_in = (uInt)src_size;
          while (out != NULL)
            {
              zs.next_out = out + done;
              zs.avail_out = (uInt)(capacity - done);
              z = inflate (&zs, Z_NO_FLUSH);
              done = capacity - zs.avail_out;
              if (z == Z_STREAM_END || (z != Z_OK && z != Z_BUF_ERROR))
                break;
              if (zs.avail_out > 0)
                {
                  z = Z_DATA_ERROR; /* input ended inside the stream */
                  break;
                }
              if (capacity >= HR_ZARR_MAX_BUFFER)
                {
                  z = Z_MEM_ERROR;
                  break;
                }
              capacity = MIN (capacity * 2, HR_ZARR_MAX_BUFFER);
              {
                guint8 *bigger = g_try_realloc (out, capacity);

                if (bigger == NULL)
                  break;
                out = bigger;
              }
            }
          inflateEnd (&zs);
          if (out == NULL || z != Z_STREAM_END || zs.avail_in != 0)
            return NULL;
          *out_size = done;
          return g_steal_pointer (&out);
        }
      default:
        return NULL;
    }
}

gboolean
hr_zarr_read_numbers (HrZarrStore *store, const char *path, guint64 *n_rows, gint64 **ints,
                      double **doubles, GError **error)
{
  g_autoptr (HrZarrReader) reader = hr_zarr_column_reader_new (store, path, error);
  g_autofree gint64 *iv = NULL;
  g_autofree double *dv = NULL;
  const HrZarrArray *a;
  guint64 n, n_chunks;

  if (reader == NULL)
    return FALSE;
  a = reader->array;
  if (a->kind == HR_ZARR_KIND_STRING)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED, _ ("%s: array “%s”: %s"),
                   store->path, path, a->not_number);
      return FALSE;
    }
  n = reader->n_rows;
  if (a->kind == HR_ZARR_KIND_FLOAT)
    dv = g_try_new (double, MAX (n, 1));
  else
    iv = g_try_new (gint64, MAX (n, 1));
  if (dv == NULL && iv == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                   /* TRANSLATORS: %s: the store; %s: an array; then its number of rows */
                   _ ("%s: array “%s”: not enough memory for its %" PRIu64 " values"), store->path,
                   path, n);
      return FALSE;
    }
  n_chunks = n == 0 ? 0 : (n - 1) / reader->chunk_dim0 + 1;
  for (guint64 c = 0; c < n_chunks; c++)
    {
      guint64 first = c * reader->chunk_dim0;
      gsize rows = (gsize)MIN ((guint64)reader->chunk_dim0, n - first), size = 0;
      g_autofree char *file = NULL;
      gboolean found;

      if (!hr_zarr_column_load (reader, c, hr_zarr_max_encoded (reader), &size, &found, &file,
                                error))
        return FALSE;
      if (found
          && !hr_zarr_decode (reader, &reader->scratch[0], reader->scratch[0].encoded, size, file,
                              error))
        return FALSE;
      for (gsize i = 0; i < rows; i++)
        {
          const guint8 *p = reader->scratch[0].decoded + i * a->item_size;
          guint64 bits = found ? hr_zarr_load_bits (p, a->item_size, a->big_endian) : 0;

          if (dv != NULL)
            dv[first + i] = !found              ? a->fill
                            : a->item_size == 2 ? hr_zarr_half ((guint16)bits)
                                                : hr_zarr_bits_value (a, bits);
          else if (!found)
            /* the fill value of an integer array was parsed from an integer */
            iv[first + i] = isfinite (a->fill) && fabs (a->fill) < 0x1p63 ? (gint64)a->fill : 0;
          else if (a->kind == HR_ZARR_KIND_INT)
            {
              guint shift = 64 - 8 * a->item_size;

              iv[first + i] = (gint64)(bits << shift) >> shift;
            }
          else if (a->kind == HR_ZARR_KIND_BOOL)
            iv[first + i] = bits != 0;
          else if (bits > G_MAXINT64)
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                           /* TRANSLATORS: %s: the store; %s: an array; then a row and its value */
                           _ ("%s: array “%s”: value %" PRIu64 " of row %" PRIu64
                              " is beyond 64-bit signed integers"),
                           store->path, path, bits, first + i);
              return FALSE;
            }
          else
            iv[first + i] = (gint64)bits;
        }
    }
  *n_rows = n;
  if (ints != NULL)
    *ints = g_steal_pointer (&iv);
  if (doubles != NULL)
    *doubles = g_steal_pointer (&dv);
  return TRUE;
}

static guint32
hr_zarr_le32 (const guint8 *p)
{
  return (guint32)hr_zarr_load_bits (p, 4, FALSE);
}

gboolean
hr_zarr_read_strings (HrZarrStore *store, const char *path, guint64 *n_rows, HrZarrStringFunc func,
                      gpointer user_data, GError **error)
{
  g_autoptr (HrZarrReader) reader = hr_zarr_column_reader_new (store, path, error);
  const HrZarrArray *a;
  guint64 n, n_chunks;

  if (reader == NULL)
    return FALSE;
  a = reader->array;
  if (a->kind != HR_ZARR_KIND_STRING)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                   /* TRANSLATORS: %s: the store; %s: an array; %s: its data type */
                   _ ("%s: array “%s” holds numbers (%s), not strings"), store->path, path,
                   a->dtype);
      return FALSE;
    }
  n = reader->n_rows;
  *n_rows = n;
  n_chunks = n == 0 ? 0 : (n - 1) / reader->chunk_dim0 + 1;
  for (guint64 c = 0; c < n_chunks; c++)
    {
      guint64 first = c * reader->chunk_dim0;
      gsize rows = (gsize)MIN ((guint64)reader->chunk_dim0, n - first), size = 0, decoded_size = 0;
      g_autofree char *file = NULL;
      g_autofree guint8 *decoded = NULL;
      gboolean found;
      guint32 n_items;
      gsize p = 4;

      if (!hr_zarr_column_load (reader, c, HR_ZARR_MAX_BUFFER, &size, &found, &file, error))
        return FALSE;
      if (!found)
        {
          for (gsize i = 0; i < rows; i++)
            if (!func (first + i, a->fill_string,
                       a->fill_string != NULL ? strlen (a->fill_string) : 0, user_data, error))
              return FALSE;
          continue;
        }
      if (a->crc32c)
        {
          if (!hr_zarr_crc_ok (reader->scratch[0].encoded, size))
            {
              g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                           _ ("%s: chunk %s: the CRC-32C checksum does not match"), store->path,
                           file);
              return FALSE;
            }
          size -= 4;
        }
      decoded = hr_zarr_decode_any (reader, reader->scratch[0].encoded, size, &decoded_size);
      if (decoded == NULL)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                       /* TRANSLATORS: %s: the store; %s: the chunk's file; %s: the codec */
                       _ ("%s: chunk %s: the %s data do not decode (or to more than %zu bytes)"),
                       store->path, file,
                       a->codec == HR_ZARR_CODEC_BLOSC  ? "blosc"
                       : a->codec == HR_ZARR_CODEC_ZSTD ? "zstd"
                       : a->codec == HR_ZARR_CODEC_GZIP ? "gzip"
                       : a->codec == HR_ZARR_CODEC_ZLIB ? "zlib"
                                                        : "raw",
                       HR_ZARR_MAX_BUFFER);
          return FALSE;
        }
      /* vlen-utf8: the number of strings, then each string's length and its bytes (all
       * lengths little-endian 32-bit); a chunk holds its whole shape, past the array's end
       * too */
      n_items = decoded_size >= 4 ? hr_zarr_le32 (decoded) : 0;
      if (decoded_size < 4 || n_items < rows || n_items > reader->chunk_dim0)
        goto invalid;
      for (guint32 i = 0; i < n_items; i++)
        {
          guint32 length;

          if (decoded_size - p < 4)
            goto invalid;
          length = hr_zarr_le32 (decoded + p);
          p += 4;
          if (length > decoded_size - p)
            goto invalid;
          if (i < rows)
            {
              if (!g_utf8_validate_len ((const char *)decoded + p, length, NULL))
                {
                  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                               /* TRANSLATORS: %s: the store; %s: the chunk's file; then a row */
                               _ ("%s: chunk %s: the string of row %" PRIu64
                                  " is not UTF-8 without NUL characters"),
                               store->path, file, first + i);
                  return FALSE;
                }
              if (!func (first + i, (const char *)decoded + p, length, user_data, error))
                return FALSE;
            }
          p += length;
        }
      if (p != decoded_size)
        goto invalid;
      continue;
    invalid:
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
                   /* TRANSLATORS: %s: the store; %s: the chunk's file; then the rows it holds */
                   _ ("%s: chunk %s: its vlen-utf8 strings are invalid (it should hold %zu)"),
                   store->path, file, reader->chunk_dim0);
      return FALSE;
    }
  return TRUE;
}
