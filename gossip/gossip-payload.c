/* gossip-payload.c — type-preserving payload encoding (GVariant).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "gossip-error.h"
#include "gossip-payload-private.h"

/* GLib's G_VARIANT_MAX_RECURSION_DEPTH, which it does not export: untrusted
 * serialised data nested deeper than this is not in normal form. */
#define VARIANT_MAX_TYPE_DEPTH 128

typedef enum {
  PAYLOAD_NONE,
  PAYLOAD_BOOL,
  PAYLOAD_INT,
  PAYLOAD_DOUBLE,
  PAYLOAD_STRING,
  PAYLOAD_BYTES,
  PAYLOAD_LIST,
  PAYLOAD_DICT,
  PAYLOAD_INVALID,
} PayloadKind;

/* Where a value comes from decides the error domain: the local API gets
 * GOSSIP_CLUSTER_ERROR (a script exception), the network GOSSIP_WIRE_ERROR
 * (a dropped packet). */
typedef enum {
  ORIGIN_LOCAL,
  ORIGIN_WIRE,
} PayloadOrigin;

static PayloadKind
payload_kind (GVariant *value)
{
  const GVariantType *type = g_variant_get_type (value);

  if (g_variant_type_equal (type, G_VARIANT_TYPE_UNIT))
    return PAYLOAD_NONE;
  if (g_variant_type_equal (type, G_VARIANT_TYPE_BOOLEAN))
    return PAYLOAD_BOOL;
  if (g_variant_type_equal (type, G_VARIANT_TYPE_INT64))
    return PAYLOAD_INT;
  if (g_variant_type_equal (type, G_VARIANT_TYPE_DOUBLE))
    return PAYLOAD_DOUBLE;
  if (g_variant_type_equal (type, G_VARIANT_TYPE_STRING))
    return PAYLOAD_STRING;
  if (g_variant_type_equal (type, G_VARIANT_TYPE_BYTESTRING))
    return PAYLOAD_BYTES;
  if (g_variant_type_equal (type, G_VARIANT_TYPE ("av")))
    return PAYLOAD_LIST;
  if (g_variant_type_equal (type, G_VARIANT_TYPE_VARDICT))
    return PAYLOAD_DICT;
  return PAYLOAD_INVALID;
}

/* GVariant type levels a value of @kind uses itself, before its elements. */
static guint
kind_type_depth (PayloadKind kind)
{
  switch (kind)
    {
    case PAYLOAD_BYTES:
    case PAYLOAD_LIST:   /* "a" + "v" */
      return 2;
    case PAYLOAD_DICT:   /* "a" + "{}" + "v" */
      return 3;
    case PAYLOAD_NONE:
    case PAYLOAD_BOOL:
    case PAYLOAD_INT:
    case PAYLOAD_DOUBLE:
    case PAYLOAD_STRING:
    case PAYLOAD_INVALID:
    default:
      return 1;
    }
}

static void
set_depth_error (PayloadOrigin origin, GError **error)
{
  if (origin == ORIGIN_LOCAL)
    g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                 _("payload is nested too deeply (at most %d levels: 63 nested lists or 42 nested dicts around a value)"),
                 GOSSIP_PAYLOAD_MAX_DEPTH);
  else
    g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED,
                 _("payload is nested too deeply (at most %d levels)"),
                 GOSSIP_PAYLOAD_MAX_DEPTH);
}

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  GVariant *ka = *(GVariant * const *) a;
  GVariant *kb = *(GVariant * const *) b;

  return strcmp (g_variant_get_string (ka, NULL), g_variant_get_string (kb, NULL));
}

/* Sorting, not hashing: g_str_hash() is not keyed, so a peer could send a
 * dict of colliding keys and make a hash set quadratic. */
