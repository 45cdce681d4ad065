/*
 * cryptobound: the crypto bound of a latchkey tenant on this machine
 * (docs/performance.md).  With the tenant's own password policy and signing key
 * algorithm it times, on one core:
 *
 *  - one password verify (hash_verify() of an argon2id hash made at the
 *    tenant policy: the work every password login does);
 *  - one RS256 and one ES256 signature over a typical signing input, the
 *    key parsed once (OpenSSL EVP_DigestSign: the cost of the crypto
 *    itself, none of a JWT library's overhead);
 *  - token_sign(), latchkey's own signing path, for comparison.
 *
 * Each is timed on every core in turn (the process pinned to it): the
 * cores of a virtual machine need not be equal (on the 2-core test VM
 * one verified in 34 ms, the other in 22 ms), so one core's figure times
 * the number of cores is no bound.  The bound is what the machine could
 * do if it did nothing but that crypto on every core: the sum over the
 * cores of 1 / (verify + sigs x signature).  It prints "name value"
 * lines for tests/bench.sh; the one-figure values (verify_ms, ...) are
 * the per-core harmonic means, i.e. cores / bound.
 *
 * Timed one core at a time, the others idle, argon2 (memory-bound, m
 * KiB a hash) has the memory bus and the shared caches to itself; a
 * server under load hashes on every core at once.  So the same is timed
 * again with every core busy together: one process pinned to each
 * core, started at once, each timing its verifies and signatures
 * (coreN_verify_conc_ms, verify_conc_ms, bound_concurrent_rps).
 *
 * usage: cryptobound -d home [-n verifies] [-s sigs-per-response]
 */
#include <sys/wait.h>

#include <err.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"

#define SIGN_ITER	400

/* A signing input shaped like an access token's (header.payload). */
static const char sample[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IlkxdUxXTWFYdGR2QnNtSzd1"
    "cEZsVDJOMEV6alVsVVpsZ3VoY0NvWWJvZE0ifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC"
    "4xOjgwODAvIiwic3ViIjoiYXV0aDB8NjVmMGE5YjJjM2Q0ZTVmNjA3MTgyOTNhIiwiYXV"
    "kIjpbImh0dHBzOi8vYXBpLmJlbmNoLmxhdGNoa2V5LyIsImh0dHA6Ly8xMjcuMC4wLjE6"
    "ODA4MC91c2VyaW5mbyJdLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDA4NjQwMCwiY"
    "XpwIjoiYmVuY2gtYXBwIiwic2NvcGUiOiJvcGVuaWQgcHJvZmlsZSBlbWFpbCByZWFkOn"
    "RoaW5ncyIsImd0eSI6InBhc3N3b3JkIn0";

/* ms per EVP_DigestSign with the key record's key, parsed once. */
static double
time_evp(const json_t *rec)
{
	const char	*pem;
	BIO		*bio;
	EVP_PKEY	*pkey;
	EVP_MD_CTX	*md;
	unsigned char	 sig[1024];
	size_t		 siglen;
	double		 t0;
	int		 i;

	pem = json_string_value(json_object_get(rec, "private_pem"));
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL)
		errx(1, "cannot parse the key");
	BIO_free(bio);
	if ((md = EVP_MD_CTX_new()) == NULL)
		errx(1, "EVP_MD_CTX_new");
	t0 = lk_mono_ms();
	for (i = 0; i < SIGN_ITER; i++) {
		siglen = sizeof(sig);
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
		    EVP_DigestSign(md, sig, &siglen,
		    (const unsigned char *)sample, sizeof(sample) - 1) != 1)
			errx(1, "EVP_DigestSign");
		EVP_MD_CTX_reset(md);
	}
	t0 = (lk_mono_ms() - t0) / SIGN_ITER;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return t0;
}

/* ms per token_sign() of access-token claims. */
static double
time_token_sign(const json_t *rec)
{
	json_t	*claims;
	char	*out;
	double	 t0;
	int	 i;

	claims = json_pack("{s:s, s:s, s:[s,s], s:i, s:i, s:s, s:s, s:s}",
	    "iss", "http://127.0.0.1:8080/", "sub", "auth0|65f0a9b2c3d4e5f60718293a",
	    "aud", "https://api.bench.latchkey/", "http://127.0.0.1:8080/userinfo",
	    "iat", 1700000000, "exp", 1700086400, "azp", "bench-app",
	    "scope", "openid profile email read:things", "gty", "password");
	t0 = lk_mono_ms();
	for (i = 0; i < SIGN_ITER; i++) {
		if (token_sign(rec, claims, &out) == -1)
			errx(1, "token_sign");
		free(out);
	}
	t0 = (lk_mono_ms() - t0) / SIGN_ITER;
	json_decref(claims);
	return t0;
}

