/*
 * test_deploy: Auth0 Deploy CLI exports read as JSON (lib/admin/
 * deploy_read.c, deploy_yaml.c, deploy_dir.c).  One named test per row
 * of two tables: exports read (YAML scalar typing, nesting, JSON files,
 * placeholders replaced) with the JSON they give, and broken ones with
 * the message (and its line:col) they give.  Then a directory export
 * built in a temporary directory, equal to the same tenant as YAML.
 */
#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static char	 tmpdir[] = "/tmp/test_deploy.XXXXXX";

static const struct rcase {
	const char	*name;
	const char	*file;		/* its name decides YAML or JSON */
	const char	*text;
	const char	*json;		/* what deploy_read gives */
} rcases[] = {
	{ "YAML: plain scalars typed as the core schema, quoted ones kept",
	  "t.yaml",
	  "tenant:\n  a: true\n  b: False\n  c: null\n  d: ~\n  e:\n"
	  "  f: 12\n  g: -3\n  h: 1.5\n  i: 0x1F\n  j: 0o17\n  k: 1e3\n"
	  "  l: yes\n  m: \"true\"\n  n: '12'\n  o: .inf\n  p: 0123\n"
	  "  q: !!str 7\n  r: 12abc\n",
	  "{\"tenant\":{\"a\":true,\"b\":false,\"c\":null,\"d\":null,"
	  "\"e\":null,\"f\":12,\"g\":-3,\"h\":1.5,\"i\":31,\"j\":15,"
	  "\"k\":1000.0,\"l\":\"yes\",\"m\":\"true\",\"n\":\"12\","
	  "\"o\":\".inf\",\"p\":123,\"q\":\"7\",\"r\":\"12abc\"}}" },
	{ "YAML: numbers as js-yaml 4 reads them (signs, 0b, underscores)",
	  "t.yaml",
	  "tenant:\n  a: 1_000\n  b: 0b101\n  c: -0x1F\n  d: .5\n"
	  "  e: +.5\n  f: 1_\n  g: _1\n  h: 1.5e-2\n  i: +7\n  j: 1e\n"
	  "  k: 0x\n  l: 1:20\n  m: 99999999999999999999\n",
	  "{\"tenant\":{\"a\":1000,\"b\":5,\"c\":-31,\"d\":0.5,"
	  "\"e\":\"+.5\",\"f\":\"1_\",\"g\":\"_1\",\"h\":0.015,"
	  "\"i\":7,\"j\":\"1e\",\"k\":\"0x\",\"l\":\"1:20\","
	  "\"m\":1e20}}" },
	{ "YAML: nested block and flow collections, block scalars",
	  "t.yaml",
	  "clients:\n  - name: A\n    grant_types: [password, refresh_token]\n"
	  "    jwt_configuration: {alg: RS256, lifetime_in_seconds: 36000}\n"
	  "  - name: B\n    description: |\n      two\n      lines\n"
	  "resourceServers: []\n",
	  "{\"clients\":[{\"name\":\"A\",\"grant_types\":[\"password\","
	  "\"refresh_token\"],\"jwt_configuration\":{\"alg\":\"RS256\","
	  "\"lifetime_in_seconds\":36000}},{\"name\":\"B\","
	  "\"description\":\"two\\nlines\\n\"}],\"resourceServers\":[]}" },
	{ "YAML: comments, document markers and anchors without aliases",
	  "t.yml",
	  "# exported\n---\ntenant: &t\n  friendly_name: X # name\n...\n",
	  "{\"tenant\":{\"friendly_name\":\"X\"}}" },
	{ "YAML: aliases resolved to copies (js-yaml's &ref_0, *ref_0)",
	  "t.yaml",
	  "clients:\n  - name: A\n    callbacks: &ref_0\n      - https://a\n"
	  "  - name: B\n    callbacks: *ref_0\nx: &s 3\ny: *s\n",
	  "{\"clients\":[{\"name\":\"A\",\"callbacks\":[\"https://a\"]},"
	  "{\"name\":\"B\",\"callbacks\":[\"https://a\"]}],"
	  "\"x\":3,\"y\":3}" },
	{ "JSON: Management API shapes kept as they are",
	  "t.json",
	  "{\"resourceServers\":[{\"identifier\":\"https://api\",\"scopes\":"
	  "[{\"value\":\"read\",\"description\":\"r\"}]}]}",
	  "{\"resourceServers\":[{\"identifier\":\"https://api\",\"scopes\":"
	  "[{\"value\":\"read\",\"description\":\"r\"}]}]}" },
	{ "placeholders: ##KEY## as text, @@KEY@@ as JSON, quoted or not",
	  "t.yaml",
	  "tenant:\n  friendly_name: My ##LK_ENV## tenant\n"
	  "  allowed_logout_urls: @@LK_LIST@@\n  q: \"@@LK_LIST@@\"\n"
	  "  w: @@LK_WORD@@\n  n: @@LK_NUM@@\n  mail: a@@b.c\n  h: a##b\n",
	  "{\"tenant\":{\"friendly_name\":\"My dev tenant\","
	  "\"allowed_logout_urls\":[\"https://a\",\"https://b\"],"
	  "\"q\":[\"https://a\",\"https://b\"],\"w\":\"bob\",\"n\":42,"
	  "\"mail\":\"a@@b.c\",\"h\":\"a##b\"}}" },
	{ "placeholders in a JSON file",
	  "t.json",
	  "{\"tenant\":{\"friendly_name\":\"##LK_ENV##\","
	  "\"allowed_origins\":\"@@LK_LIST@@\",\"n\":@@LK_NUM@@}}",
	  "{\"tenant\":{\"friendly_name\":\"dev\",\"allowed_origins\":"
	  "[\"https://a\",\"https://b\"],\"n\":42}}" },
	{ "an unset @@KEY@@ inside a text stays (Auth0's SMS template macro)",
	  "t.yaml",
	  "connections:\n  - name: sms\n    options:\n"
	  "      template: Your code is @@LK_UNSET@@\n"
	  "      syntax: \"@@LK_UNSET@@ is the code\"\n",
	  "{\"connections\":[{\"name\":\"sms\",\"options\":{\"template\":"
	  "\"Your code is @@LK_UNSET@@\",\"syntax\":"
	  "\"@@LK_UNSET@@ is the code\"}}]}" },
};