static gboolean
check_unique_keys (GPtrArray *keys, PayloadOrigin origin, GError **error)
{
  g_ptr_array_sort (keys, compare_keys);

  for (guint i = 1; i < keys->len; i++)
    {
      const char *prev = g_variant_get_string (g_ptr_array_index (keys, i - 1), NULL);
      const char *cur = g_variant_get_string (g_ptr_array_index (keys, i), NULL);

      if (strcmp (prev, cur) == 0)
        {
          if (origin == ORIGIN_LOCAL)
            g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                         _("payload dict has the key “%s” more than once"), cur);
          else
            g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED,
                                 _("payload dict has a duplicate key"));
          return FALSE;
        }
    }
  return TRUE;
}

/* @depth: payload level of @value (1 for the root). @type_depth: GVariant
 * type levels used above @value (1 for the wrapping "v"). Recursion is
 * bounded: both counters grow on every call and are checked first. */
static gboolean
validate (GVariant *value, guint depth, guint type_depth, PayloadOrigin origin, GError **error)
{
  PayloadKind kind = payload_kind (value);
  gsize n;

  if (kind == PAYLOAD_INVALID)
    {
      if (origin == ORIGIN_LOCAL)
        g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE,
                     _("payload type “%s” is not supported (use None, bool, int, float, str, bytes, list or dict with str keys)"),
                     g_variant_get_type_string (value));
      else
        g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED,
                     _("payload has unsupported type “%.32s”"),
                     g_variant_get_type_string (value));
      return FALSE;
    }

  if (depth > GOSSIP_PAYLOAD_MAX_DEPTH ||
      type_depth + kind_type_depth (kind) > VARIANT_MAX_TYPE_DEPTH)
    {
      set_depth_error (origin, error);
      return FALSE;
    }

  switch (kind)
    {
    case PAYLOAD_LIST:
      n = g_variant_n_children (value);
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (value, i);
          g_autoptr(GVariant) item = g_variant_get_variant (boxed);

          if (!validate (item, depth + 1, type_depth + 2, origin, error))
            return FALSE;
        }
      return TRUE;

    case PAYLOAD_DICT:
      {
        g_autoptr(GPtrArray) keys = NULL;

        n = g_variant_n_children (value);
        keys = g_ptr_array_new_full ((guint) MIN (n, G_MAXUINT), (GDestroyNotify) g_variant_unref);
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr(GVariant) entry = g_variant_get_child_value (value, i);
            g_autoptr(GVariant) boxed = g_variant_get_child_value (entry, 1);
            g_autoptr(GVariant) item = g_variant_get_variant (boxed);

            g_ptr_array_add (keys, g_variant_get_child_value (entry, 0));
            if (!validate (item, depth + 1, type_depth + 3, origin, error))
              return FALSE;
          }
        return check_unique_keys (keys, origin, error);
      }

    case PAYLOAD_NONE:
    case PAYLOAD_BOOL:
    case PAYLOAD_INT:
    case PAYLOAD_DOUBLE:
    case PAYLOAD_STRING:
    case PAYLOAD_BYTES:
    case PAYLOAD_INVALID:
    default:
      return TRUE;
    }
}

gboolean
gossip_payload_check (GVariant *value, GError **error)
{
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return validate (value, 1, 1, ORIGIN_LOCAL, error);
}

GBytes *
gossip_payload_encode (GVariant *value, gsize max_size, GError **error)
{
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GVariant) wrapped = NULL;
  gsize size;

  g_return_val_if_fail (value != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  owned = g_variant_ref_sink (value);
  if (!validate (owned, 1, 1, ORIGIN_LOCAL, error))
    return NULL;

  wrapped = g_variant_ref_sink (g_variant_new_variant (owned));
  /* Sized before serialising, so an oversized payload costs no copy. */
  size = g_variant_get_size (wrapped);
  if (size > max_size)
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE,
                   _("payload of %lu bytes exceeds the limit of %lu bytes"),
                   (unsigned long) size, (unsigned long) max_size);
      return NULL;
    }

  /* GVariant serialises in host byte order; the wire is little-endian. */
  if (G_BYTE_ORDER == G_BIG_ENDIAN)
    {
      GVariant *swapped = g_variant_byteswap (wrapped);

      g_variant_unref (wrapped);
      wrapped = swapped;
    }

  return g_variant_get_data_as_bytes (wrapped);
}

