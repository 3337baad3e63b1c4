/* headrank: named tensors from a safetensors file */
#include "hr-private.h"
#include "hr-tensor-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/**
 * HrTensorFile:
 *
 * The tensors of a [safetensors](https://github.com/huggingface/safetensors) file, as
 * PyTorch users write them with
 * `safetensors.torch.save_file(model.projection.state_dict(), path)`.
 *
 * The file is checked when it is opened, as strictly as the reference safetensors
 * implementation checks it: its 8-byte header length, its JSON header (at most 100 MB and
 * 64 levels deep, no key twice in one object), every tensor's dtype, shape and data offsets
 * (inside the file and consistent with the byte count of the shape). Sorted by offset, the
 * tensors must fill the data area exactly: no two overlap, none leaves a hole before the
 * next, and no bytes follow the last. Every error is in the %HR_TENSOR_ERROR domain and
 * names the file, and the tensor where there is one.
 *
 * The whole file is read into memory when it is opened (weight files are megabytes); it
 * is not memory-mapped, so that a file rewritten or truncated by another program while it
 * is open cannot affect (or kill) the process. Values are converted only when a tensor is
 * read. hr_tensor_file_read_float() converts F32, F16,
 * BF16 (exactly) and F64 (rounded to nearest) to float32 and refuses tensors holding NaN or
 * infinite values. Tensors of other dtypes (the `I64` `num_batches_tracked` counters of
 * BatchNorm layers, an encoder's integer or 8-bit float tensors) are listed and described
 * but not read as floats. From Python,
 *
 * ```python
 * f = Headrank.TensorFile.new("head.safetensors", None)
 * w = numpy.frombuffer(f.read_float("projection.0.weight").get_data(), numpy.float32)
 * w = w.reshape(f.get_shape("projection.0.weight"))
 * ```
 *
 * A tensor file is immutable once opened; its methods may be called from several threads
 * at once.
 */

/* The limits of a header: the size the safetensors library itself accepts, and a nesting
 * depth far beyond the 3 levels of a valid header, which keeps json-glib's recursive
 * parser off deep stacks. */
#define HR_TENSOR_MAX_HEADER_SIZE ((guint64)100 * 1000 * 1000)
#define HR_TENSOR_MAX_HEADER_DEPTH 64

#ifdef O_CLOEXEC
#define HR_O_CLOEXEC O_CLOEXEC
#else
#define HR_O_CLOEXEC 0
#endif
#ifdef O_NONBLOCK
#define HR_O_NONBLOCK O_NONBLOCK
#else
#define HR_O_NONBLOCK 0
#endif

typedef enum
{
  HR_FLOAT_KIND_NONE,
  HR_FLOAT_KIND_F16,
  HR_FLOAT_KIND_BF16,
  HR_FLOAT_KIND_F32,
  HR_FLOAT_KIND_F64,
} HrFloatKind;

typedef struct
{
  const char *name;
  guint bits;
  HrFloatKind kind;
} HrDtypeInfo;

/* Every dtype of the safetensors format (0.8), with its size in bits. */
static const HrDtypeInfo hr_dtypes[] = {
  { "BOOL", 8, HR_FLOAT_KIND_NONE },        { "F4", 4, HR_FLOAT_KIND_NONE },
  { "F6_E2M3", 6, HR_FLOAT_KIND_NONE },     { "F6_E3M2", 6, HR_FLOAT_KIND_NONE },
  { "U8", 8, HR_FLOAT_KIND_NONE },          { "I8", 8, HR_FLOAT_KIND_NONE },
  { "F8_E5M2", 8, HR_FLOAT_KIND_NONE },     { "F8_E4M3", 8, HR_FLOAT_KIND_NONE },
  { "F8_E8M0", 8, HR_FLOAT_KIND_NONE },     { "F8_E4M3FNUZ", 8, HR_FLOAT_KIND_NONE },
  { "F8_E5M2FNUZ", 8, HR_FLOAT_KIND_NONE }, { "I16", 16, HR_FLOAT_KIND_NONE },
  { "U16", 16, HR_FLOAT_KIND_NONE },        { "F16", 16, HR_FLOAT_KIND_F16 },
  { "BF16", 16, HR_FLOAT_KIND_BF16 },       { "I32", 32, HR_FLOAT_KIND_NONE },
  { "U32", 32, HR_FLOAT_KIND_NONE },        { "F32", 32, HR_FLOAT_KIND_F32 },
  { "C64", 64, HR_FLOAT_KIND_NONE },        { "F64", 64, HR_FLOAT_KIND_F64 },
  { "I64", 64, HR_FLOAT_KIND_NONE },        { "U64", 64, HR_FLOAT_KIND_NONE },
};

typedef struct
{
  char *name;
  const HrDtypeInfo *dtype;
  gint64 *shape; /* n_dims values; never NULL, so that a scalar has an empty shape */
  gsize n_dims;
  gsize n_elements;
  guint64 begin; /* byte range in the data area, which follows the header */
  guint64 end;
} HrTensorEntry;

struct _HrTensorFile
{
  GObject parent_instance;

  char *path;
  char *display_name; /* the path as UTF-8, for messages */
  gboolean opened;

  guint8 *contents;   /* the whole file, read when it was opened */
  const guint8 *data; /* the data area */
  guint64 data_size;

  GHashTable *tensors; /* name → HrTensorEntry, owned */
  char **names;        /* sorted; the strings belong to the entries */
  guint n_tensors;
  GHashTable *metadata; /* char * → char *, both owned */
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_N_TENSORS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void hr_tensor_file_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HrTensorFile, hr_tensor_file, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      hr_tensor_file_initable_iface_init))

/**
 * hr_tensor_error_quark:
 *
 * The error domain of safetensors reading.
 *
 * Returns: the #GQuark of %HR_TENSOR_ERROR
 */
/* clang-format off */
G_DEFINE_QUARK (hr-tensor-error-quark, hr_tensor_error)
/* clang-format on */

/* -- errors ------------------------------------------------------------------------------ */

/* Sets @error in our domain, naming the file and, if not %NULL, the tensor. */
G_GNUC_PRINTF (5, 6)
static void
hr_tensor_set_error (const char *display_name, const char *tensor, GError **error,
                     HrTensorError code, const char *format, ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);

  if (tensor != NULL)
    /* TRANSLATORS: "%s: tensor “%s”: %s": file name, tensor name, what is wrong with it */
    g_set_error (error, HR_TENSOR_ERROR, code, _ ("%s: tensor “%s”: %s"), display_name, tensor,
                 what);
  else
    g_set_error (error, HR_TENSOR_ERROR, code, "%s: %s", display_name, what);
}

