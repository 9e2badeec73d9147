/* gossip-address-private.h — "host:port" parsing and formatting.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Parses "host:port", "[v6addr]:port", ":port" (host NULL), and hostnames.
 * The port is required (0..65535). With @allow_url, "http://host:port/path"
 * and "https://..." are accepted too (@scheme and @path set, default ports
 * 80/443). Errors (GOSSIP_CONFIG_ERROR_INVALID_VALUE) name @param_name and say
 * what is allowed. Outputs may be NULL. */
gboolean  gossip_address_parse  (const char *text, const char *param_name, gboolean allow_url,
                                 char **scheme, char **host, guint16 *port, char **path, GError **error);
/* "host:port", or "[host]:port" when host contains ':'. */
char     *gossip_address_format (const char *host, guint16 port);

G_END_DECLS
