/* gossip-address.c — "host:port" and URL parsing and formatting.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "gossip-address-private.h"
#include "gossip-config-private.h"
#include "gossip-error.h"

#define MAX_HOSTNAME_LEN 253
#define MAX_LABEL_LEN 63

/* Why an address was rejected; turned into one message naming the parameter
 * and the accepted forms. */
typedef enum {
  REASON_EMPTY,
  REASON_NO_PORT,
  REASON_BARE_PORT,
  REASON_BAD_PORT,
  REASON_UNBRACKETED_V6,
  REASON_BAD_V6,
  REASON_UNCLOSED_BRACKET,
  REASON_JUNK_AFTER_BRACKET,
  REASON_BAD_HOSTNAME,
  REASON_BAD_V4,
  REASON_URL_NOT_ALLOWED,
  REASON_BAD_SCHEME,
  REASON_URL_USERINFO,
  REASON_URL_FRAGMENT,
  REASON_URL_NO_HOST,
  REASON_URL_BAD_PATH,
} Reason;

static const char *
reason_text (Reason reason)
{
  switch (reason)
    {
    case REASON_EMPTY:
      return _("the address is empty");
    case REASON_NO_PORT:
      return _("port must be specified");
    case REASON_BARE_PORT:
      return _("write a port alone as :port");
    case REASON_BAD_PORT:
      return _("port must be a number from 0 to 65535");
    case REASON_UNBRACKETED_V6:
      return _("IPv6 addresses must be in brackets, as in [::1]:8000");
    case REASON_BAD_V6:
      return _("invalid IPv6 address in brackets");
    case REASON_UNCLOSED_BRACKET:
      return _("missing ']'");
    case REASON_JUNK_AFTER_BRACKET:
      return _("expected ':' and a port after ']'");
    case REASON_BAD_HOSTNAME:
      return _("invalid host name");
    case REASON_BAD_V4:
      return _("invalid IPv4 address");
    case REASON_URL_NOT_ALLOWED:
      return _("URLs are allowed only with transport \"http\"");
    case REASON_BAD_SCHEME:
      return _("only http:// and https:// URLs are supported");
    case REASON_URL_USERINFO:
      return _("user information is not allowed in URLs");
    case REASON_URL_FRAGMENT:
      return _("URL fragments are not allowed");
    case REASON_URL_NO_HOST:
      return _("the URL has no host");
    case REASON_URL_BAD_PATH:
      return _("the URL path contains spaces or control characters");
    default:
      g_assert_not_reached ();
    }
}

static void
set_address_error (GError     **error,
                   const char  *param_name,
                   const char  *text,
                   gboolean     allow_url,
                   Reason       reason)
{
  g_autofree char *quoted = gossip_config_quote (text);

  if (allow_url)
    g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                 /* Translators: the first %s is a parameter name, the second the
                  * quoted value, the third the reason */
                 _("%s must be host:port, [IPv6]:port, :port or an http(s):// URL (got %s: %s)"),
                 param_name, quoted, reason_text (reason));
  else
    g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                 /* Translators: the first %s is a parameter name, the second the
                  * quoted value, the third the reason */
                 _("%s must be host:port, [IPv6]:port or :port (got %s: %s)"),
                 param_name, quoted, reason_text (reason));
}

static gboolean
is_ascii_digits (const char *s,
                 gsize       len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

static gboolean
parse_port (const char *s,
            gsize       len,
            guint16    *out)
{
  guint value = 0;

  if (!is_ascii_digits (s, len))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      value = value * 10 + (guint) (s[i] - '0');
      if (value > G_MAXUINT16)
        return FALSE;
    }
  *out = (guint16) value;
  return TRUE;
}

/* A DNS name (RFC 1123 labels; '_' tolerated as in service names), with an
 * optional trailing dot. A name whose last label is numeric must be a valid
 * IPv4 address. */
