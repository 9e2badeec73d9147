/* gossip-duration.c — durations in Go syntax: parsing as Go's
 * time.ParseDuration() and formatting as time.Duration.String() do.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "gossip-config-private.h"
#include "gossip-error.h"

#define USEC_PER_SEC      G_GINT64_CONSTANT (1000000)

/* --- formatting ----------------------------------------------------------- */

static void
append_fraction (GString *s,
                 guint64  fraction,
                 int      digits)
{
  char buf[16];
  int len;

  if (fraction == 0)
    return;
  len = g_snprintf (buf, sizeof buf, "%0*" G_GUINT64_FORMAT, digits, fraction);
  while (len > 0 && buf[len - 1] == '0')
    buf[--len] = '\0';
  g_string_append_c (s, '.');
  g_string_append (s, buf);
}

/*
 * gossip_format_duration:
 * @usec: a duration in microseconds
 *
 * Formats @usec like Go's time.Duration.String(): "1h30m0s", "1.5s",
 * "500ms", "300µs", "0s".
 *
 * Returns: (transfer full): the text
 */
char *
gossip_format_duration (gint64 usec)
{
  GString *s = g_string_new (NULL);
  guint64 u = usec < 0 ? (guint64) 0 - (guint64) usec : (guint64) usec;

  if (usec < 0)
    g_string_append_c (s, '-');

  if (u == 0)
    {
      g_string_append (s, "0s");
    }
  else if (u < 1000)
    {
      g_string_append_printf (s, "%" G_GUINT64_FORMAT "\xc2\xb5s", u);
    }
  else if (u < (guint64) USEC_PER_SEC)
    {
      g_string_append_printf (s, "%" G_GUINT64_FORMAT, u / 1000);
      append_fraction (s, u % 1000, 3);
      g_string_append (s, "ms");
    }
  else
    {
      guint64 secs = u / (guint64) USEC_PER_SEC;
      guint64 hours = secs / 3600;
      guint64 minutes = secs / 60 % 60;

      if (hours > 0)
        g_string_append_printf (s, "%" G_GUINT64_FORMAT "h", hours);
      if (hours > 0 || minutes > 0)
        g_string_append_printf (s, "%" G_GUINT64_FORMAT "m", minutes);
      g_string_append_printf (s, "%" G_GUINT64_FORMAT, secs % 60);
      append_fraction (s, u % (guint64) USEC_PER_SEC, 6);
      g_string_append_c (s, 's');
    }
  return g_string_free (s, FALSE);
}

/* --- parsing -------------------------------------------------------------- */

#define ONE_SHL_63 (G_GUINT64_CONSTANT (1) << 63)

static const struct {
  const char *name;
  guint64 ns;
} duration_units[] = {
  { "ns", G_GUINT64_CONSTANT (1) },
  { "us", G_GUINT64_CONSTANT (1000) },
  { "\xc2\xb5s", G_GUINT64_CONSTANT (1000) }, /* U+00B5 MICRO SIGN */
  { "\xce\xbcs", G_GUINT64_CONSTANT (1000) }, /* U+03BC GREEK SMALL LETTER MU */
  { "ms", G_GUINT64_CONSTANT (1000000) },
  { "s", G_GUINT64_CONSTANT (1000000000) },
  { "m", G_GUINT64_CONSTANT (60000000000) },
  { "h", G_GUINT64_CONSTANT (3600000000000) },
};

/* A transcription of Go's time.ParseDuration (Go 1.22):
 * [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ with "0" (optionally signed) allowed alone. */
