/* bridge-json.c — strict JSON text <-> JsonNode for the stdio bridge.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * json-glib is used as the document model, but not for reading or writing
 * text: its parser silently wraps integers beyond the int64 range (the Go
 * host writes a float such as 1e20 as the integer literal
 * 100000000000000000000), accepts trailing garbage and single-quoted
 * strings, and its generator's float format cannot be chosen.  The wire
 * needs exact int64 round trips, finite shortest-form doubles, and a parse
 * error for anything that is not one JSON value.
 */

#include "config.h"

#include "bridge-json.h"

#include <errno.h>
#include <math.h>
#include <string.h>

G_DEFINE_QUARK (bridge-json-error-quark, bridge_json_error)

typedef struct {
  const char *p;
  const char *start;
  const char *end;
  guint depth;
} Parser;

static gboolean parse_value (Parser *ps, JsonNode **out, GError **error);

static void
fail (Parser *ps,
      GError **error,
      BridgeJsonError code,
      const char *what)
{
  g_set_error (error, BRIDGE_JSON_ERROR, code,
               "%s at byte %" G_GSIZE_FORMAT, what, (gsize) (ps->p - ps->start));
}

static void
skip_ws (Parser *ps)
{
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static gboolean
expect_literal (Parser *ps,
                const char *literal,
                GError **error)
{
  gsize len = strlen (literal);

  if ((gsize) (ps->end - ps->p) < len || memcmp (ps->p, literal, len) != 0)
    {
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid literal");
      return FALSE;
    }
  ps->p += len;
  return TRUE;
}

static int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static gboolean
parse_hex4 (Parser *ps,
            gunichar *out,
            GError **error)
{
  gunichar v = 0;

  if (ps->end - ps->p < 4)
    {
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "truncated \\u escape");
      return FALSE;
    }
  for (int i = 0; i < 4; i++)
    {
      int d = hex_digit (ps->p[i]);
      if (d < 0)
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid \\u escape");
          return FALSE;
        }
      v = (v << 4) | (gunichar) d;
    }
  ps->p += 4;
  *out = v;
  return TRUE;
}

/* Reads a string; ps->p is on the opening quote. */
static gboolean
parse_string (Parser *ps,
              char **out,
              GError **error)
{
  g_autoptr(GString) s = g_string_new (NULL);

  ps->p++;
  for (;;)
    {
      const char *run = ps->p;

      /* Copy plain ASCII runs in one go. */
      while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
             (guchar) *ps->p >= 0x20 && (guchar) *ps->p < 0x80)
        ps->p++;
      g_string_append_len (s, run, ps->p - run);

      if (ps->p >= ps->end)
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unterminated string");
          return FALSE;
        }

      guchar c = (guchar) *ps->p;
      if (c == '"')
        {
          ps->p++;
          break;
        }
      else if (c < 0x20)
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "control character in string");
          return FALSE;
        }
      else if (c >= 0x80)
        {
          gunichar uc = g_utf8_get_char_validated (ps->p, ps->end - ps->p);
          if (uc == (gunichar) -1 || uc == (gunichar) -2)
            {
              fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid UTF-8 in string");
              return FALSE;
            }
          const char *next = g_utf8_next_char (ps->p);
          g_string_append_len (s, ps->p, next - ps->p);
          ps->p = next;
        }
      else /* backslash */
        {
          gunichar uc;

          ps->p++;
          if (ps->p >= ps->end)
            {
              fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unterminated string");
              return FALSE;
            }
          switch (*ps->p++)
            {
            case '"': g_string_append_c (s, '"'); continue;
            case '\\': g_string_append_c (s, '\\'); continue;
            case '/': g_string_append_c (s, '/'); continue;
            case 'b': g_string_append_c (s, '\b'); continue;
            case 'f': g_string_append_c (s, '\f'); continue;
            case 'n': g_string_append_c (s, '\n'); continue;
            case 'r': g_string_append_c (s, '\r'); continue;
            case 't': g_string_append_c (s, '\t'); continue;
            case 'u':
              break;
            default:
              ps->p--;
              fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid escape in string");
              return FALSE;
            }

          if (!parse_hex4 (ps, &uc, error))
            return FALSE;
          if (uc >= 0xD800 && uc <= 0xDBFF)
            {
              gunichar low;

              if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                {
                  fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unpaired surrogate in string");
                  return FALSE;
                }
              ps->p += 2;
              if (!parse_hex4 (ps, &low, error))
                return FALSE;
              if (low < 0xDC00 || low > 0xDFFF)
                {
                  fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unpaired surrogate in string");
                  return FALSE;
                }
              uc = 0x10000 + ((uc - 0xD800) << 10) + (low - 0xDC00);
            }
          else if (uc >= 0xDC00 && uc <= 0xDFFF)
            {
              fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unpaired surrogate in string");
              return FALSE;
            }
          else if (uc == 0)
            {
              /* Strings are NUL-terminated all the way into the plugin. */
              fail (ps, error, BRIDGE_JSON_ERROR_UNSUPPORTED,
                    "NUL character in string (not supported)");
              return FALSE;
            }
          g_string_append_unichar (s, uc);
        }
    }

  *out = g_string_free (g_steal_pointer (&s), FALSE);
  return TRUE;
}