static gboolean
check_hostname (const char *host,
                Reason     *reason)
{
  gsize len = strlen (host);
  const char *label;
  const char *last_label;
  gboolean last_numeric = TRUE;

  if (g_hostname_is_ip_address (host))
    return TRUE;

  if (host[len - 1] == '.')
    len--;
  if (len == 0 || len > MAX_HOSTNAME_LEN)
    {
      *reason = REASON_BAD_HOSTNAME;
      return FALSE;
    }

  label = host;
  last_label = host;
  for (gsize i = 0; i <= len; i++)
    {
      char c = i < len ? host[i] : '.';

      if (c == '.')
        {
          gsize label_len = (gsize) (host + i - label);

          if (label_len == 0 || label_len > MAX_LABEL_LEN || label[0] == '-' || host[i - 1] == '-')
            {
              *reason = REASON_BAD_HOSTNAME;
              return FALSE;
            }
          last_label = label;
          label = host + i + 1;
        }
      else if (!g_ascii_isalnum (c) && c != '-' && c != '_')
        {
          *reason = REASON_BAD_HOSTNAME;
          return FALSE;
        }
    }

  last_numeric = is_ascii_digits (last_label, (gsize) (host + len - last_label));
  if (last_numeric)
    {
      *reason = REASON_BAD_V4;
      return FALSE;
    }
  return TRUE;
}

/* Parses "host:port", "[v6]:port", ":port" or, when !port_required,
 * "host" / "[v6]" (URL authorities) in the @len bytes at @s. */
static gboolean
parse_host_port (const char  *s,
                 gsize        len,
                 gboolean     port_required,
                 char       **out_host,
                 guint16     *out_port,
                 gboolean    *out_has_port,
                 Reason      *reason)
{
  g_autofree char *host = NULL;
  const char *port_text = NULL;
  gsize port_len = 0;
  gboolean has_port = FALSE;

  if (len == 0)
    {
      *reason = port_required ? REASON_EMPTY : REASON_URL_NO_HOST;
      return FALSE;
    }

  if (s[0] == '[')
    {
      const char *close = memchr (s, ']', len);
      gsize after;

      if (close == NULL)
        {
          *reason = REASON_UNCLOSED_BRACKET;
          return FALSE;
        }
      host = g_strndup (s + 1, (gsize) (close - s - 1));
      if (strchr (host, ':') == NULL || !g_hostname_is_ip_address (host))
        {
          *reason = REASON_BAD_V6;
          return FALSE;
        }
      after = (gsize) (close + 1 - s);
      if (after < len)
        {
          if (s[after] != ':')
            {
              *reason = REASON_JUNK_AFTER_BRACKET;
              return FALSE;
            }
          has_port = TRUE;
          port_text = s + after + 1;
          port_len = len - after - 1;
        }
    }
  else
    {
      const char *colon = memchr (s, ':', len);

      if (colon != NULL && memchr (colon + 1, ':', len - (gsize) (colon + 1 - s)) != NULL)
        {
          *reason = REASON_UNBRACKETED_V6;
          return FALSE;
        }
      if (colon != NULL)
        {
          has_port = TRUE;
          port_text = colon + 1;
          port_len = len - (gsize) (colon + 1 - s);
          host = g_strndup (s, (gsize) (colon - s));
        }
      else if (port_required && is_ascii_digits (s, len))
        {
          *reason = REASON_BARE_PORT;
          return FALSE;
        }
      else
        {
          host = g_strndup (s, len);
        }

      if (host[0] == '\0')
        {
          if (!port_required)
            {
              *reason = REASON_URL_NO_HOST;
              return FALSE;
            }
          g_clear_pointer (&host, g_free);
        }
      else if (!check_hostname (host, reason))
        {
          return FALSE;
        }
    }

  if (has_port)
    {
      if (port_len == 0)
        {
          *reason = REASON_NO_PORT;
          return FALSE;
        }
      if (!parse_port (port_text, port_len, out_port))
        {
          *reason = REASON_BAD_PORT;
          return FALSE;
        }
    }
  else if (port_required)
    {
      *reason = REASON_NO_PORT;
      return FALSE;
    }

  *out_host = g_steal_pointer (&host);
  *out_has_port = has_port;
  return TRUE;
}

static gboolean
check_url_path (const char *path)
{
  for (const char *p = path; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c <= 0x20 || c == 0x7f)
        return FALSE;
    }
  return TRUE;
}