GossipDurationStatus
_gossip_parse_duration_ns (const char  *text,
                           gint64      *out_ns,
                           char       **out_unit)
{
  const char *s = text;
  guint64 d = 0;
  gboolean neg = FALSE;

  if (*s == '-' || *s == '+')
    {
      neg = *s == '-';
      s++;
    }
  if (strcmp (s, "0") == 0)
    {
      *out_ns = 0;
      return GOSSIP_DURATION_OK;
    }
  if (*s == '\0')
    return GOSSIP_DURATION_INVALID;

  while (*s != '\0')
    {
      guint64 v = 0, f = 0, unit = 0;
      double scale = 1;
      gboolean pre = FALSE, post = FALSE, overflow = FALSE;
      const char *unit_start;
      gsize unit_len;

      if (!(*s == '.' || g_ascii_isdigit (*s)))
        return GOSSIP_DURATION_INVALID;

      /* [0-9]* */
      for (; g_ascii_isdigit (*s); s++)
        {
          pre = TRUE;
          if (v > ONE_SHL_63 / 10)
            return GOSSIP_DURATION_OVERFLOW;
          v = v * 10 + (guint64) (*s - '0');
          if (v > ONE_SHL_63)
            return GOSSIP_DURATION_OVERFLOW;
        }

      /* (\.[0-9]*)? — the fraction stops gaining precision instead of failing */
      if (*s == '.')
        {
          s++;
          for (; g_ascii_isdigit (*s); s++)
            {
              guint64 y;

              post = TRUE;
              if (overflow)
                continue;
              if (f > (ONE_SHL_63 - 1) / 10)
                {
                  overflow = TRUE;
                  continue;
                }
              y = f * 10 + (guint64) (*s - '0');
              if (y > ONE_SHL_63)
                {
                  overflow = TRUE;
                  continue;
                }
              f = y;
              scale *= 10;
            }
        }
      if (!pre && !post)
        return GOSSIP_DURATION_INVALID;

      /* The unit is everything up to the next '.' or digit. */
      unit_start = s;
      while (*s != '\0' && *s != '.' && !g_ascii_isdigit (*s))
        s++;
      unit_len = (gsize) (s - unit_start);
      if (unit_len == 0)
        return GOSSIP_DURATION_MISSING_UNIT;
      for (gsize i = 0; i < G_N_ELEMENTS (duration_units); i++)
        if (strlen (duration_units[i].name) == unit_len &&
            memcmp (duration_units[i].name, unit_start, unit_len) == 0)
          {
            unit = duration_units[i].ns;
            break;
          }
      if (unit == 0)
        {
          if (out_unit != NULL)
            *out_unit = g_strndup (unit_start, unit_len);
          return GOSSIP_DURATION_UNKNOWN_UNIT;
        }

      if (v > ONE_SHL_63 / unit)
        return GOSSIP_DURATION_OVERFLOW;
      v *= unit;
      if (f > 0)
        {
          /* double keeps nanosecond accuracy for fractions of hours */
          v += (guint64) ((double) f * ((double) unit / scale));
          if (v > ONE_SHL_63)
            return GOSSIP_DURATION_OVERFLOW;
        }
      d += v;
      if (d > ONE_SHL_63)
        return GOSSIP_DURATION_OVERFLOW;
    }

  if (neg)
    {
      *out_ns = d == ONE_SHL_63 ? G_MININT64 : -(gint64) d;
      return GOSSIP_DURATION_OK;
    }
  if (d > (guint64) G_MAXINT64)
    return GOSSIP_DURATION_OVERFLOW;
  *out_ns = (gint64) d;
  return GOSSIP_DURATION_OK;
}

/**
 * gossip_parse_duration:
 * @text: a duration in Go syntax
 * @out_usec: (out) (optional): the duration in microseconds
 * @error: return location for a #GError
 *
 * Parses a duration exactly as Go's time.ParseDuration() does: an optional
 * sign, then one or more decimal numbers, each with an optional fraction and
 * a unit among "ns", "us", "µs" (U+00B5 or U+03BC), "ms", "s", "m" and "h",
 * such as "1.5s", "500ms", "1h30m", "2h45m30.5s", ".5s" or "1.s"; "0" alone
 * needs no unit. Whitespace, a missing unit ("5") and unknown units
 * ("5 seconds") are errors, as are values beyond Go's range (±2562047h47m).
 *
 * Zero and negative durations are accepted: the caller decides whether they
 * make sense. The result is truncated towards zero to whole microseconds.
 *
 * Errors: %GOSSIP_CONFIG_ERROR_INVALID_VALUE.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_parse_duration (const char  *text,
                       gint64      *out_usec,
                       GError     **error)
{
  g_autofree char *quoted = NULL;
  g_autofree char *unit = NULL;
  g_autofree char *quoted_unit = NULL;
  gint64 ns = 0;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  switch (_gossip_parse_duration_ns (text, &ns, &unit))
    {
    case GOSSIP_DURATION_OK:
      if (out_usec != NULL)
        *out_usec = ns / 1000;
      return TRUE;
    case GOSSIP_DURATION_INVALID:
      quoted = gossip_config_quote (text);
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("invalid duration %s"), quoted);
      return FALSE;
    case GOSSIP_DURATION_MISSING_UNIT:
      quoted = gossip_config_quote (text);
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("missing unit in duration %s (use ns, us, ms, s, m or h)"), quoted);
      return FALSE;
    case GOSSIP_DURATION_UNKNOWN_UNIT:
      quoted = gossip_config_quote (text);
      quoted_unit = gossip_config_quote (unit);
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("unknown unit %s in duration %s (use ns, us, ms, s, m or h)"),
                   quoted_unit, quoted);
      return FALSE;
    case GOSSIP_DURATION_OVERFLOW:
      quoted = gossip_config_quote (text);
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("duration %s is out of range"), quoted);
      return FALSE;
    default:
      g_assert_not_reached ();
    }
}