static gboolean
parse_number (Parser *ps,
              JsonNode **out,
              GError **error)
{
  const char *begin = ps->p;
  gboolean integral = TRUE;
  char buf[128];
  gsize len;

  if (ps->p < ps->end && *ps->p == '-')
    ps->p++;
  if (ps->p < ps->end && *ps->p == '0')
    ps->p++;
  else if (ps->p < ps->end && *ps->p >= '1' && *ps->p <= '9')
    while (ps->p < ps->end && g_ascii_isdigit (*ps->p))
      ps->p++;
  else
    {
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid number");
      return FALSE;
    }
  if (ps->p < ps->end && *ps->p == '.')
    {
      integral = FALSE;
      ps->p++;
      if (ps->p >= ps->end || !g_ascii_isdigit (*ps->p))
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid number");
          return FALSE;
        }
      while (ps->p < ps->end && g_ascii_isdigit (*ps->p))
        ps->p++;
    }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E'))
    {
      integral = FALSE;
      ps->p++;
      if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
        ps->p++;
      if (ps->p >= ps->end || !g_ascii_isdigit (*ps->p))
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "invalid number");
          return FALSE;
        }
      while (ps->p < ps->end && g_ascii_isdigit (*ps->p))
        ps->p++;
    }

  len = ps->p - begin;
  g_autofree char *heap = NULL;
  char *text = buf;
  if (len >= sizeof buf)
    text = heap = g_malloc (len + 1);
  memcpy (text, begin, len);
  text[len] = '\0';

  /* "-0" must stay a negative zero: the Go host writes the float -0.0 so. */
  if (integral && strcmp (text, "-0") != 0)
    {
      char *endp = NULL;
      gint64 v;

      errno = 0;
      v = g_ascii_strtoll (text, &endp, 10);
      if (errno == 0 && endp == text + len)
        {
          *out = json_node_init_int (json_node_alloc (), v);
          return TRUE;
        }
      /* Out of int64 range: fall through and keep it as a double, so a
       * float survives and an int is reported as out of range later. */
    }

  {
    char *endp = NULL;
    double d;

    errno = 0;
    d = g_ascii_strtod (text, &endp);
    if (endp != text + len || !isfinite (d))
      {
        ps->p = begin;
        fail (ps, error, BRIDGE_JSON_ERROR_RANGE, "number out of range");
        return FALSE;
      }
    *out = json_node_init_double (json_node_alloc (), d);
  }
  return TRUE;
}

static gboolean
parse_array (Parser *ps,
             JsonNode **out,
             GError **error)
{
  g_autoptr(JsonArray) array = json_array_new ();

  ps->p++;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == ']')
    {
      ps->p++;
      goto done;
    }
  for (;;)
    {
      JsonNode *item = NULL;

      skip_ws (ps);
      if (!parse_value (ps, &item, error))
        return FALSE;
      json_array_add_element (array, item);
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == ',')
        {
          ps->p++;
          continue;
        }
      if (ps->p < ps->end && *ps->p == ']')
        {
          ps->p++;
          break;
        }
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "expected ',' or ']'");
      return FALSE;
    }
done:
  *out = json_node_init_array (json_node_alloc (), array);
  return TRUE;
}

