/* ft/ft.h - everything a program needs to use the ft library. */
#ifndef FT_FT_H
#define FT_FT_H

#define FT_VERSION "0.1.0"

#include "ft/client.h"
#include "ft/error.h"
#include "ft/frame.h"
#include "ft/net.h"
#include "ft/server.h"
#include "ft/tree.h"

#endif
