/* gossip-plugin-values.c — arguments, errors and value conversions.
 *
 * SPDX-License-Identifier: MIT
 *
 * Everything script-visible about values lives here: how arguments are
 * matched to parameters, which types each parameter takes (no silent
 * coercion: a bool is not an int, a float is not an int, truthiness is
 * never used), how payloads map to the library's GVariant model, and the
 * metadata string view of gossip-protocol.md §14.5.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gossip-plugin-private.h"
#include "gossip-payload-private.h"

/* ---- errors ---------------------------------------------------------------- */

void
gp_raise (ScriptlingCall      *call,
          ScriptlingErrorKind  kind,
          const char          *format,
          ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  gp_api->call_raise (call, kind, message);
}

/* Maps the library's error codes to the script error classes: wrong types
 * are TypeError, unacceptable values ValueError, everything the world did
 * (stopped cluster, unreachable node, timeout) RuntimeError. */
void
gp_raise_error (ScriptlingCall *call,
                const GError   *error)
{
  ScriptlingErrorKind kind = SCRIPTLING_ERROR_RUNTIME;

  if (error->domain == GOSSIP_CONFIG_ERROR)
    {
      if (error->code == GOSSIP_CONFIG_ERROR_INVALID_TYPE || error->code == GOSSIP_CONFIG_ERROR_UNKNOWN_KEY)
        kind = SCRIPTLING_ERROR_TYPE;
      else
        kind = SCRIPTLING_ERROR_VALUE;
    }
  else if (error->domain == GOSSIP_CLUSTER_ERROR)
    {
      switch (error->code)
        {
        case GOSSIP_CLUSTER_ERROR_INVALID_TYPE:
          kind = SCRIPTLING_ERROR_TYPE;
          break;
        case GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT:
        case GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS:
        case GOSSIP_CLUSTER_ERROR_TYPE_OWNED:
        case GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE:
        case GOSSIP_CLUSTER_ERROR_ID_IN_USE:
          kind = SCRIPTLING_ERROR_VALUE;
          break;
        default:
          kind = SCRIPTLING_ERROR_RUNTIME;
          break;
        }
    }
  gp_api->call_raise (call, kind, error->message);
}

const char *
gp_type_name (const ScriptlingValue *v)
{
  return gp_api->value_type_name (gp_api->value_get_type (v));
}

/* ---- argument matching -------------------------------------------------------- */

gboolean
gp_parse_args (ScriptlingCall                *call,
               const char                    *fn,
               size_t                         n_args,
               const ScriptlingValue *const  *args,
               const ScriptlingValue         *kwargs,
               const char * const            *names,
               guint                          n_required,
               const ScriptlingValue        **out,
               const ScriptlingValue        **dispatch)
{
  guint n_names = names != NULL ? g_strv_length ((char **) names) : 0;

  if (dispatch != NULL)
    *dispatch = NULL;
  for (guint i = 0; i < n_names; i++)
    out[i] = i < n_args ? args[i] : NULL;

  if (n_args > n_names)
    {
      if (n_names == 0)
        gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() takes no arguments (%zu given)"), fn, n_args);
      else
        gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() takes at most %u arguments (%zu given)"),
                  fn, n_names, n_args);
      return FALSE;
    }

  for (size_t k = 0; k < gp_api->dict_get_size (kwargs); k++)
    {
      const char *key = NULL;
      const ScriptlingValue *value = NULL;
      guint i;

      gp_api->dict_get_entry (kwargs, k, &key, &value);
      if (dispatch != NULL && g_str_equal (key, "_dispatch"))
        {
          ScriptlingValueType t = gp_api->value_get_type (value);

          if (t != SCRIPTLING_VALUE_CALLBACK && t != SCRIPTLING_VALUE_NULL)
            {
              gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() argument '_dispatch' must be callable, not %s"),
                        fn, gp_type_name (value));
              return FALSE;
            }
          *dispatch = t == SCRIPTLING_VALUE_CALLBACK ? value : NULL;
          continue;
        }
      for (i = 0; i < n_names; i++)
        if (g_str_equal (key, names[i]))
          break;
      if (i == n_names)
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() got an unexpected keyword argument '%s'"), fn, key);
          return FALSE;
        }
      if (i < n_args)
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() got multiple values for argument '%s'"), fn, key);
          return FALSE;
        }
      out[i] = value;
    }

  for (guint i = 0; i < n_required; i++)
    if (out[i] == NULL)
      {
        gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() missing required argument '%s'"), fn, names[i]);
        return FALSE;
      }
  return TRUE;
}