/* What a core's timing works on (time_core's arguments). */
struct crypto_in {
	const struct hash_policy *pol;
	const char	*enc, *pw;
	size_t		 pwlen;
	int		 n, sigs, es256;
	const json_t	*rs, *es;
};

static void
usage(void)
{
	fprintf(stderr, "usage: cryptobound -d home [-n verifies] [-s sigs]\n");
	exit(2);
}

/* One core's times, ms. */
struct core_times {
	double	 verify, sig_rs, sig_es, ts_rs, ts_es;
	int	 cpu;
};

static void
time_core(const struct hash_policy *pol, const char *enc, const char *pw,
    size_t pwlen, int n, const json_t *rs, const json_t *es,
    struct core_times *t)
{
	double	 t0;
	int	 i, rehash;

	/* One untimed verify: page in argon2's memory the first time. */
	if (hash_verify(pol, enc, pw, pwlen, &rehash) != HASH_OK)
		errx(1, "hash_verify");
	t0 = lk_mono_ms();
	for (i = 0; i < n; i++)
		if (hash_verify(pol, enc, pw, pwlen, &rehash) != HASH_OK)
			errx(1, "hash_verify");
	t->verify = (lk_mono_ms() - t0) / n;
	t->sig_rs = time_evp(rs);
	t->sig_es = time_evp(es);
	t->ts_rs = time_token_sign(rs);
	t->ts_es = time_token_sign(es);
}

/* In a child pinned to cpu: wait for the start (a byte on go, or its
 * end), time the crypto, write the times to out, exit. */
static void
concurrent_child(const struct crypto_in *in, int cpu, int go, int out)
{
	struct core_times	 t;
	cpu_set_t		 one;
	char			 c;

	CPU_ZERO(&one);
	CPU_SET((size_t)cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) == -1)
		_exit(1);
	if (read(go, &c, 1) == -1)
		_exit(1);
	time_core(in->pol, in->enc, in->pw, in->pwlen, in->n, in->rs, in->es,
	    &t);
	t.cpu = cpu;
	_exit(write(out, &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1);
}

/*
 * Every core of cpus busy at once: one child pinned to each, released
 * together (the parent closes the pipe they read), each timing its own
 * crypto.  Prints each core's verify and the bound with them all busy.
 */
static void
time_concurrent(const struct crypto_in *in, const cpu_set_t *cpus)
{
	struct core_times	 t[CPU_SETSIZE];
	int			 go[2], res[2], cpu, k = 0, i, status;
	double			 sum_verify = 0, bound = 0, sig;
	pid_t			 pid;

	if (pipe(go) == -1 || pipe(res) == -1)
		err(1, "pipe");
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET((size_t)cpu, cpus))
			continue;
		if ((pid = fork()) == -1)
			err(1, "fork");
		if (pid == 0) {
			close(go[1]);
			close(res[0]);
			concurrent_child(in, cpu, go[0], res[1]);
		}
		k++;
	}
	close(go[0]);
	close(res[1]);
	close(go[1]);			/* all start */
	for (i = 0; i < k; i++)
		if (read(res[0], &t[i], sizeof(t[i])) != (ssize_t)sizeof(t[i]))
			errx(1, "a concurrent timing failed");
	close(res[0]);
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			errx(1, "a concurrent timing failed");
	for (i = 0; i < k; i++) {
		sig = in->es256 ? t[i].sig_es : t[i].sig_rs;
		printf("core%d_verify_conc_ms %.3f\n", t[i].cpu, t[i].verify);
		bound += 1e3 / (t[i].verify + in->sigs * sig);
		sum_verify += 1 / t[i].verify;
	}
	printf("verify_conc_ms %.3f\n", k / sum_verify);
	printf("bound_concurrent_rps %.1f\n", bound);
}