/* Sets @error in GIO's domain, naming the file: for what the system reports (a
 * #GIOErrorEnum code, from errno with g_io_error_from_errno()). */
G_GNUC_PRINTF (4, 5)
static void
hr_tensor_set_io_error (const char *display_name, GError **error, GIOErrorEnum code,
                        const char *format, ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, G_IO_ERROR, code, "%s: %s", display_name, what);
}

/* "[24, 32]" */
static char *
hr_shape_to_string (const gint64 *shape, gsize n_dims)
{
  GString *s = g_string_new ("[");

  for (gsize i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* -- entries ----------------------------------------------------------------------------- */

static void
hr_tensor_entry_free (HrTensorEntry *entry)
{
  g_free (entry->name);
  g_free (entry->shape);
  g_free (entry);
}

static const HrDtypeInfo *
hr_dtype_lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (hr_dtypes); i++)
    if (strcmp (hr_dtypes[i].name, name) == 0)
      return &hr_dtypes[i];
  return NULL;
}

/* A JSON number that is a non-negative integer. json-glib reads integers of 2^63 and more
 * as negative numbers, so those are refused too. */
static gboolean
hr_json_get_count (JsonNode *node, guint64 *value)
{
  gint64 v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *value = (guint64)v;
  return TRUE;
}

/* Reads one header entry into a new HrTensorEntry. */
static HrTensorEntry *
hr_tensor_entry_parse (HrTensorFile *self, const char *name, JsonNode *node, GError **error)
{
  g_autoptr (GError) local = NULL;
  HrTensorEntry *entry;
  JsonObject *object;
  JsonNode *member;
  JsonArray *array;
  const char *dtype;
  guint64 n_elements = 1, n_bits, n_bytes;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      hr_tensor_set_error (self->display_name, name, error, HR_TENSOR_ERROR_HEADER,
                           _ ("the header entry is not a JSON object"));
      return NULL;
    }
  object = json_node_get_object (node);

  member = json_object_get_member (object, "dtype");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member)
      || json_node_get_value_type (member) != G_TYPE_STRING)
    {
      hr_tensor_set_error (self->display_name, name, error, HR_TENSOR_ERROR_HEADER,
                           member == NULL ? _ ("the header entry has no “dtype”")
                                          : _ ("“dtype” is not a JSON string"));
      return NULL;
    }
  dtype = json_node_get_string (member);

  entry = g_new0 (HrTensorEntry, 1);
  entry->name = g_strdup (name);
  entry->dtype = hr_dtype_lookup (dtype);
  if (entry->dtype == NULL)
    {
      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_DTYPE,
                           _ ("unknown dtype “%s”"), dtype);
      goto fail;
    }

  member = json_object_get_member (object, "shape");
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member))
    {
      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_HEADER,
                           member == NULL ? _ ("the header entry has no “shape”")
                                          : _ ("“shape” is not a JSON array"));
      goto fail;
    }
  array = json_node_get_array (member);
  entry->n_dims = json_array_get_length (array);
  entry->shape = g_try_new0 (gint64, MAX (entry->n_dims, 1));
  if (entry->shape == NULL)
    {
      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_NO_MEMORY,
                           _ ("not enough memory for a shape of %zu dimensions"), entry->n_dims);
      goto fail;
    }
  for (gsize i = 0; i < entry->n_dims; i++)
    {
      guint64 dim;

      if (!hr_json_get_count (json_array_get_element (array, i), &dim))
        {
          hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_HEADER,
                               _ ("dimension %zu of “shape” is not a non-negative integer"), i);
          goto fail;
        }
      entry->shape[i] = (gint64)dim;
      if (!g_uint64_checked_mul (&n_elements, n_elements, dim))
        {
          g_autofree char *shape = hr_shape_to_string (entry->shape, i + 1);

          hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_SHAPE,
                               _ ("the number of elements of shape %s… overflows"), shape);
          goto fail;
        }
    }

  member = json_object_get_member (object, "data_offsets");
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member)
      || json_array_get_length (json_node_get_array (member)) != 2
      || !hr_json_get_count (json_array_get_element (json_node_get_array (member), 0),
                             &entry->begin)
      || !hr_json_get_count (json_array_get_element (json_node_get_array (member), 1), &entry->end))
    {
      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_HEADER,
                           member == NULL ? _ ("the header entry has no “data_offsets”")
                                          : _ ("“data_offsets” is not an array of two non-negative "
                                               "integers"));
      goto fail;
    }
  if (entry->begin > entry->end)
    {
      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_HEADER,
                           _ ("data offsets [%llu, %llu] run backwards"),
                           (unsigned long long)entry->begin, (unsigned long long)entry->end);
      goto fail;
    }
  if (entry->end > self->data_size)
    {
      hr_tensor_set_error (
          self->display_name, name, &local, HR_TENSOR_ERROR_TRUNCATED,
          /* TRANSLATORS: the data area is the part of the file after the JSON header */
          _ ("data offsets [%llu, %llu] run past the end of the data area (%llu bytes)"),
          (unsigned long long)entry->begin, (unsigned long long)entry->end,
          (unsigned long long)self->data_size);
      goto fail;
    }

  /* Sub-byte dtypes (F4, F6_*) pack their elements; the shape must fill whole bytes. The
   * float32 copy of a tensor must fit in memory too, which matters on 32-bit systems. */
  if (!g_uint64_checked_mul (&n_bits, n_elements, entry->dtype->bits)
      || n_elements > G_MAXSIZE / sizeof (float))
    {
      g_autofree char *shape = hr_shape_to_string (entry->shape, entry->n_dims);

      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_SHAPE,
                           _ ("the size of shape %s of %s overflows"), shape, entry->dtype->name);
      goto fail;
    }
  if (n_bits % 8 != 0)
    {
      g_autofree char *shape = hr_shape_to_string (entry->shape, entry->n_dims);

      hr_tensor_set_error (self->display_name, name, &local, HR_TENSOR_ERROR_SHAPE,
                           _ ("shape %s of %s does not fill whole bytes"), shape,
                           entry->dtype->name);
      goto fail;
    }
  n_bytes = n_bits / 8;
  if (n_bytes != entry->end - entry->begin)
    {
      g_autofree char *shape = hr_shape_to_string (entry->shape, entry->n_dims);

      hr_tensor_set_error (
          self->display_name, name, &local, HR_TENSOR_ERROR_SHAPE,
          /* TRANSLATORS: "shape [24, 32] of F32 needs 3072 bytes, but its data
           * offsets [0, 3000] hold 3000" */
          _ ("shape %s of %s needs %llu bytes, but its data offsets [%llu, %llu] hold %llu"), shape,
          entry->dtype->name, (unsigned long long)n_bytes, (unsigned long long)entry->begin,
          (unsigned long long)entry->end, (unsigned long long)(entry->end - entry->begin));
      goto fail;
    }
  entry->n_elements = (gsize)n_elements;
  return entry;

