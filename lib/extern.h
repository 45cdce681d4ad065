/*
 * latchkey: the one internal header shared by lib/, cgi-bin/, db/ and tests/.
 * It includes one header per folder of lib/, in the order their types
 * depend on each other; include this one, not the parts.
 *
 * Conventions:
 *  - public names carry their module prefix (buf_, oerr_, decode_, store_,
 *    hash_, key_, token_, dpop_, client_, scope_, grant_, route_, log_);
 *  - _new/_free pairs allocate (free of NULL is a no-op), _init/_clear work
 *    on caller-owned structs;
 *  - functions return an enum or 0/-1, never a JSON envelope.
 */
#ifndef LATCHKEY_EXTERN_H
#define LATCHKEY_EXTERN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <db.h>
#include <jansson.h>

#define LK_VERSION		"0.1.0"

/* Hard bounds applied at the edge (docs/COMPAT.md 7). */
#define LK_BODY_MAX		(64 * 1024)	/* 413 above this */
#define LK_HEADER_MAX		8192		/* any single header value */
#define LK_PATH_MAX		1024

/* Where the database environment lives, unless LATCHKEY_HOME says otherwise. */
#define LK_HOME_DEFAULT		"/var/lib/latchkey"
#define LK_HOME_ENV		"LATCHKEY_HOME"
/* A PostgreSQL database (a libpq connection string or "service=name"):
 * when set and not empty, the store instead of the one at the home. */
#define LK_DATABASE_ENV		"LATCHKEY_DATABASE"

/* Declared in the parts below, used by pointer before that. */
struct lk_ctx;
struct store;
struct grant_req;
struct params;
struct tenant;
struct client_rec;
struct conn;
struct api;
struct user;
struct keyrec;

#include "base/base.h"
#include "net/net.h"
#include "http/http.h"
#include "store/store.h"
#include "crypto/crypto.h"
#include "dpop/dpop.h"
#include "run/run.h"
#include "security/types.h"
#include "store/record.h"
#include "security/security.h"
#include "directory/directory.h"
#include "grants/grants.h"
#include "passwordless/passwordless.h"
#include "mfa/mfa.h"
#include "admin/admin.h"

#endif /* !LATCHKEY_EXTERN_H */