int
main(int argc, char *argv[])
{
	struct store		*st;
	struct lk_ctx		 ctx;
	struct hash_policy	 pol;
	struct core_times	 t, sum;
	struct crypto_in	 in;
	cpu_set_t		 cpus, one;
	struct tenant		 tenant;
	struct keyrec		 key;
	json_t			*cur, *rs, *es;
	const char		*home = NULL;
	char			 enc[HASH_ENCODED_MAX];
	static const char	 pw[] = "bench password: 7Yq2 correct horse";
	double			 sig, bound = 0;
	int			 c, cpu, cores = 0, n = 20, sigs = 2, es256;

	while ((c = getopt(argc, argv, "d:n:s:")) != -1)
		switch (c) {
		case 'd':
			home = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 's':
			sigs = atoi(optarg);
			break;
		default:
			usage();
		}
	if (home == NULL || n < 1 || sigs < 0)
		usage();
	if ((st = store_open(home, 0)) == NULL)
		errx(1, "%s: cannot open the environment", home);
	memset(&ctx, 0, sizeof(ctx));
	ctx.store = st;
	ctx.home = home;
	if (ctx_tenant(&ctx, &tenant) == -1 ||
	    (cur = ctx_signing_key(&ctx)) == NULL ||
	    record_parse(REC_KEY, cur, &key) == -1)
		errx(1, "%s: no tenant or no current key", home);
	pol = tenant.hash_policy;
	es256 = key.alg == KEY_ES256;
	if (hash_password(&pol, pw, sizeof(pw) - 1, enc, sizeof(enc)) == -1)
		errx(1, "hash_password");
	rs = key_generate(KEY_RS256, "current", 0);
	es = key_generate(KEY_ES256, "current", 0);
	if (rs == NULL || es == NULL)
		errx(1, "key_generate");

	printf("policy t=%u,m=%u,p=%u\n", pol.t_cost, pol.m_cost,
	    pol.parallelism);
	printf("alg %s\n", key_alg_name(key.alg));
	printf("sigs %d\n", sigs);
	/* Every core this process may run on, in turn; the harmonic mean of
	 * each figure over them (sum of rates). */
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == -1)
		err(1, "sched_getaffinity");
	memset(&sum, 0, sizeof(sum));
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET((size_t)cpu, &cpus))
			continue;
		CPU_ZERO(&one);
		CPU_SET((size_t)cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) == -1)
			err(1, "sched_setaffinity %d", cpu);
		time_core(&pol, enc, pw, sizeof(pw) - 1, n, rs, es, &t);
		sig = es256 ? t.sig_es : t.sig_rs;
		printf("core%d_verify_ms %.3f\n", cpu, t.verify);
		printf("core%d_crypto_ms %.3f\n", cpu, t.verify + sigs * sig);
		bound += 1e3 / (t.verify + sigs * sig);
		sum.verify += 1 / t.verify;
		sum.sig_rs += 1 / t.sig_rs;
		sum.sig_es += 1 / t.sig_es;
		sum.ts_rs += 1 / t.ts_rs;
		sum.ts_es += 1 / t.ts_es;
		cores++;
	}
	if (sched_setaffinity(0, sizeof(cpus), &cpus) == -1)
		err(1, "sched_setaffinity");
	printf("cores %d\n", cores);
	printf("verify_ms %.3f\n", cores / sum.verify);
	printf("sign_rs256_ms %.4f\n", cores / sum.sig_rs);
	printf("sign_es256_ms %.4f\n", cores / sum.sig_es);
	printf("token_sign_rs256_ms %.4f\n", cores / sum.ts_rs);
	printf("token_sign_es256_ms %.4f\n", cores / sum.ts_es);
	printf("crypto_ms %.3f\n", cores * 1e3 / bound);
	printf("bound_rps %.1f\n", bound);
	in.pol = &pol;
	in.enc = enc;
	in.pw = pw;
	in.pwlen = sizeof(pw) - 1;
	in.n = n;
	in.sigs = sigs;
	in.es256 = es256;
	in.rs = rs;
	in.es = es;
	fflush(stdout);
	time_concurrent(&in, &cpus);
	json_decref(rs);
	json_decref(es);
	json_decref(cur);
	record_clear(REC_KEY, &key);
	record_clear(REC_TENANT, &tenant);
	store_close(st);
	return 0;
}