static gboolean
parse_object (Parser *ps,
              JsonNode **out,
              GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();

  ps->p++;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == '}')
    {
      ps->p++;
      goto done;
    }
  for (;;)
    {
      g_autofree char *key = NULL;
      JsonNode *member = NULL;

      skip_ws (ps);
      if (ps->p >= ps->end || *ps->p != '"')
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "expected a member name");
          return FALSE;
        }
      if (!parse_string (ps, &key, error))
        return FALSE;
      skip_ws (ps);
      if (ps->p >= ps->end || *ps->p != ':')
        {
          fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "expected ':'");
          return FALSE;
        }
      ps->p++;
      skip_ws (ps);
      if (!parse_value (ps, &member, error))
        return FALSE;
      /* Duplicate names: the last one wins, as in Go and json-glib. */
      json_object_set_member (object, key, member);
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == ',')
        {
          ps->p++;
          continue;
        }
      if (ps->p < ps->end && *ps->p == '}')
        {
          ps->p++;
          break;
        }
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "expected ',' or '}'");
      return FALSE;
    }
done:
  *out = json_node_init_object (json_node_alloc (), object);
  return TRUE;
}

static gboolean
parse_value (Parser *ps,
             JsonNode **out,
             GError **error)
{
  gboolean ok;

  if (ps->p >= ps->end)
    {
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unexpected end of input");
      return FALSE;
    }

  switch (*ps->p)
    {
    case '{':
    case '[':
      if (ps->depth >= BRIDGE_JSON_MAX_DEPTH)
        {
          fail (ps, error, BRIDGE_JSON_ERROR_DEPTH, "nesting too deep");
          return FALSE;
        }
      ps->depth++;
      ok = *ps->p == '{' ? parse_object (ps, out, error) : parse_array (ps, out, error);
      ps->depth--;
      return ok;
    case '"':
      {
        g_autofree char *s = NULL;
        if (!parse_string (ps, &s, error))
          return FALSE;
        *out = json_node_init_string (json_node_alloc (), s);
        return TRUE;
      }
    case 't':
      if (!expect_literal (ps, "true", error))
        return FALSE;
      *out = json_node_init_boolean (json_node_alloc (), TRUE);
      return TRUE;
    case 'f':
      if (!expect_literal (ps, "false", error))
        return FALSE;
      *out = json_node_init_boolean (json_node_alloc (), FALSE);
      return TRUE;
    case 'n':
      if (!expect_literal (ps, "null", error))
        return FALSE;
      *out = json_node_init_null (json_node_alloc ());
      return TRUE;
    default:
      if (*ps->p == '-' || g_ascii_isdigit (*ps->p))
        return parse_number (ps, out, error);
      fail (ps, error, BRIDGE_JSON_ERROR_SYNTAX, "unexpected character");
      return FALSE;
    }
}

/**
 * bridge_json_parse:
 * @data: UTF-8 JSON text (need not be NUL-terminated)
 * @length: length of @data in bytes
 * @error: return location for a #BridgeJsonError
 *
 * Parses exactly one RFC 8259 JSON value, surrounded by optional white
 * space.  Integer literals that fit in an int64 become %G_TYPE_INT64 nodes
 * (exactly), all other numbers %G_TYPE_DOUBLE nodes; `-0` is the double
 * negative zero.  Nesting is limited to #BRIDGE_JSON_MAX_DEPTH.
 *
 * Thread: any.
 *
 * Returns: (transfer full): the value, or %NULL with @error set.
 */
JsonNode *
bridge_json_parse (const char *data,
                   gsize length,
                   GError **error)
{
  Parser ps = { data, data, data + length, 0 };
  JsonNode *node = NULL;

  skip_ws (&ps);
  if (!parse_value (&ps, &node, error))
    return NULL;
  skip_ws (&ps);
  if (ps.p != ps.end)
    {
      json_node_unref (node);
      fail (&ps, error, BRIDGE_JSON_ERROR_SYNTAX, "trailing data after the JSON value");
      return NULL;
    }
  return node;
}

/**
 * bridge_json_format_double:
 * @value: a finite double
 * @buf: output buffer
 *
 * Writes the shortest decimal that reads back as exactly @value, as a JSON
 * number that always shows it is a float (`2.0`, `-0.0`, `1e+300`).
 *
 * Returns: %FALSE if @value is NaN or infinite (JSON cannot carry it).
 */