fail:
  g_propagate_error (error, g_steal_pointer (&local));
  hr_tensor_entry_free (entry);
  return NULL;
}

static gboolean
hr_metadata_parse (HrTensorFile *self, JsonNode *node, GHashTable *metadata, GError **error)
{
  g_autoptr (GList) keys = NULL;
  JsonObject *object;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           _ ("“__metadata__” is not a JSON object"));
      return FALSE;
    }
  object = json_node_get_object (node);
  keys = json_object_get_members (object);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (object, l->data);

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                               _ ("“__metadata__” value “%s” is not a JSON string"),
                               (const char *)l->data);
          return FALSE;
        }
      g_hash_table_insert (metadata, g_strdup (l->data), g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

static int
hr_entry_compare_by_offset (gconstpointer a, gconstpointer b)
{
  const HrTensorEntry *x = *(HrTensorEntry *const *)a;
  const HrTensorEntry *y = *(HrTensorEntry *const *)b;

  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return strcmp (x->name, y->name);
}

/* Sorted by offset, the tensors must fill the data area exactly, as the reference
 * implementation requires: each begins where the one before ended (tensors without bytes
 * included), and the last ends where the file does. A tensor that begins before the last
 * one ended overlaps it; one that begins after leaves a hole. */
static gboolean
hr_check_placement (HrTensorFile *self, GPtrArray *entries, GError **error)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_copy (entries, NULL, NULL);
  const HrTensorEntry *last = NULL; /* the tensor reaching furthest so far */
  guint64 end = 0;

  g_ptr_array_sort (sorted, hr_entry_compare_by_offset);
  /* Overlaps first, wherever they are: an alias of one tensor's bytes also leaves the hole
   * where the bytes of the other would have been, and the overlap is the cause. */
  for (guint i = 0; i < sorted->len; i++)
    {
      const HrTensorEntry *entry = g_ptr_array_index (sorted, i);

      if (entry->begin == entry->end)
        continue;
      if (last != NULL && entry->begin < last->end)
        {
          hr_tensor_set_error (
              self->display_name, entry->name, error, HR_TENSOR_ERROR_OVERLAP,
              /* TRANSLATORS: "data offsets [8, 40] overlap those of tensor “x”, [0, 16]" */
              _ ("data offsets [%llu, %llu] overlap those of tensor “%s”, [%llu, %llu]"),
              (unsigned long long)entry->begin, (unsigned long long)entry->end, last->name,
              (unsigned long long)last->begin, (unsigned long long)last->end);
          return FALSE;
        }
      if (last == NULL || entry->end > last->end)
        last = entry;
    }
  last = NULL;
  for (guint i = 0; i < sorted->len; i++)
    {
      const HrTensorEntry *entry = g_ptr_array_index (sorted, i);

      if (entry->begin < end)
        {
          hr_tensor_set_error (
              self->display_name, entry->name, error, HR_TENSOR_ERROR_OVERLAP,
              /* TRANSLATORS: "data offsets [8, 40] overlap those of tensor “x”, [0, 16]" */
              _ ("data offsets [%llu, %llu] overlap those of tensor “%s”, [%llu, %llu]"),
              (unsigned long long)entry->begin, (unsigned long long)entry->end, last->name,
              (unsigned long long)last->begin, (unsigned long long)last->end);
          return FALSE;
        }
      if (entry->begin > end)
        {
          hr_tensor_set_error (
              self->display_name, entry->name, error, HR_TENSOR_ERROR_HEADER,
              /* TRANSLATORS: "data offsets [48, 60] leave bytes 40 to 48 of the data area
               * unused (a hole), which safetensors does not allow" */
              _ ("data offsets [%llu, %llu] leave bytes %llu to %llu of the data area unused "
                 "(a hole), which safetensors does not allow"),
              (unsigned long long)entry->begin, (unsigned long long)entry->end,
              (unsigned long long)end, (unsigned long long)entry->begin);
          return FALSE;
        }
      if (entry->end > end || last == NULL)
        {
          last = entry;
          end = entry->end;
        }
    }
  if (end != self->data_size)
    {
      hr_tensor_set_error (
          self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
          _ ("%llu bytes follow the last tensor's data (the data area has %llu bytes, the "
             "tensors %llu); safetensors does not allow trailing data"),
          (unsigned long long)(self->data_size - end), (unsigned long long)self->data_size,
          (unsigned long long)end);
      return FALSE;
    }
  return TRUE;
}