GVariant *
gossip_payload_decode (const guint8 *data, gsize len, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GVariant) wrapped = NULL;
  g_autoptr(GVariant) inner = NULL;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (len == 0)
    {
      g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED,
                           _("payload is empty"));
      return NULL;
    }

  /* A copy: @data may sit at any offset inside a packet, GVariant wants
   * its data aligned (g_malloc() memory is aligned for every type), and the
   * value must outlive the caller's buffer. */
  bytes = g_bytes_new (data, len);
  wrapped = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, bytes, FALSE));

  /* Normal form rules out everything GVariant would otherwise paper over
   * with default values: bad offsets, invalid UTF-8 or embedded NULs in
   * strings, booleans other than 0/1, malformed type strings, padding and
   * nesting beyond GVariant's own limit. */
  if (!g_variant_is_normal_form (wrapped))
    {
      g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED,
                           _("payload is not a normal-form serialised GVariant"));
      return NULL;
    }

  if (G_BYTE_ORDER == G_BIG_ENDIAN)
    {
      GVariant *swapped = g_variant_byteswap (wrapped);

      g_variant_unref (wrapped);
      wrapped = swapped;
    }

  inner = g_variant_get_variant (wrapped);
  if (!validate (inner, 1, 1, ORIGIN_WIRE, error))
    return NULL;

  return g_steal_pointer (&inner);
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                 */
/* ------------------------------------------------------------------------ */

GVariant *
gossip_payload_none (void)
{
  return g_variant_new_tuple (NULL, 0);
}

gboolean
gossip_payload_is_none (GVariant *value)
{
  g_return_val_if_fail (value != NULL, FALSE);

  return g_variant_is_of_type (value, G_VARIANT_TYPE_UNIT);
}

GVariant *
gossip_payload_new_bytes (const guint8 *data, gsize len)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);

  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

GVariant *
gossip_payload_new_list (GVariant * const *items, gsize n_items)
{
  GVariantBuilder builder;

  g_return_val_if_fail (items != NULL || n_items == 0, NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  for (gsize i = 0; i < n_items; i++)
    g_variant_builder_add_value (&builder, g_variant_new_variant (items[i]));
  return g_variant_builder_end (&builder);
}

/* ------------------------------------------------------------------------ */
/* Text                                                                     */
/* ------------------------------------------------------------------------ */

static void
append_double (GString *out, double d)
{
  char buf[64];
  const char *e;
  int exponent;

  if (isnan (d))
    {
      g_string_append (out, "NaN");
      return;
    }
  if (isinf (d))
    {
      g_string_append (out, d > 0 ? "Infinity" : "-Infinity");
      return;
    }

  /* Like Python's repr(): the fewest significant digits that read back as
   * the same double (0.1, not 0.10000000000000001), in positional notation
   * for exponents -4..15 and scientific otherwise. */
  for (int digits = 1; digits <= 17; digits++)
    {
      char format[8];

      g_snprintf (format, sizeof format, "%%.%de", digits - 1);
      g_ascii_formatd (buf, sizeof buf, format, d);
      if (g_ascii_strtod (buf, NULL) == d)
        break;
    }

  e = strchr (buf, 'e');
  exponent = e != NULL ? atoi (e + 1) : 0;
  if (e != NULL && exponent >= -4 && exponent < 16)
    {
      int significant = (int) (e - buf) - (buf[0] == '-') - (strchr (buf, '.') != NULL);
      char format[8];

      g_snprintf (format, sizeof format, "%%.%df", MAX (significant - 1 - exponent, 0));
      g_ascii_formatd (buf, sizeof buf, format, d);
    }

  g_string_append (out, buf);
  /* Keep doubles recognisable as doubles: 2.0 is not the int 2. */
  if (strpbrk (buf, ".e") == NULL)
    g_string_append (out, ".0");
}

static void
append_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      switch (c)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

static void
append_bytes (GString *out, GVariant *value)
{
  gsize len = 0;
  const guint8 *data = g_variant_get_fixed_array (value, &len, 1);

  g_string_append (out, "b\"");
  for (gsize i = 0; i < len; i++)
    {
      guint8 c = data[i];

      if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c >= 0x20 && c < 0x7f)
        g_string_append_c (out, (char) c);
      else
        g_string_append_printf (out, "\\x%02x", c);
    }
  g_string_append_c (out, '"');
}