gboolean
bridge_json_format_double (double value,
                           char buf[BRIDGE_JSON_DOUBLE_BUF_SIZE])
{
  if (!isfinite (value))
    return FALSE;

  int precision;
  char format[8];

  for (precision = 1; precision < 17; precision++)
    {
      g_snprintf (format, sizeof format, "%%.%dg", precision);
      g_ascii_formatd (buf, BRIDGE_JSON_DOUBLE_BUF_SIZE - 3, format, value);
      if (g_ascii_strtod (buf, NULL) == value)
        break;
    }

  /* %g switches to an exponent as soon as the exponent reaches the
   * precision ("1e+03"); below 1e17 print the integer digits instead. */
  if (value != 0.0)
    {
      int exponent = (int) floor (log10 (fabs (value)));

      if (exponent >= precision && exponent < 17)
        precision = exponent + 1;
    }
  g_snprintf (format, sizeof format, "%%.%dg", precision);
  g_ascii_formatd (buf, BRIDGE_JSON_DOUBLE_BUF_SIZE - 3, format, value);
  if (strpbrk (buf, ".eE") == NULL)
    strcat (buf, ".0");
  return TRUE;
}

static void
write_string (GString *out,
              const char *s)
{
  static const char hex[] = "0123456789abcdef";

  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++)
    {
      switch (*p)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        default:
          if (*p < 0x20)
            {
              g_string_append (out, "\\u00");
              g_string_append_c (out, hex[*p >> 4]);
              g_string_append_c (out, hex[*p & 0xf]);
            }
          else
            g_string_append_c (out, (char) *p);
        }
    }
  g_string_append_c (out, '"');
}

/**
 * bridge_json_write:
 * @out: string to append to
 * @node: the value
 * @error: return location for a #BridgeJsonError
 *
 * Appends @node as compact JSON (no white space, no newline; object members
 * in insertion order; strings as raw UTF-8 with control characters
 * escaped; doubles by bridge_json_format_double()).  Strings must be valid
 * UTF-8; the bridge only builds nodes from validated text.
 *
 * Thread: any.
 *
 * Returns: %FALSE if a double is not finite (@out then holds partial text).
 */
gboolean
bridge_json_write (GString *out,
                   JsonNode *node,
                   GError **error)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      g_string_append (out, "null");
      return TRUE;

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        g_string_append_c (out, '[');
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            if (!bridge_json_write (out, json_array_get_element (array, i), error))
              return FALSE;
          }
        g_string_append_c (out, ']');
        return TRUE;
      }

    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;
        gboolean first = TRUE;

        g_string_append_c (out, '{');
        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            if (!first)
              g_string_append_c (out, ',');
            first = FALSE;
            write_string (out, name);
            g_string_append_c (out, ':');
            if (!bridge_json_write (out, member, error))
              return FALSE;
          }
        g_string_append_c (out, '}');
        return TRUE;
      }

    case JSON_NODE_VALUE:
      {
        GType type = json_node_get_value_type (node);

        if (type == G_TYPE_STRING)
          write_string (out, json_node_get_string (node));
        else if (type == G_TYPE_BOOLEAN)
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
        else if (type == G_TYPE_INT64)
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
        else if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT)
          {
            char buf[BRIDGE_JSON_DOUBLE_BUF_SIZE];

            if (!bridge_json_format_double (json_node_get_double (node), buf))
              {
                g_set_error (error, BRIDGE_JSON_ERROR, BRIDGE_JSON_ERROR_UNSUPPORTED,
                             "float value %g cannot be sent: JSON has no NaN or infinity",
                             json_node_get_double (node));
                return FALSE;
              }
            g_string_append (out, buf);
          }
        else
          {
            g_set_error (error, BRIDGE_JSON_ERROR, BRIDGE_JSON_ERROR_UNSUPPORTED,
                         "JSON value of type %s cannot be written", g_type_name (type));
            return FALSE;
          }
        return TRUE;
      }

    default:
      g_set_error_literal (error, BRIDGE_JSON_ERROR, BRIDGE_JSON_ERROR_UNSUPPORTED,
                           "unknown JSON node type");
      return FALSE;
    }
}

/**
 * bridge_json_to_string:
 * @node: the value
 * @error: return location for a #BridgeJsonError
 *
 * Like bridge_json_write() into a new string.
 *
 * Returns: (transfer full): the text, or %NULL with @error set.
 */
char *
bridge_json_to_string (JsonNode *node,
                       GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (!bridge_json_write (out, node, error))
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/**
 * bridge_json_node_take_object:
 * @object: (transfer full): an object
 *
 * Returns: (transfer full): a node holding @object, without the extra
 *   reference json_node_init_object() would take
 */
JsonNode *
bridge_json_node_take_object (JsonObject *object)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  return node;
}

/**
 * bridge_json_node_take_array:
 * @array: (transfer full): an array
 *
 * Returns: (transfer full): a node holding @array
 */
JsonNode *
bridge_json_node_take_array (JsonArray *array)
{
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  json_node_take_array (node, array);
  return node;
}