/**
 * gossip_address_parse:
 * @text: the address
 * @param_name: (nullable): the parameter the address comes from, for messages
 * @allow_url: whether http:// and https:// URLs are accepted (HTTP transport)
 * @scheme: (out) (optional) (nullable) (transfer full): "http" or "https" for
 *   a URL, else %NULL
 * @host: (out) (optional) (nullable) (transfer full): the host name or IP
 *   address without brackets; %NULL for ":port"
 * @port: (out) (optional): the port; 80 or 443 for a URL without port
 * @path: (out) (optional) (nullable) (transfer full): the URL path including
 *   any query ("/" when empty), else %NULL
 * @error: return location for a #GError
 *
 * Parses a network address. Accepted forms:
 *
 * - `host:port`, where host is a DNS name or an IPv4 address;
 * - `[ipv6]:port`, with an optional zone (`[fe80::1%eth0]:8000`);
 * - `:port`, meaning any address when binding and the local host when sending;
 * - with @allow_url, `http://host[:port][/path]` and `https://…`, the scheme
 *   in any case and stored lowercase; the host may be `[ipv6]`.
 *
 * The port is required except in URLs and must be 0..65535. Unbracketed IPv6
 * addresses, user information and fragments in URLs, other URL schemes
 * (including `srv+`), and host names that are not valid DNS names are
 * rejected. Outputs are set only on success.
 *
 * Errors: %GOSSIP_CONFIG_ERROR_INVALID_VALUE, naming @param_name, the value,
 * the accepted forms and the reason.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_address_parse (const char  *text,
                      const char  *param_name,
                      gboolean     allow_url,
                      char       **scheme,
                      char       **host,
                      guint16     *port,
                      char       **path,
                      GError     **error)
{
  g_autofree char *out_scheme = NULL;
  g_autofree char *out_host = NULL;
  g_autofree char *out_path = NULL;
  guint16 out_port = 0;
  gboolean has_port = FALSE;
  const char *sep;
  Reason reason;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (param_name == NULL)
    param_name = "address";

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be valid UTF-8"), param_name);
      return FALSE;
    }

  sep = strstr (text, "://");
  if (sep != NULL)
    {
      const char *authority = sep + 3;
      gsize authority_len = strcspn (authority, "/?#");
      const char *rest = authority + authority_len;

      if (!allow_url)
        {
          set_address_error (error, param_name, text, allow_url, REASON_URL_NOT_ALLOWED);
          return FALSE;
        }

      out_scheme = g_ascii_strdown (text, sep - text);
      if (strcmp (out_scheme, "http") != 0 && strcmp (out_scheme, "https") != 0)
        {
          set_address_error (error, param_name, text, allow_url, REASON_BAD_SCHEME);
          return FALSE;
        }
      if (memchr (authority, '@', authority_len) != NULL)
        {
          set_address_error (error, param_name, text, allow_url, REASON_URL_USERINFO);
          return FALSE;
        }
      if (strchr (rest, '#') != NULL)
        {
          set_address_error (error, param_name, text, allow_url, REASON_URL_FRAGMENT);
          return FALSE;
        }
      if (!check_url_path (rest))
        {
          set_address_error (error, param_name, text, allow_url, REASON_URL_BAD_PATH);
          return FALSE;
        }
      if (!parse_host_port (authority, authority_len, FALSE, &out_host, &out_port, &has_port, &reason))
        {
          set_address_error (error, param_name, text, allow_url, reason);
          return FALSE;
        }
      if (!has_port)
        out_port = strcmp (out_scheme, "https") == 0 ? 443 : 80;

      if (rest[0] == '/')
        out_path = g_strdup (rest);
      else
        out_path = g_strconcat ("/", rest, NULL);
    }
  else if (!parse_host_port (text, strlen (text), TRUE, &out_host, &out_port, &has_port, &reason))
    {
      set_address_error (error, param_name, text, allow_url, reason);
      return FALSE;
    }

  if (scheme != NULL)
    *scheme = g_steal_pointer (&out_scheme);
  if (host != NULL)
    *host = g_steal_pointer (&out_host);
  if (port != NULL)
    *port = out_port;
  if (path != NULL)
    *path = g_steal_pointer (&out_path);
  return TRUE;
}

/**
 * gossip_address_format:
 * @host: (nullable): a host name or IP address, without brackets
 * @port: the port
 *
 * Formats an address in the form gossip_address_parse() reads back:
 * `host:port`, `[host]:port` when @host contains ':' (IPv6), or `:port` when
 * @host is %NULL or empty.
 *
 * Returns: (transfer full): the address
 */
char *
gossip_address_format (const char *host,
                       guint16     port)
{
  if (host == NULL || host[0] == '\0')
    return g_strdup_printf (":%u", (guint) port);
  if (strchr (host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", host, (guint) port);
  return g_strdup_printf ("%s:%u", host, (guint) port);
}