static const struct ecase {
	const char	*name;
	const char	*file;
	const char	*text;
	const char	*err;		/* after the file's path */
} ecases[] = {
	{ "YAML: a duplicate key is named with its line",
	  "t.yaml", "tenant:\n  a: 1\n  a: 2\n", ":3:3: duplicate key" },
	{ "YAML: an unclosed flow sequence",
	  "t.yaml", "tenant:\n  a: [1, 2\n", ":3:1: while parsing a flow "
	  "sequence: did not find expected ',' or ']'" },
	{ "YAML: a bad indentation",
	  "t.yaml", "tenant:\n  a: 1\n b: 2\n", ":3:2: while parsing a "
	  "block mapping: did not find expected key" },
	{ "YAML: an unclosed quoted scalar",
	  "t.yaml", "tenant:\n  a: \"x\n", ":3:1: while scanning a quoted "
	  "scalar: found unexpected end of stream" },
	{ "YAML: a tab for indentation",
	  "t.yaml", "tenant:\n\ta: 1\n", ":2:1: while scanning for the "
	  "next token: found character that cannot start any token" },
	{ "YAML: an alias of no anchor",
	  "t.yaml", "tenant: &t\n  a: 1\nclients: *u\n",
	  ":3:10: alias of no complete anchor" },
	{ "YAML: an alias inside its own anchor",
	  "t.yaml", "tenant: &t\n  a: *t\n",
	  ":2:6: alias of no complete anchor" },
	{ "YAML: aliases that expand too much (billion laughs)",
	  "t.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	  "tenant: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
	  ":5:36: aliases expand too much" },
	{ "YAML: an alias nested too deeply",
	  "t.yaml", "a: &a [[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]\n"
	  "tenant: [[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]\n",
	  ":2:25: nested too deeply" },
	{ "YAML: a second document is refused",
	  "t.yaml", "tenant: {}\n---\nclients: []\n",
	  ":2:1: more than one YAML document" },
	{ "YAML: a mapping as a key is refused",
	  "t.yaml", "? {a: 1}\n: 2\n", ":1:3: a key must be a string" },
	{ "YAML: a key with a NUL byte is refused",
	  "t.yaml", "tenant:\n  \"a\\0b\": 1\n",
	  ":2:3: a key holds a NUL byte" },
	{ "YAML: a file with no known section",
	  "t.yaml", "foo: 1\nbar: [2]\n", ": not an Auth0 export" },
	{ "YAML: an empty file",
	  "t.yaml", "# nothing\n", ":2:1: not an Auth0 export" },
	{ "YAML: a sequence at the top",
	  "t.yaml", "- tenant\n", ": not an Auth0 export" },
	{ "JSON: malformed, with its line and column",
	  "t.json", "{\"tenant\": {\n  \"a\": }\n}",
	  ":2:8: unexpected token near '}'" },
	{ "JSON: a duplicate key",
	  "t.json", "{\"tenant\": {}, \"tenant\": {}}",
	  ":1:23: duplicate object key near '\"tenant\"'" },
	{ "JSON: an array of clients is not an export",
	  "t.json", "[{\"name\": \"A\"}]", ": not an Auth0 export" },
	{ "an unset ##placeholder## is named with its place",
	  "t.yaml", "tenant:\n  n: x ##LK_UNSET##\n",
	  ":2:8: ##LK_UNSET##: not set in the environment" },
	{ "an unset @@placeholder@@ is named with its place",
	  "t.json", "{\"tenant\": @@LK_UNSET@@}",
	  ":1:12: @@LK_UNSET@@: not set in the environment" },
	{ "an unset @@placeholder@@ as a whole YAML value is refused",
	  "t.yaml", "tenant:\n  n: @@LK_UNSET@@\n",
	  ":2:6: @@LK_UNSET@@: not set in the environment" },
};