static int
hr_compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* Counts the members json-glib has parsed into each object, to find a key given twice
 * (json-glib keeps the last value; safetensors refuses the header). */
typedef struct
{
  GHashTable *counts; /* JsonObject * → number of members parsed */
  char *duplicate;    /* the first key seen twice */
} HrDuplicateScan;

static void
hr_on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer user_data)
{
  HrDuplicateScan *scan = user_data;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (scan->counts, object)) + 1;

  g_hash_table_insert (scan->counts, object, GUINT_TO_POINTER (count));
  /* The member was just set: an object holds fewer members than were parsed into it only
   * when one replaced an earlier one of the same name. */
  if (count > json_object_get_size (object) && scan->duplicate == NULL)
    scan->duplicate = g_strdup (name);
}

static void
hr_duplicate_scan_clear (HrDuplicateScan *scan)
{
  g_clear_pointer (&scan->counts, g_hash_table_unref);
  g_clear_pointer (&scan->duplicate, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HrDuplicateScan, hr_duplicate_scan_clear)

/* Parses and checks the header at @header (@length bytes, not NUL-terminated). */
static gboolean
hr_tensor_file_parse_header (HrTensorFile *self, const char *header, gsize length, GError **error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GHashTable) tensors = NULL;
  g_autoptr (GHashTable) metadata = NULL;
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GList) members = NULL;
  g_auto (HrDuplicateScan) scan = { NULL, NULL };
  const char *invalid;
  gboolean too_deep;
  gssize bad;
  JsonNode *root;
  JsonObject *object;
  char **names;
  guint n = 0;

  if (!g_utf8_validate_len (header, length, &invalid))
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           _ ("the header is not valid UTF-8 text (byte %zu of the header)"),
                           (gsize)(invalid - header));
      return FALSE;
    }
  bad = hr_json_prescan (header, length, HR_TENSOR_MAX_HEADER_DEPTH, &too_deep);
  if (bad >= 0)
    {
      if (too_deep)
        hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                             _ ("the JSON header is nested more than %d levels deep"),
                             HR_TENSOR_MAX_HEADER_DEPTH);
      else
        hr_tensor_set_error (
            self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
            _ ("the header is not valid JSON: unexpected character at byte %zu of the header"),
            (gsize)bad);
      return FALSE;
    }

  parser = json_parser_new_immutable ();
  scan.counts = g_hash_table_new (NULL, NULL);
  g_signal_connect (parser, "object-member", G_CALLBACK (hr_on_object_member), &scan);
  if (!json_parser_load_from_data (parser, header, (gssize)length, &local))
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           _ ("the header is not valid JSON: %s"), local->message);
      return FALSE;
    }
  if (scan.duplicate != NULL)
    {
      g_autofree char *shown = g_utf8_make_valid (scan.duplicate, -1);

      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           _ ("the header gives the key “%s” twice in one object"), shown);
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           _ ("the JSON header is not an object"));
      return FALSE;
    }
  object = json_node_get_object (root);

  tensors
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)hr_tensor_entry_free);
  metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  entries = g_ptr_array_new ();

  /* In name order, so that the first error reported does not depend on hashing. */
  members = g_list_sort (json_object_get_members (object), (GCompareFunc)strcmp);
  names = g_try_new0 (char *, g_list_length (members) + 1);
  if (names == NULL)
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_NO_MEMORY,
                           _ ("not enough memory for the names of %u tensors"),
                           g_list_length (members));
      return FALSE;
    }
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (object, name);
      HrTensorEntry *entry;

      if (strcmp (name, "__metadata__") == 0)
        {
          if (!hr_metadata_parse (self, node, metadata, error))
            goto fail;
          continue;
        }
      entry = hr_tensor_entry_parse (self, name, node, error);
      if (entry == NULL)
        goto fail;
      g_hash_table_insert (tensors, entry->name, entry);
      g_ptr_array_add (entries, entry);
      names[n++] = entry->name; /* in order, as the members are */
    }

  if (!hr_check_placement (self, entries, error))
    goto fail;

  self->tensors = g_steal_pointer (&tensors);
  self->metadata = g_steal_pointer (&metadata);
  self->names = names;
  self->n_tensors = n;
  return TRUE;

fail:
  g_free (names);
  return FALSE;
}

/* -- the object -------------------------------------------------------------------------- */