/* ---- scalar parameters ---------------------------------------------------------- */

gboolean
gp_get_string (ScriptlingCall         *call,
               const char             *name,
               const ScriptlingValue  *v,
               const char            **out)
{
  const char *s = gp_api->value_get_string (v, NULL);

  if (s == NULL)
    {
      gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a string, not %s"), name, gp_type_name (v));
      return FALSE;
    }
  *out = s;
  return TRUE;
}

gboolean
gp_get_bool (ScriptlingCall        *call,
             const char            *name,
             const ScriptlingValue *v,
             gboolean               def,
             gboolean              *out)
{
  bool b;

  if (v == NULL)
    {
      *out = def;
      return TRUE;
    }
  if (!gp_api->value_get_bool (v, &b))
    {
      gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a bool, not %s"), name, gp_type_name (v));
      return FALSE;
    }
  *out = b;
  return TRUE;
}

gboolean
gp_get_int (ScriptlingCall        *call,
            const char            *name,
            const ScriptlingValue *v,
            gint64                *out)
{
  int64_t i;

  if (!gp_api->value_get_int (v, &i))
    {
      gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be an int, not %s"), name, gp_type_name (v));
      return FALSE;
    }
  *out = i;
  return TRUE;
}

gboolean
gp_get_message_type (ScriptlingCall        *call,
                     const char            *name,
                     const ScriptlingValue *v,
                     guint                 *out)
{
  gint64 t;

  if (!gp_get_int (call, name, v, &t))
    return FALSE;
  if (t < GOSSIP_MSG_USER)
    {
      gp_raise (call, SCRIPTLING_ERROR_VALUE,
                _("message type %" PRId64 " is reserved (user types are 128–65535)"), t);
      return FALSE;
    }
  if (t > 65535)
    {
      gp_raise (call, SCRIPTLING_ERROR_VALUE,
                _("message type %" PRId64 " is out of range (user types are 128–65535)"), t);
      return FALSE;
    }
  *out = (guint) t;
  return TRUE;
}

gboolean
gp_get_duration (ScriptlingCall        *call,
                 const char            *name,
                 const ScriptlingValue *v,
                 gint64                *out_usec)
{
  const char *text = gp_api->value_get_string (v, NULL);
  int64_t i;
  double d;

  if (text != NULL)
    {
      g_autoptr(GError) error = NULL;
      gint64 usec = 0;

      if (!gossip_parse_duration (text, &usec, &error))
        {
          gp_raise (call, SCRIPTLING_ERROR_VALUE, "%s: %s", name, error->message);
          return FALSE;
        }
      if (usec <= 0)
        {
          g_autofree char *quoted = gossip_config_quote (text);

          gp_raise (call, SCRIPTLING_ERROR_VALUE,
                    _("%s must be a positive duration such as \"1s\" or a number of seconds (got %s)"),
                    name, quoted);
          return FALSE;
        }
      *out_usec = usec;
      return TRUE;
    }
  if (gp_api->value_get_int (v, &i))
    {
      if (i <= 0 || i > G_MAXINT64 / G_USEC_PER_SEC / 1000)
        {
          gp_raise (call, SCRIPTLING_ERROR_VALUE,
                    _("%s must be a positive duration such as \"1s\" or a number of seconds (got %" PRId64 ")"),
                    name, (gint64) i);
          return FALSE;
        }
      *out_usec = i * G_USEC_PER_SEC;
      return TRUE;
    }
  if (gp_api->value_get_float (v, &d))
    {
      g_autofree char *got = gp_format_float (d);
      double usec = isfinite (d) ? round (d * G_USEC_PER_SEC) : 0;

      if (!isfinite (d) || d <= 0 || usec < 1 || usec > 9.0e15)
        {
          gp_raise (call, SCRIPTLING_ERROR_VALUE,
                    _("%s must be a positive duration such as \"1s\" or a number of seconds (got %s)"),
                    name, got);
          return FALSE;
        }
      *out_usec = (gint64) usec;
      return TRUE;
    }
  gp_raise (call, SCRIPTLING_ERROR_TYPE,
            _("%s must be a duration string such as \"1s\" or a number of seconds, not %s"),
            name, gp_type_name (v));
  return FALSE;
}