/* Bounded recursion: values that were never validated may be arbitrarily
 * deep, so anything below the payload depth limit is elided. */
static void
append_value (GString *out, GVariant *value, guint depth)
{
  gsize n;

  if (depth > GOSSIP_PAYLOAD_MAX_DEPTH)
    {
      g_string_append (out, "...");
      return;
    }

  switch (payload_kind (value))
    {
    case PAYLOAD_NONE:
      g_string_append (out, "null");
      break;
    case PAYLOAD_BOOL:
      g_string_append (out, g_variant_get_boolean (value) ? "true" : "false");
      break;
    case PAYLOAD_INT:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, g_variant_get_int64 (value));
      break;
    case PAYLOAD_DOUBLE:
      append_double (out, g_variant_get_double (value));
      break;
    case PAYLOAD_STRING:
      append_json_string (out, g_variant_get_string (value, NULL));
      break;
    case PAYLOAD_BYTES:
      append_bytes (out, value);
      break;
    case PAYLOAD_LIST:
      n = g_variant_n_children (value);
      g_string_append_c (out, '[');
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (value, i);
          g_autoptr(GVariant) item = g_variant_get_variant (boxed);

          if (i > 0)
            g_string_append_c (out, ',');
          append_value (out, item, depth + 1);
        }
      g_string_append_c (out, ']');
      break;
    case PAYLOAD_DICT:
      n = g_variant_n_children (value);
      g_string_append_c (out, '{');
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) entry = g_variant_get_child_value (value, i);
          g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
          g_autoptr(GVariant) boxed = g_variant_get_child_value (entry, 1);
          g_autoptr(GVariant) item = g_variant_get_variant (boxed);

          if (i > 0)
            g_string_append_c (out, ',');
          append_json_string (out, g_variant_get_string (key, NULL));
          g_string_append_c (out, ':');
          append_value (out, item, depth + 1);
        }
      g_string_append_c (out, '}');
      break;
    case PAYLOAD_INVALID:
    default:
      {
        /* Not a payload type: still show something useful for debugging. */
        g_autofree char *text = g_variant_print (value, TRUE);

        g_string_append_printf (out, "<%s>", text);
      }
      break;
    }
}

char *
gossip_payload_to_string (GVariant *value)
{
  GString *out;

  g_return_val_if_fail (value != NULL, NULL);

  out = g_string_new (NULL);
  append_value (out, value, 1);
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

/* TRUE for a well-formed integer literal ("-"? digits) outside int64.
 * Malformed literals are left to json-glib to report. */
static gboolean
json_integer_overflows (const char *literal)
{
  const char *digits = literal[0] == '-' ? literal + 1 : literal;

  if (digits[0] == '\0' || strspn (digits, "0123456789") != strlen (digits))
    return FALSE;
  return !g_ascii_string_to_signed (literal, 10, G_MININT64, G_MAXINT64, NULL, NULL);
}

/* json-glib silently wraps integers beyond 64 bits around and recurses
 * without a limit, so the text is checked first: nesting within the payload
 * depth limit, every integer literal within int64. Strings are skipped so
 * that brackets and digits inside them do not count. */
static gboolean
json_prescan (const char *json, GError **error)
{
  guint depth = 0;
  gboolean in_string = FALSE;

  for (const char *p = json; *p != '\0'; p++)
    {
      if (in_string)
        {
          if (*p == '\\' && p[1] != '\0')
            p++;
          else if (*p == '"')
            in_string = FALSE;
          continue;
        }

      if (*p == '"')
        {
          in_string = TRUE;
        }
      else if (*p == '[' || *p == '{')
        {
          if (++depth > GOSSIP_PAYLOAD_MAX_DEPTH)
            {
              g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("JSON payload is nested too deeply (at most %d levels)"),
                           GOSSIP_PAYLOAD_MAX_DEPTH);
              return FALSE;
            }
        }
      else if (*p == ']' || *p == '}')
        {
          if (depth > 0)
            depth--;
        }
      else if (*p == '-' || g_ascii_isdigit (*p))
        {
          const char *start = p;
          gboolean integral = TRUE;
          g_autofree char *literal = NULL;

          while (p[1] != '\0' && strchr ("+-0123456789.eE", p[1]) != NULL)
            {
              p++;
              if (*p == '.' || *p == 'e' || *p == 'E')
                integral = FALSE;
            }
          if (!integral)
            continue;

          literal = g_strndup (start, (gsize) (p - start + 1));
          if (json_integer_overflows (literal))
            {
              g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("JSON integer %s does not fit in 64 bits (use a float, e.g. %s.0)"),
                           literal, literal);
              return FALSE;
            }
        }
    }

  return TRUE;
}