static void
hr_tensor_file_finalize (GObject *object)
{
  HrTensorFile *self = HR_TENSOR_FILE (object);

  g_clear_pointer (&self->tensors, g_hash_table_unref);
  g_clear_pointer (&self->metadata, g_hash_table_unref);
  g_clear_pointer (&self->names, g_free);
  g_clear_pointer (&self->contents, g_free);
  g_free (self->display_name);
  g_free (self->path);

  G_OBJECT_CLASS (hr_tensor_file_parent_class)->finalize (object);
}

static void
hr_tensor_file_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrTensorFile *self = HR_TENSOR_FILE (object);

  switch (prop_id)
    {
      case PROP_PATH:
        g_value_set_string (value, self->path);
        break;
      case PROP_N_TENSORS:
        g_value_set_uint (value, self->n_tensors);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_tensor_file_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  HrTensorFile *self = HR_TENSOR_FILE (object);

  switch (prop_id)
    {
      case PROP_PATH:
        self->path = g_value_dup_string (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_tensor_file_class_init (HrTensorFileClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hr_tensor_file_finalize;
  object_class->get_property = hr_tensor_file_get_property;
  object_class->set_property = hr_tensor_file_set_property;

  /**
   * HrTensorFile:path: (type filename)
   *
   * The safetensors file.
   */
  properties[PROP_PATH]
      = g_param_spec_string ("path", NULL, NULL, NULL,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrTensorFile:n-tensors:
   *
   * The number of tensors in the file (not counting the `__metadata__` entry).
   */
  properties[PROP_N_TENSORS] = g_param_spec_uint ("n-tensors", NULL, NULL, 0, G_MAXUINT, 0,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_tensor_file_init (HrTensorFile *self)
{
}

static gboolean
hr_tensor_file_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  HrTensorFile *self = HR_TENSOR_FILE (initable);
  g_autofree guint8 *contents = NULL;
  guint64 header_length, size;
  struct stat st;
  int fd, saved_errno;

  if (self->opened)
    return TRUE;
  if (self->path == NULL)
    {
      g_set_error_literal (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_IO,
                           _ ("a tensor file needs a file to read"));
      return FALSE;
    }
  if (self->display_name == NULL)
    self->display_name = g_filename_display_name (self->path);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  /* Not blocking, so that a FIFO is refused below rather than waited on. */
  fd = g_open (self->path, O_RDONLY | HR_O_CLOEXEC | HR_O_NONBLOCK, 0);
  if (fd < 0)
    {
      saved_errno = errno;
      hr_tensor_set_io_error (self->display_name, error, g_io_error_from_errno (saved_errno),
                              _ ("cannot open the file: %s"), g_strerror (saved_errno));
      return FALSE;
    }
  if (fstat (fd, &st) != 0)
    {
      saved_errno = errno;
      hr_tensor_set_io_error (self->display_name, error, g_io_error_from_errno (saved_errno),
                              _ ("cannot examine the file: %s"), g_strerror (saved_errno));
      g_close (fd, NULL);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      hr_tensor_set_io_error (self->display_name, error,
                              S_ISDIR (st.st_mode) ? G_IO_ERROR_IS_DIRECTORY
                                                   : G_IO_ERROR_NOT_REGULAR_FILE,
                              _ ("not a regular file"));
      g_close (fd, NULL);
      return FALSE;
    }
  /* Read, not mapped: a mapped file that another program truncates or rewrites while it
   * is in use kills the process with SIGBUS. The size comes from the file, so the buffer
   * is allocated fallibly. */
  if ((guint64)st.st_size > G_MAXSIZE - 1
      || (contents = g_try_malloc (MAX ((gsize)st.st_size, 1))) == NULL)
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_NO_MEMORY,
                           _ ("not enough memory to read the file (%llu bytes)"),
                           (unsigned long long)st.st_size);
      g_close (fd, NULL);
      return FALSE;
    }
  size = 0;
  while (size < (guint64)st.st_size)
    {
      ssize_t got = pread (fd, contents + size, MIN ((gsize)(st.st_size - size), (gsize)1 << 30),
                           (off_t)size);

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          saved_errno = errno;
          hr_tensor_set_io_error (self->display_name, error, g_io_error_from_errno (saved_errno),
                                  _ ("cannot read the file: %s"), g_strerror (saved_errno));
          g_close (fd, NULL);
          return FALSE;
        }
      if (got == 0)
        break; /* shortened since fstat(): what was read is the file */
      size += (guint64)got;
    }
  g_close (fd, NULL);

  if (size < 8)
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_TRUNCATED,
                           size == 0
                               ? _ ("the file is empty")
                               : _ ("the file is too short to hold a header length (8 bytes)"));
      return FALSE;
    }
  /* what users pass for a safetensors file: PyTorch's own formats, a zip archive or a
   * pickle (a safetensors header of 640 bytes starts like a pickle, but its JSON follows) */
  if ((memcmp (contents, "PK\x03\x04", 4) == 0
       || ((guchar)contents[0] == 0x80 && contents[1] >= 2 && contents[1] <= 5))
      && (size < 9 || contents[8] != '{'))
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           /* TRANSLATORS: keep torch.save and tools/extract-head.py */
                           _ ("not a safetensors file but a PyTorch checkpoint (torch.save); "
                              "copy the head's tensors out of it with tools/extract-head.py"));
      return FALSE;
    }
  memcpy (&header_length, contents, sizeof header_length);
  header_length = GUINT64_FROM_LE (header_length);
  if (header_length > HR_TENSOR_MAX_HEADER_SIZE)
    {
      hr_tensor_set_error (self->display_name, NULL, error, HR_TENSOR_ERROR_HEADER,
                           _ ("the header claims %llu bytes, more than the %llu bytes allowed"),
                           (unsigned long long)header_length,
                           (unsigned long long)HR_TENSOR_MAX_HEADER_SIZE);
      return FALSE;
    }
  if (header_length > size - 8)
    {
      hr_tensor_set_error (
          self->display_name, NULL, error, HR_TENSOR_ERROR_TRUNCATED,
          _ ("the header claims %llu bytes, but the file has only %llu after the header length"),
          (unsigned long long)header_length, (unsigned long long)(size - 8));
      return FALSE;
    }

  self->data = contents + 8 + header_length;
  self->data_size = size - 8 - header_length;
  if (!hr_tensor_file_parse_header (self, (const char *)contents + 8, header_length, error))
    {
      self->data = NULL;
      self->data_size = 0;
      return FALSE;
    }
  self->contents = g_steal_pointer (&contents);
  self->opened = TRUE;
  return TRUE;
}