gboolean
gp_get_callable (ScriptlingCall        *call,
                 const char            *name,
                 const ScriptlingValue *v,
                 gboolean               allow_none,
                 gboolean              *present)
{
  ScriptlingValueType t = gp_api->value_get_type (v);

  if (t == SCRIPTLING_VALUE_CALLBACK)
    {
      *present = TRUE;
      return TRUE;
    }
  if (allow_none && t == SCRIPTLING_VALUE_NULL)
    {
      *present = FALSE;
      return TRUE;
    }
  if (allow_none)
    gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be callable or None, not %s"), name, gp_type_name (v));
  else
    gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be callable, not %s"), name, gp_type_name (v));
  return FALSE;
}

/* ---- metadata string view ---------------------------------------------------------- */

/* Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that read
 * back as @value, written without an exponent (1e20 -> "100000000000000000000"). */
char *
gp_format_float (double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  char digits[32];
  gsize n = 0;
  const char *p;
  int exp10;
  gboolean neg;
  GString *s;

  if (isnan (value))
    return g_strdup ("NaN");
  if (isinf (value))
    return g_strdup (value > 0 ? "+Inf" : "-Inf");

  for (int prec = 0; prec < 17; prec++)
    {
      char fmt[8];

      g_snprintf (fmt, sizeof fmt, "%%.%de", prec);
      g_ascii_formatd (buf, sizeof buf, fmt, value);
      if (g_ascii_strtod (buf, NULL) == value)
        break;
    }

  /* buf is [-]d[.ddd]e[+-]xx */
  p = buf;
  neg = *p == '-';
  if (neg)
    p++;
  for (; *p != 'e' && *p != '\0'; p++)
    if (g_ascii_isdigit (*p) && n < sizeof digits - 1)
      digits[n++] = *p;
  digits[n] = '\0';
  exp10 = *p == 'e' ? atoi (p + 1) : 0;
  /* Drop trailing zeros of the significand (but keep one digit). */
  while (n > 1 && digits[n - 1] == '0')
    digits[--n] = '\0';

  s = g_string_new (neg ? "-" : "");
  if (exp10 >= (int) n - 1)
    {
      g_string_append (s, digits);
      for (int i = 0; i < exp10 - ((int) n - 1); i++)
        g_string_append_c (s, '0');
    }
  else if (exp10 >= 0)
    {
      g_string_append_len (s, digits, exp10 + 1);
      g_string_append_c (s, '.');
      g_string_append (s, digits + exp10 + 1);
    }
  else
    {
      g_string_append (s, "0.");
      for (int i = 0; i < -exp10 - 1; i++)
        g_string_append_c (s, '0');
      g_string_append (s, digits);
    }
  return g_string_free (s, FALSE);
}

char *
gp_metadata_string (ScriptlingCall        *call,
                    const char            *name,
                    const ScriptlingValue *v)
{
  int64_t i;
  double d;
  bool b;
  const char *s;

  if ((s = gp_api->value_get_string (v, NULL)) != NULL)
    return g_strdup (s);
  if (gp_api->value_get_bool (v, &b))
    return g_strdup (b ? "true" : "false");
  if (gp_api->value_get_int (v, &i))
    return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) i);
  if (gp_api->value_get_float (v, &d))
    {
      if (!isfinite (d))
        {
          gp_raise (call, SCRIPTLING_ERROR_VALUE, _("%s must be a finite number, not %s"),
                    name, isnan (d) ? "NaN" : "infinity");
          return NULL;
        }
      return gp_format_float (d);
    }
  gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a str, int, float or bool, not %s"),
            name, gp_type_name (v));
  return NULL;
}

GHashTable *
gp_get_criteria (ScriptlingCall        *call,
                 const char            *name,
                 const ScriptlingValue *v)
{
  g_autoptr(GHashTable) criteria = NULL;
  size_t n;

  if (gp_api->value_get_type (v) != SCRIPTLING_VALUE_DICT)
    {
      gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a dict, not %s"), name, gp_type_name (v));
      return NULL;
    }
  n = gp_api->dict_get_size (v);
  if (n == 0)
    {
      gp_raise (call, SCRIPTLING_ERROR_VALUE, _("%s must be a non-empty dict"), name);
      return NULL;
    }
  criteria = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (size_t i = 0; i < n; i++)
    {
      const char *key = NULL;
      const ScriptlingValue *value = NULL;
      g_autofree char *what = NULL;
      char *text;

      gp_api->dict_get_entry (v, i, &key, &value);
      if (key[0] == '\0')
        {
          gp_raise (call, SCRIPTLING_ERROR_VALUE, _("%s keys must be non-empty strings"), name);
          return NULL;
        }
      what = g_strdup_printf ("%s[\"%s\"]", name, key);
      text = gp_metadata_string (call, what, value);
      if (text == NULL)
        return NULL;
      g_hash_table_insert (criteria, g_strdup (key), text);
    }
  return g_steal_pointer (&criteria);
}

