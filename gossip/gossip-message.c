/* gossip-message.c — placeholder, being written. */
#include "config.h"