static void
hr_tensor_file_initable_iface_init (GInitableIface *iface)
{
  iface->init = hr_tensor_file_initable_init;
}

/**
 * hr_tensor_file_new:
 * @path: (type filename): a safetensors file
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Opens a safetensors file: reads it into memory and checks its header and the placement
 * of every tensor (see #HrTensorFile). No tensor values are read yet.
 *
 * Errors are in the %HR_TENSOR_ERROR domain (or %G_IO_ERROR_CANCELLED) and name the file,
 * and the tensor where there is one.
 *
 * Returns: (transfer full): a new #HrTensorFile, or %NULL with @error set
 */
HrTensorFile *
hr_tensor_file_new (const char *path, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_initable_new (HR_TYPE_TENSOR_FILE, cancellable, error, "path", path, NULL);
}

/**
 * hr_tensor_file_get_path:
 * @file: a #HrTensorFile
 *
 * The file the tensors are read from, as given to hr_tensor_file_new().
 *
 * Returns: (type filename): the file's path
 */
const char *
hr_tensor_file_get_path (HrTensorFile *file)
{
  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);
  return file->path;
}

/**
 * hr_tensor_file_get_n_tensors:
 * @file: a #HrTensorFile
 *
 * How many tensors the file holds (see #HrTensorFile:n-tensors).
 *
 * Returns: the number of tensors, not counting the `__metadata__` entry
 */
guint
hr_tensor_file_get_n_tensors (HrTensorFile *file)
{
  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), 0);
  return file->n_tensors;
}

/**
 * hr_tensor_file_get_names:
 * @file: a #HrTensorFile
 *
 * The names of the file's tensors, sorted bytewise (as `strcmp()` orders them; for
 * ASCII names, as Python's `sorted()` does). The `__metadata__` entry is not a tensor
 * and is not listed.
 *
 * Returns: (transfer full) (array zero-terminated=1): the names
 */
char **
hr_tensor_file_get_names (HrTensorFile *file)
{
  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);

  if (file->names == NULL)
    return g_new0 (char *, 1);
  return g_strdupv (file->names);
}

static const HrTensorEntry *
hr_tensor_file_lookup (HrTensorFile *file, const char *name)
{
  return file->tensors != NULL ? g_hash_table_lookup (file->tensors, name) : NULL;
}

/**
 * hr_tensor_file_has_tensor:
 * @file: a #HrTensorFile
 * @name: a tensor name, such as `projection.0.weight`
 *
 * Whether the file holds a tensor called @name. The `__metadata__` entry is not a tensor.
 *
 * Returns: whether the file has a tensor called @name
 */
gboolean
hr_tensor_file_has_tensor (HrTensorFile *file, const char *name)
{
  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  return hr_tensor_file_lookup (file, name) != NULL;
}

/**
 * hr_tensor_file_get_dtype:
 * @file: a #HrTensorFile
 * @name: a tensor name
 *
 * The tensor's dtype as the safetensors header spells it: `F32`, `F16`, `BF16`, `F64`,
 * `I64`, `U8`, `BOOL`, `F8_E4M3`, …
 *
 * Returns: (nullable): the dtype, or %NULL if the file has no tensor called @name
 */
const char *
hr_tensor_file_get_dtype (HrTensorFile *file, const char *name)
{
  const HrTensorEntry *entry;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  entry = hr_tensor_file_lookup (file, name);
  return entry != NULL ? entry->dtype->name : NULL;
}

/**
 * hr_tensor_file_get_shape:
 * @file: a #HrTensorFile
 * @name: a tensor name
 * @n_dims: (out): return location for the number of dimensions (0 for a scalar)
 *
 * The tensor's shape, outermost dimension first: `[out_features, in_features]` for the
 * weight of a `torch.nn.Linear`.
 *
 * Returns: (array length=n_dims) (transfer none) (nullable): the shape, or %NULL (and 0
 *   dimensions) if the file has no tensor called @name
 */
const gint64 *
hr_tensor_file_get_shape (HrTensorFile *file, const char *name, gsize *n_dims)
{
  const HrTensorEntry *entry;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (n_dims != NULL, NULL);

  entry = hr_tensor_file_lookup (file, name);
  if (entry == NULL)
    {
      *n_dims = 0;
      return NULL;
    }
  *n_dims = entry->n_dims;
  return entry->shape;
}

/**
 * hr_tensor_file_get_n_elements:
 * @file: a #HrTensorFile
 * @name: a tensor name
 *
 * How many values the tensor holds: the number of float32 values
 * hr_tensor_file_read_float() returns for it.
 *
 * Returns: the number of elements of the tensor (the product of its shape: 1 for a
 *   scalar, 0 when a dimension is 0), or 0 if the file has no tensor called @name
 */