/* ---- payloads ------------------------------------------------------------------------ */

static GVariant *
to_payload (const ScriptlingValue  *v,
            const char             *what,
            guint                   depth,
            GError                **error)
{
  int64_t i;
  double d;
  bool b;
  size_t len;
  const char *s;

  if (depth > GOSSIP_PAYLOAD_MAX_DEPTH)
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                   _("%s is nested too deeply (at most %d levels)"), what, GOSSIP_PAYLOAD_MAX_DEPTH);
      return NULL;
    }

  switch (gp_api->value_get_type (v))
    {
    case SCRIPTLING_VALUE_NULL:
      return gossip_payload_none ();
    case SCRIPTLING_VALUE_BOOL:
      gp_api->value_get_bool (v, &b);
      return g_variant_new_boolean (b);
    case SCRIPTLING_VALUE_INT:
      gp_api->value_get_int (v, &i);
      return g_variant_new_int64 (i);
    case SCRIPTLING_VALUE_FLOAT:
      gp_api->value_get_float (v, &d);
      if (!isfinite (d))
        {
          g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                       _("%s cannot carry NaN or infinity"), what);
          return NULL;
        }
      return g_variant_new_double (d);
    case SCRIPTLING_VALUE_STRING:
      s = gp_api->value_get_string (v, &len);
      if (!g_utf8_validate_len (s, len, NULL))
        {
          g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                       _("%s contains a string that is not valid UTF-8"), what);
          return NULL;
        }
      return g_variant_new_string (s);
    case SCRIPTLING_VALUE_LIST:
      {
        size_t n = gp_api->list_get_length (v);
        g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
        GVariant *result;

        for (size_t k = 0; k < n; k++)
          {
            GVariant *item = to_payload (gp_api->list_get_item (v, k), what, depth + 1, error);
            if (item == NULL)
              return NULL;
            g_ptr_array_add (items, g_variant_ref_sink (item));
          }
        result = gossip_payload_new_list ((GVariant * const *) items->pdata, items->len);
        return result;
      }
    case SCRIPTLING_VALUE_DICT:
      {
        GVariantBuilder builder;
        size_t n = gp_api->dict_get_size (v);

        g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
        for (size_t k = 0; k < n; k++)
          {
            const char *key = NULL;
            const ScriptlingValue *value = NULL;
            GVariant *item;

            gp_api->dict_get_entry (v, k, &key, &value);
            item = to_payload (value, what, depth + 1, error);
            if (item == NULL)
              {
                g_variant_builder_clear (&builder);
                return NULL;
              }
            g_variant_builder_add (&builder, "{sv}", key, item);
          }
        return g_variant_builder_end (&builder);
      }
    case SCRIPTLING_VALUE_CALLBACK:
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE,
                   _("%s cannot contain a function (use None, bool, int, float, str, list or dict)"), what);
      return NULL;
    case SCRIPTLING_VALUE_OBJECT:
    default:
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE,
                   _("%s cannot contain a %s object (use None, bool, int, float, str, list or dict)"),
                   what, gp_type_name (v));
      return NULL;
    }
}

/* Returns a new, non-floating reference. */
GVariant *
gp_value_to_payload (const ScriptlingValue  *v,
                     const char             *what,
                     GError                **error)
{
  GVariant *payload = to_payload (v, what, 1, error);

  return payload != NULL ? g_variant_ref_sink (payload) : NULL;
}