static GVariant *
json_to_variant (JsonNode *node, guint depth, GError **error)
{
  if (depth > GOSSIP_PAYLOAD_MAX_DEPTH)
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                   _("JSON payload is nested too deeply (at most %d levels)"),
                   GOSSIP_PAYLOAD_MAX_DEPTH);
      return NULL;
    }

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      return gossip_payload_none ();

    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          return g_variant_new_int64 (json_node_get_int (node));
        case G_TYPE_DOUBLE:
          return g_variant_new_double (json_node_get_double (node));
        case G_TYPE_BOOLEAN:
          return g_variant_new_boolean (json_node_get_boolean (node));
        case G_TYPE_STRING:
          {
            const char *s = json_node_get_string (node);

            if (!g_utf8_validate (s, -1, NULL))
              {
                g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                                     _("JSON payload has a string that is not valid UTF-8"));
                return NULL;
              }
            return g_variant_new_string (s);
          }
        default:
          g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE,
                       _("JSON value of type %s is not supported"),
                       g_type_name (json_node_get_value_type (node)));
          return NULL;
        }

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);
        GVariantBuilder builder;

        g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
        for (guint i = 0; i < n; i++)
          {
            GVariant *item = json_to_variant (json_array_get_element (array, i), depth + 1, error);

            if (item == NULL)
              {
                g_variant_builder_clear (&builder);
                return NULL;
              }
            g_variant_builder_add (&builder, "v", item);
          }
        return g_variant_builder_end (&builder);
      }

    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        g_autoptr(GList) members = json_object_get_members (object);
        GVariantBuilder builder;

        g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
        for (GList *l = members; l != NULL; l = l->next)
          {
            const char *key = l->data;
            GVariant *item;

            if (!g_utf8_validate (key, -1, NULL))
              {
                g_variant_builder_clear (&builder);
                g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                                     _("JSON payload has a key that is not valid UTF-8"));
                return NULL;
              }
            item = json_to_variant (json_object_get_member (object, key), depth + 1, error);
            if (item == NULL)
              {
                g_variant_builder_clear (&builder);
                return NULL;
              }
            g_variant_builder_add (&builder, "{sv}", key, item);
          }
        return g_variant_builder_end (&builder);
      }

    default:
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE,
                           _("unsupported JSON node"));
      return NULL;
    }
}

GVariant *
gossip_payload_from_json (const char *json, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GVariant) value = NULL;
  JsonNode *root;

  g_return_val_if_fail (json != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!json_prescan (json, error))
    return NULL;

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, json, -1, &local_error))
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                   _("invalid JSON payload: %s"), local_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("invalid JSON payload: no value"));
      return NULL;
    }

  value = json_to_variant (root, 1, error);
  if (value == NULL)
    return NULL;
  g_variant_ref_sink (value);

  /* Dicts cost GVariant more nesting than lists: make sure what the CLI
   * accepts can also be sent. */
  if (!gossip_payload_check (value, error))
    return NULL;

  return g_steal_pointer (&value);
}