gsize
hr_tensor_file_get_n_elements (HrTensorFile *file, const char *name)
{
  const HrTensorEntry *entry;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), 0);
  g_return_val_if_fail (name != NULL, 0);

  entry = hr_tensor_file_lookup (file, name);
  return entry != NULL ? entry->n_elements : 0;
}

/* An IEEE binary16 value as float32, exactly (every half is a float). */
static inline float
hr_half_to_float (guint16 h)
{
  guint32 sign = (guint32)(h & 0x8000) << 16;
  guint32 exponent = (h >> 10) & 0x1f;
  guint32 mantissa = h & 0x3ff;
  guint32 bits;
  float f;

  if (exponent == 0x1f) /* infinities and NaNs, keeping the payload */
    bits = sign | 0x7f800000 | (mantissa << 13);
  else if (exponent != 0)
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  else
    {
      /* zero or subnormal: mantissa × 2^-24, exact in float32 */
      f = (float)mantissa * 0x1p-24f;
      memcpy (&bits, &f, sizeof bits);
      bits |= sign;
    }
  memcpy (&f, &bits, sizeof f);
  return f;
}

/* "[3, 5]": the position in the shape of flat index @index. */
static char *
hr_index_to_position (const HrTensorEntry *entry, gsize index)
{
  g_autofree gint64 *position = g_new0 (gint64, MAX (entry->n_dims, 1));

  for (gsize i = entry->n_dims; i-- > 0;)
    {
      position[i] = (gint64)(index % (guint64)entry->shape[i]);
      index /= (guint64)entry->shape[i];
    }
  return hr_shape_to_string (position, entry->n_dims);
}

static gboolean
hr_tensor_file_convert (HrTensorFile *self, const HrTensorEntry *entry, float *dest, GError **error)
{
  const guint8 *src = self->data + entry->begin;
  gsize n = entry->n_elements;
  gsize n_bad = 0, first_bad = 0;
  double first_value = 0;

  if (n == 0)
    return TRUE;
  switch (entry->dtype->kind)
    {
      case HR_FLOAT_KIND_F32:
        memcpy (dest, src, n * sizeof (float));
#if G_BYTE_ORDER == G_BIG_ENDIAN
        for (gsize i = 0; i < n; i++)
          {
            guint32 bits;

            memcpy (&bits, dest + i, sizeof bits);
            bits = GUINT32_SWAP_LE_BE (bits);
            memcpy (dest + i, &bits, sizeof bits);
          }
#endif
        break;
      case HR_FLOAT_KIND_F16:
        for (gsize i = 0; i < n; i++)
          {
            guint16 bits;

            memcpy (&bits, src + 2 * i, sizeof bits);
            dest[i] = hr_half_to_float (GUINT16_FROM_LE (bits));
          }
        break;
      case HR_FLOAT_KIND_BF16:
        /* bfloat16 is the upper half of a float32 */
        for (gsize i = 0; i < n; i++)
          {
            guint16 bits;
            guint32 wide;

            memcpy (&bits, src + 2 * i, sizeof bits);
            wide = (guint32)GUINT16_FROM_LE (bits) << 16;
            memcpy (dest + i, &wide, sizeof wide);
          }
        break;
      case HR_FLOAT_KIND_F64:
        /* rounded to nearest, as torch's .float() does; too large values become ±Inf */
        for (gsize i = 0; i < n; i++)
          {
            guint64 bits;
            double d;

            memcpy (&bits, src + 8 * i, sizeof bits);
            bits = GUINT64_FROM_LE (bits);
            memcpy (&d, &bits, sizeof d);
            dest[i] = (float)d;
            if (G_UNLIKELY (!isfinite (dest[i])) && n_bad++ == 0)
              {
                first_bad = i;
                first_value = d;
              }
          }
        break;
      case HR_FLOAT_KIND_NONE:
      default:
        g_assert_not_reached ();
    }

  if (entry->dtype->kind != HR_FLOAT_KIND_F64)
    for (gsize i = 0; i < n; i++)
      if (G_UNLIKELY (!isfinite (dest[i])) && n_bad++ == 0)
        {
          first_bad = i;
          first_value = dest[i];
        }

  if (n_bad > 0)
    {
      g_autofree char *position = hr_index_to_position (entry, first_bad);
      g_autofree char *value = NULL;

      if (isnan (first_value))
        value = g_strdup ("NaN");
      else if (isinf (first_value))
        value = g_strdup (first_value > 0 ? "Inf" : "-Inf");
      else
        /* TRANSLATORS: a float64 value that becomes infinite in float32, e.g. "1e+300 (too
         * large for float32)" */
        value = g_strdup_printf (_ ("%g (too large for float32)"), first_value);

      hr_tensor_set_error (
          self->display_name, entry->name, error, HR_TENSOR_ERROR_NON_FINITE,
          /* TRANSLATORS: "3 of 768 values are not finite; the first is NaN, at
           * flat index 53 (position [1, 21])" */
          _ ("%zu of %zu values are not finite; the first is %s, at flat index %zu (position %s)"),
          n_bad, n, value, first_bad, position);
      return FALSE;
    }
  return TRUE;
}

