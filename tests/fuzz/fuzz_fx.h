/*
 * fuzz_fx.h: what the libFuzzer harnesses of tests/fuzz share: the fuzz
 * tenant's home, a request read from the input, a fixed clock, and a
 * log that drops its lines.
 */
#ifndef FUZZ_FX_H
#define FUZZ_FX_H

#define FUZZ_NOW	1700000000	/* the fixed request clock */
#define FUZZ_RESTORE	4096		/* runs between restores of the home */

/*
 * The request a harness builds from its input, in a small HTTP-like
 * text form (the dictionaries hold its tokens):
 *	METHOD SP PATH LF
 *	Name: value LF		(Content-Type, Authorization, DPoP,
 *	...			 Auth0-Forwarded-For; others ignored)
 *	LF
 *	body			(the rest, any bytes)
 * A missing line or header leaves its member NULL ("GET /" when there is
 * no first line).  The strings are copies bounded as the responder
 * bounds them (LK_PATH_MAX, LK_HEADER_MAX); a body over LK_BODY_MAX is
 * refused unread, as cgi-bin does.
 */
struct fuzz_req {
	struct lk_req	 req;
	char		*mem;		/* owns every string of req */
};

/* Read data into r (req.now is FUZZ_NOW).  0, or -1 on ENOMEM. */
int		 fuzz_req_parse(struct fuzz_req *r, const uint8_t *data,
		    size_t size);
void		 fuzz_req_clear(struct fuzz_req *r);

/*
 * The home: on the first call, a temporary directory with the fuzz
 * tenant (tests/fuzz/tenant.json, loaded by `latchkeyctl import` as the
 * end-to-end tests load theirs) kept as a pristine copy, and a working
 * copy opened into ctx.  Every FUZZ_RESTORE calls the working copy is
 * replaced by the pristine one, so that what requests write (counters,
 * codes, tokens, audit events) cannot grow the disk run after run; both
 * are removed at exit.  Exits the process when the home cannot be made.
 */
struct lk_ctx	*fuzz_home(void);
/* Drop the log's lines (the harnesses would print millions), unless
 * LATCHKEY_FUZZ_LOG is set (to read a crash's). */
void		 fuzz_quiet(void);

#endif /* !FUZZ_FX_H */
