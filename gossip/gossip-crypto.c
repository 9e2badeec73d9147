/* gossip-crypto.c — placeholder, being written. */
#include "config.h"