/* Finds @name and checks that it can be read as floats. */
static const HrTensorEntry *
hr_tensor_file_lookup_float (HrTensorFile *file, const char *name, GError **error)
{
  const HrTensorEntry *entry = hr_tensor_file_lookup (file, name);

  if (entry == NULL)
    {
      hr_tensor_set_error (file->display_name != NULL ? file->display_name : "(none)", name, error,
                           HR_TENSOR_ERROR_MISSING, _ ("no such tensor in the file"));
      return NULL;
    }
  if (entry->dtype->kind == HR_FLOAT_KIND_NONE)
    {
      hr_tensor_set_error (
          file->display_name, name, error, HR_TENSOR_ERROR_DTYPE,
          _ ("dtype %s cannot be read as float32 values (only F32, F16, BF16 and F64 can)"),
          entry->dtype->name);
      return NULL;
    }
  return entry;
}

/**
 * hr_tensor_file_read_float:
 * @file: a #HrTensorFile
 * @name: a tensor name
 * @error: return location for a #GError
 *
 * Reads a floating-point tensor as float32 values in native byte order, row-major (the
 * last dimension varies fastest, as in PyTorch's contiguous tensors). F32, F16 and BF16
 * values are converted exactly, F64 values rounded to the nearest float32, as
 * `tensor.float()` does. From Python,
 * `numpy.frombuffer(file.read_float(name).get_data(), numpy.float32)`.
 *
 * Errors: %HR_TENSOR_ERROR_MISSING if there is no such tensor;
 * %HR_TENSOR_ERROR_DTYPE if it is not F32, F16, BF16 or F64 (integers such as the
 * `num_batches_tracked` counters of BatchNorm layers, booleans, 8-bit floats);
 * %HR_TENSOR_ERROR_NON_FINITE if a value is NaN or infinite, or a float64 value too large
 * for float32 (the message gives the first such value and its flat index).
 *
 * Returns: (transfer full): the tensor's n_elements × 4 bytes, or %NULL with @error set
 */
GBytes *
hr_tensor_file_read_float (HrTensorFile *file, const char *name, GError **error)
{
  const HrTensorEntry *entry;
  float *data;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  entry = hr_tensor_file_lookup_float (file, name, error);
  if (entry == NULL)
    return NULL;

  /* At most twice the tensor's bytes in the file (for F16 and BF16). */
  data = g_try_malloc (MAX (entry->n_elements, 1) * sizeof (float));
  if (data == NULL)
    {
      hr_tensor_set_error (file->display_name, name, error, HR_TENSOR_ERROR_NO_MEMORY,
                           _ ("not enough memory for %zu float32 values"), entry->n_elements);
      return NULL;
    }
  if (!hr_tensor_file_convert (file, entry, data, error))
    {
      g_free (data);
      return NULL;
    }
  return g_bytes_new_take (data, entry->n_elements * sizeof (float));
}

/**
 * hr_tensor_file_read_float_into: (skip)
 * @file: a #HrTensorFile
 * @name: a tensor name
 * @dest: (array length=n_elements): where to write the values
 * @n_elements: the number of values @dest can hold, which must be the tensor's number of
 *   elements
 * @error: return location for a #GError
 *
 * Reads a floating-point tensor as float32 values into memory the caller owns, as
 * hr_tensor_file_read_float() does. For C callers that know the shape they expect (a
 * layer's weight, say): a tensor with another number of elements is
 * %HR_TENSOR_ERROR_SHAPE. If the tensor holds non-finite values, @dest holds the
 * converted values nonetheless and %HR_TENSOR_ERROR_NON_FINITE is set.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_tensor_file_read_float_into (HrTensorFile *file, const char *name, float *dest, gsize n_elements,
                                GError **error)
{
  const HrTensorEntry *entry;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (dest != NULL || n_elements == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  entry = hr_tensor_file_lookup_float (file, name, error);
  if (entry == NULL)
    return FALSE;
  if (entry->n_elements != n_elements)
    {
      g_autofree char *shape = hr_shape_to_string (entry->shape, entry->n_dims);

      hr_tensor_set_error (file->display_name, name, error, HR_TENSOR_ERROR_SHAPE,
                           _ ("shape %s has %zu elements, not the %zu expected"), shape,
                           entry->n_elements, n_elements);
      return FALSE;
    }
  return hr_tensor_file_convert (file, entry, dest, error);
}

/**
 * hr_tensor_file_get_metadata:
 * @file: a #HrTensorFile
 * @key: a key of the header's `__metadata__` map, such as `format`
 *
 * A value of the string-to-string map that safetensors writers may store in the header
 * (`safetensors.torch.save_file(..., metadata={"format": "pt"})`).
 *
 * Returns: (nullable): the value, or %NULL if the file has none for @key
 */
const char *
hr_tensor_file_get_metadata (HrTensorFile *file, const char *key)
{
  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  return file->metadata != NULL ? g_hash_table_lookup (file->metadata, key) : NULL;
}

/**
 * hr_tensor_file_get_metadata_keys:
 * @file: a #HrTensorFile
 *
 * The keys of the string-to-string map stored under `__metadata__` in the header; see
 * hr_tensor_file_get_metadata().
 *
 * Returns: (transfer full) (array zero-terminated=1): the keys of the header's
 *   `__metadata__` map, sorted bytewise (empty if it has none)
 */
char **
hr_tensor_file_get_metadata_keys (HrTensorFile *file)
{
  char **keys;
  guint n = 0;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (file), NULL);

  if (file->metadata == NULL)
    return g_new0 (char *, 1);
  keys = (char **)g_hash_table_get_keys_as_array (file->metadata, &n);
  for (guint i = 0; i < n; i++)
    keys[i] = g_strdup (keys[i]);
  qsort (keys, n, sizeof (char *), hr_compare_strings);
  return keys;
}