ScriptlingValue *
gp_payload_to_value (GVariant *payload)
{
  if (payload == NULL || gossip_payload_is_none (payload))
    return gp_api->value_new_null ();
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_BOOLEAN))
    return gp_api->value_new_bool (g_variant_get_boolean (payload));
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_INT64))
    return gp_api->value_new_int (g_variant_get_int64 (payload));
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_DOUBLE))
    return gp_api->value_new_float (g_variant_get_double (payload));
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_STRING))
    {
      gsize len;
      const char *s = g_variant_get_string (payload, &len);
      return gp_api->value_new_string_len (s, len);
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_BYTESTRING))
    {
      /* The plugin protocol has no bytes type: bytes become a list of ints. */
      gsize len;
      const guint8 *data = g_variant_get_fixed_array (payload, &len, 1);
      ScriptlingValue *list = gp_api->value_new_list ();

      for (gsize k = 0; k < len; k++)
        gp_api->list_append (list, gp_api->value_new_int (data[k]));
      return list;
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE ("av")))
    {
      ScriptlingValue *list = gp_api->value_new_list ();
      gsize n = g_variant_n_children (payload);

      for (gsize k = 0; k < n; k++)
        {
          g_autoptr(GVariant) boxed = g_variant_get_child_value (payload, k);
          g_autoptr(GVariant) item = g_variant_get_variant (boxed);
          gp_api->list_append (list, gp_payload_to_value (item));
        }
      return list;
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_VARDICT))
    {
      ScriptlingValue *dict = gp_api->value_new_dict ();
      GVariantIter iter;
      const char *key;
      GVariant *item;

      g_variant_iter_init (&iter, payload);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &item))
        {
          gp_api->dict_set (dict, key, gp_payload_to_value (item));
          g_variant_unref (item);
        }
      return dict;
    }
  return gp_api->value_new_null ();
}

/* ---- node snapshots --------------------------------------------------------------------- */

gint
gp_compare_strings (gconstpointer a,
              gconstpointer b,
              gpointer      user_data)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

GpNodeSnap *
gp_node_snap_new (GossipNode *node)
{
  GpNodeSnap *snap = g_new0 (GpNodeSnap, 1);
  GHashTable *metadata = gossip_node_get_metadata (node);
  const char * const *tags = gossip_node_get_tags (node);
  g_autofree gpointer *keys = NULL;
  guint n = 0;

  snap->id = g_strdup (gossip_node_get_id (node));
  snap->addr = g_strdup (gossip_node_get_address (node));
  snap->state = gossip_node_state_to_string (gossip_node_get_state (node));
  snap->tags = g_strdupv ((char **) (tags != NULL ? tags : (const char * const[]) { NULL }));

  if (metadata != NULL)
    keys = g_hash_table_get_keys_as_array (metadata, &n);
  if (n > 1)
    g_qsort_with_data (keys, (gint) n, sizeof (gpointer), gp_compare_strings, NULL);
  snap->meta_keys = g_new0 (char *, n + 1);
  snap->meta_values = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    {
      snap->meta_keys[i] = g_strdup (keys[i]);
      snap->meta_values[i] = g_strdup (g_hash_table_lookup (metadata, keys[i]));
    }
  return snap;
}

void
gp_node_snap_free (GpNodeSnap *snap)
{
  if (snap == NULL)
    return;
  g_free (snap->id);
  g_free (snap->addr);
  g_strfreev (snap->meta_keys);
  g_strfreev (snap->meta_values);
  g_strfreev (snap->tags);
  g_free (snap);
}

ScriptlingValue *
gp_node_snap_to_value (const GpNodeSnap *snap)
{
  ScriptlingValue *dict = gp_api->value_new_dict ();
  ScriptlingValue *metadata = gp_api->value_new_dict ();
  ScriptlingValue *tags = gp_api->value_new_list ();

  for (guint i = 0; snap->meta_keys[i] != NULL; i++)
    gp_api->dict_set (metadata, snap->meta_keys[i], gp_api->value_new_string (snap->meta_values[i]));
  for (guint i = 0; snap->tags[i] != NULL; i++)
    gp_api->list_append (tags, gp_api->value_new_string (snap->tags[i]));

  gp_api->dict_set (dict, "id", gp_api->value_new_string (snap->id));
  gp_api->dict_set (dict, "addr", gp_api->value_new_string (snap->addr));
  gp_api->dict_set (dict, "state", gp_api->value_new_string (snap->state));
  gp_api->dict_set (dict, "metadata", metadata);
  gp_api->dict_set (dict, "tags", tags);
  return dict;
}

ScriptlingValue *
gp_node_to_value (GossipNode *node)
{
  GpNodeSnap *snap = gp_node_snap_new (node);
  ScriptlingValue *value = gp_node_snap_to_value (snap);

  gp_node_snap_free (snap);
  return value;
}

ScriptlingValue *
gp_node_list_to_value (GPtrArray *nodes)
{
  ScriptlingValue *list = gp_api->value_new_list ();

  for (guint i = 0; nodes != NULL && i < nodes->len; i++)
    gp_api->list_append (list, gp_node_to_value (g_ptr_array_index (nodes, i)));
  return list;
}