/* Write text to tmpdir/rel, making its folders; the path in path. */
static void
put(const char *rel, const char *text, char *path, size_t pathsz)
{
	char	*slash;
	FILE	*f;

	snprintf(path, pathsz, "%s/%s", tmpdir, rel);
	for (slash = path + strlen(tmpdir) + 1;
	    (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void
read_case(void **state)
{
	const struct rcase	*c = *state;
	char			 path[PATH_MAX], err[512];
	json_t			*got, *want;

	put(c->file, c->text, path, sizeof(path));
	got = deploy_read(path, err, sizeof(err));
	if (got == NULL)
		fail_msg("%s", err);
	assert_non_null(want = json_loads(c->json, 0, NULL));
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("got %s", s);
	}
	json_decref(got);
	json_decref(want);
	unlink(path);
}

/* deploy_read fails with "path" followed by want. */
static void
expect_error(const char *path, const char *want)
{
	char	 err[512], full[PATH_MAX + 512];
	json_t	*got;

	got = deploy_read(path, err, sizeof(err));
	if (got != NULL) {
		json_decref(got);
		fail_msg("read, expected %s", want);
	}
	snprintf(full, sizeof(full), "%s%s", path, want);
	assert_string_equal(err, full);
}

static void
error_case(void **state)
{
	const struct ecase	*c = *state;
	char			 path[PATH_MAX];

	put(c->file, c->text, path, sizeof(path));
	expect_error(path, c->err);
	unlink(path);
}

/* A YAML and a JSON file each one collection too deep; one less reads. */
static void
depth_limit(void **state)
{
	char	 text[4 * DEPLOY_DEPTH_MAX + 64], path[PATH_MAX];
	char	 want[64];
	size_t	 n = 0;
	int	 i;
	json_t	*j;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"tenant\":");
	for (i = 1; i < DEPLOY_DEPTH_MAX; i++)
		text[n++] = '[';
	for (i = 1; i < DEPLOY_DEPTH_MAX; i++)
		text[n++] = ']';
	snprintf(text + n, sizeof(text) - n, "}");
	put("deep.yaml", text, path, sizeof(path));
	assert_non_null(j = deploy_read(path, want, sizeof(want)));
	json_decref(j);
	put("deep.json", text, path, sizeof(path));
	assert_non_null(j = deploy_read(path, want, sizeof(want)));
	json_decref(j);

	n = (size_t)snprintf(text, sizeof(text), "{\"tenant\":");
	for (i = 0; i < DEPLOY_DEPTH_MAX; i++)
		text[n++] = '[';
	for (i = 0; i < DEPLOY_DEPTH_MAX; i++)
		text[n++] = ']';
	snprintf(text + n, sizeof(text) - n, "}");
	put("deep.yaml", text, path, sizeof(path));
	snprintf(want, sizeof(want), ":1:%d: nested too deeply",
	    10 + DEPLOY_DEPTH_MAX);
	expect_error(path, want);
	put("deep.json", text, path, sizeof(path));
	snprintf(want, sizeof(want), ": nested deeper than %d",
	    DEPLOY_DEPTH_MAX);
	expect_error(path, want);
}

/* A file one byte over DEPLOY_FILE_MAX is refused before parsing. */
static void
oversize(void **state)
{
	char	 path[PATH_MAX], want[64];

	(void)state;
	put("big.yaml", "tenant:\n", path, sizeof(path));
	assert_int_equal(truncate(path, DEPLOY_FILE_MAX + 1), 0);
	snprintf(want, sizeof(want), ": larger than %d bytes",
	    DEPLOY_FILE_MAX);
	expect_error(path, want);
	unlink(path);
}

/* A FIFO is refused, not waited on; a missing path is named. */
static void
special_files(void **state)
{
	char	 path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo.yaml", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_error(path, ": not a regular file");
	unlink(path);
	expect_error(path, ": No such file or directory");
}

/* One tenant, as a directory export (dirfiles) and as tenant.yaml. */
static const struct {
	const char	*rel;
	const char	*text;
} dirfiles[] = {
	{ "exp/tenant.json",
	  "{\"friendly_name\": \"T ##LK_ENV##\", \"session_lifetime\": 168}" },
	{ "exp/clients/B.json", "{\"name\": \"B\", \"app_type\": \"spa\"}" },
	{ "exp/clients/A.json",
	  "{\"name\": \"A\", \"grant_types\": [\"password\"]}" },
	{ "exp/clients/notes.txt", "not JSON, not read" },
	{ "exp/resource-servers/api.json",
	  "{\"name\": \"api\", \"identifier\": \"https://api\"}" },
	{ "exp/database-connections/Users/database.json",
	  "{\"name\": \"Users\", \"strategy\": \"auth0\", "
	  "\"enabled_clients\": [\"A\"], \"options\": {\"mfa\": {}}, "
	  "\"customScripts\": {\"login\": \"./login.js\"}}" },
	{ "exp/database-connections/Users/login.js", "function login() {" },
	{ "exp/database-connections/NoJson/login.js", "function login() {" },
	{ "exp/database-connections/README", "a file, not a connection" },
	{ "exp/databases/stray.json", "{\"name\": \"not read\"}" },
	{ "exp/connections/sms.json",
	  "{\"name\": \"sms\", \"strategy\": \"sms\"}" },
	{ "exp/attack-protection/brute-force-protection.json",
	  "{\"enabled\": true, \"max_attempts\": 10}" },
	{ "exp/attack-protection/suspicious-ip-throttling.json",
	  "{\"enabled\": false}" },
	{ "exp/attack-protection/breached-password-detection.json",
	  "{\"enabled\": false, \"shields\": []}" },
	{ "exp/guardian/factors/sms.json",
	  "{\"name\": \"sms\", \"enabled\": true}" },
	{ "exp/guardian/policies.json",
	  "{\"policies\": [\"all-applications\"]}" },
	{ "exp/rules/r1.json", "{\"name\": \"r1\", \"script\": \"./r1.js\"}" },
	{ "exp/rules/r1.js", "function (user, context, cb) {}" },
	{ "exp/rules-configs/k.json", "{\"key\": \"k\"}" },
	{ "exp/grants/A-api.json",
	  "{\"client_id\": \"A\", \"audience\": \"https://api\"}" },
	{ "exp/emails/provider.json", "{\"name\": \"smtp\"}" },
	{ "exp/emails/welcome_email.json",
	  "{\"template\": \"welcome_email\"}" },
	{ "exp/emails/welcome_email.html", "<p>hi</p>" },
};

static const char dir_yaml[] =
	"tenant:\n  friendly_name: T ##LK_ENV##\n  session_lifetime: 168\n"
	"clients:\n  - name: A\n    grant_types:\n      - password\n"
	"  - name: B\n    app_type: spa\n"
	"resourceServers:\n  - name: api\n    identifier: https://api\n"
	"databases:\n  - name: Users\n    strategy: auth0\n"
	"    enabled_clients: [A]\n    options:\n      mfa: {}\n"
	"      customScripts:\n        login: ./login.js\n"
	"connections:\n  - name: sms\n    strategy: sms\n"
	"attackProtection:\n  bruteForceProtection:\n    enabled: true\n"
	"    max_attempts: 10\n  suspiciousIpThrottling:\n    enabled: false\n"
	"  breachedPasswordDetection:\n    enabled: false\n    shields: []\n"
	"guardianFactors:\n  - name: sms\n    enabled: true\n"
	"guardianPolicies:\n  policies:\n    - all-applications\n"
	"rules:\n  - name: r1\n    script: ./r1.js\n"
	"rulesConfigs:\n  - key: k\n"
	"clientGrants:\n  - client_id: A\n    audience: https://api\n"
	"emailProvider:\n  name: smtp\n"
	"emailTemplates:\n  - template: welcome_email\n";

static void
directory_equals_yaml(void **state)
{
	char	 path[PATH_MAX], err[512];
	json_t	*dir, *yaml;
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(dirfiles); i++)
		put(dirfiles[i].rel, dirfiles[i].text, path, sizeof(path));
	put("tenant.yaml", dir_yaml, path, sizeof(path));
	if ((yaml = deploy_read(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	snprintf(path, sizeof(path), "%s/exp", tmpdir);
	if ((dir = deploy_read(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	if (!json_equal(dir, yaml)) {
		char *s = json_dumps(dir, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("directory gives %s", s);
	}
	json_decref(dir);
	json_decref(yaml);
}

/* A broken file of a directory export is named with its line:col. */
static void
directory_errors(void **state)
{
	char	 path[PATH_MAX], dir[PATH_MAX];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bad", tmpdir);
	put("bad/clients/A.json", "{\"name\": \"A\",\n}", path,
	    sizeof(path));
	expect_error(dir, "/clients/A.json:2:1: string or '}' expected "
	    "near '}'");
	put("bad/clients/A.json", "[1]", path, sizeof(path));
	expect_error(dir, "/clients/A.json: not a JSON object");
	put("bad/clients/A.json", "{}", path, sizeof(path));
	put("bad/clients/B.json", "{\"n\": \"##LK_UNSET##\"}", path,
	    sizeof(path));
	expect_error(dir, "/clients/B.json:1:8: ##LK_UNSET##: not set in "
	    "the environment");
	put("bad/clients/B.json", "{}", path, sizeof(path));
	put("bad/database-connections/D/database.json",
	    "{\"options\": 1, \"customScripts\": {}}", path, sizeof(path));
	expect_error(dir, "/database-connections/D/database.json: options: "
	    "not a JSON object");
	snprintf(dir, sizeof(dir), "%s/other", tmpdir);
	put("other/custom-things/x.json", "{}", path, sizeof(path));
	expect_error(dir, ": not an Auth0 export");
}

int
main(void)
{
	struct CMUnitTest	 t[NELEM(rcases) + NELEM(ecases) + 5];
	size_t			 i, n = 0;
	char			 cmd[PATH_MAX + 16];
	int			 rc;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	setenv("LK_ENV", "dev", 1);
	setenv("LK_LIST", "[\"https://a\", \"https://b\"]", 1);
	setenv("LK_WORD", "bob", 1);
	setenv("LK_NUM", "42", 1);
	unsetenv("LK_UNSET");
	for (i = 0; i < NELEM(rcases); i++)
		t[n++] = (struct CMUnitTest){ rcases[i].name, read_case,
		    NULL, NULL, (void *)&rcases[i] };
	for (i = 0; i < NELEM(ecases); i++)
		t[n++] = (struct CMUnitTest){ ecases[i].name, error_case,
		    NULL, NULL, (void *)&ecases[i] };
	t[n++] = (struct CMUnitTest)cmocka_unit_test(depth_limit);
	t[n++] = (struct CMUnitTest)cmocka_unit_test(oversize);
	t[n++] = (struct CMUnitTest)cmocka_unit_test(special_files);
	t[n++] = (struct CMUnitTest)cmocka_unit_test(directory_equals_yaml);
	t[n++] = (struct CMUnitTest)cmocka_unit_test(directory_errors);
	rc = _cmocka_run_group_tests("deploy", t, n, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
