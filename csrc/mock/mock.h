/*
 * The mock LLM server: shared types and the internal interfaces between its files.
 *
 * DESIGN. One server thread runs a single-threaded epoll loop (mock_server.c). A parsed
 * request (mock_http.c) is routed (mock_route.c) to a dialect handler (mock_gemini.c,
 * mock_openai.c) that builds the complete response before anything is sent, so latency,
 * faults and pipelining only decide *when* and *how* the prepared bytes leave. Faults
 * (mock_faults.c), the rate limit (mock_limit.c) and answer text (mock_answer.c) are
 * decided on the server thread too, in arrival order, which makes a seeded run repeatable. Everything the Lua
 * thread may read (stats) sits behind one mutex (mock_stats.c); the Lua state is only
 * touched in mock_core.c, on the Lua thread.
 */
#ifndef MOCK_H
#define MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#pragma GCC visibility push(hidden)

#define MOCK_SERVER_T "coursegen.MockServer"

#define MOCK_MAX_HEADER (16 * 1024)
#define MOCK_MAX_BODY (8 * 1024 * 1024)
/* A file's bytes (POST /upload/...) may be larger: a batch input file of tens of MB. */
#define MOCK_MAX_UPLOAD (96 * 1024 * 1024)

/* ---- growable buffer (mock_json.c) ---- */
typedef struct mbuf {
  char *p;
  size_t len, cap;
} mbuf;

void mb_init(mbuf *b);
void mb_free(mbuf *b);
void mb_reserve(mbuf *b, size_t extra);
void mb_put(mbuf *b, const void *s, size_t n);
void mb_puts(mbuf *b, const char *s);
void mb_putc(mbuf *b, char c);
void mb_printf(mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mb_jstr(mbuf *b, const char *s, size_t n); /* a quoted, escaped JSON string */
void mb_consume(mbuf *b, size_t n);             /* drop n bytes from the front */

/* ---- JSON reader (mock_json.c) ---- */
enum { JNULL, JFALSE, JTRUE, JNUM, JSTR, JARR, JOBJ };

typedef struct jnode {
  int type;
  const char *key; /* member name inside an object, else NULL */
  size_t keylen;
  const char *str; /* decoded string (NUL-terminated) */
  size_t len;
  double num;
  struct jnode *child, *next; /* arrays and objects: first child; siblings */
} jnode;

typedef struct jdoc jdoc;

jdoc *json_parse(const char *s, size_t n, jnode **root); /* NULL root on invalid JSON */
void json_free(jdoc *d);
jnode *json_get(const jnode *obj, const char *key);
jnode *json_get2(const jnode *obj, const char *a, const char *b); /* either name */
int json_streq(const jnode *n, const char *s);
/* Re-indents compact JSON: pretty = 2-space indent, else Google's one-line style. */
void json_format(mbuf *out, const char *s, size_t n, int pretty);

/* ---- faults (mock_faults.c) ---- */
enum fault_kind {
  F_NONE,
  F_429,
  F_429BARE,
  F_429DAY,
  F_QUOTA,
  F_400,
  F_401,
  F_403,
  F_404,
  F_500,
  F_503,
  F_504,
  F_EMPTY,
  F_THOUGHT,
  F_MAXTOKENS,
  F_SAFETY,
  F_RECITATION,
  F_BLOCKED,
  F_MALFORMED,
  F_TRUNCATED,
  F_RESET,
  F_STALL,
  F_SLOW,
  F_MIDSTREAM, /* beyond the documented list: a stream that ends in an error object */
  F_HTML404,   /* beyond the documented list: Google's HTML 404 page */
  /* hostile servers (mock_hostile.c): answers no honest server sends */
  F_HUGE,        /* a 200 of 64 MiB with its Content-Length, streamed */
  F_HUGECHUNKED, /* the same without a length (chunked): only a running count stops it */
  F_ENDLESS,     /* headers that never end */
  F_SLOWLORIS,   /* a valid answer, one byte per second (slowloris:MS sets the pace) */
  F_BADUTF8,     /* invalid UTF-8 inside the answer text (and the titles of a JSON answer) */
  F_DEEPJSON,    /* a body nested 100,000 deep */
  F_ODDJSON,     /* valid JSON of the wrong shape (oddjson:1..3 picks the variant) */
  F_REDIRECT,    /* 302 to another port (redirect:PORT) */
  F_HTTP10,      /* HTTP/1.0, no Content-Length, body delimited by close */
  F_COUNT
};

typedef struct fault {
  int kind;
  long param_ms; /* 429:2s delay, slow:MS, slowloris:MS; redirect:PORT, oddjson:N */
} fault;

typedef struct fault_rule {
  fault f;
  double prob;
} fault_rule;

#define MOCK_MAX_RULES 32

typedef struct fault_spec {
  fault_rule rules[MOCK_MAX_RULES];
  int n;
} fault_spec;

const char *fault_name(int kind);
/* Whether the fault is answered by an HTTP error status instead of a rendered answer;
 * both dialects must agree, so the list lives here and not in each of them. */
int fault_is_http_error(int kind);
/* The wait an injected 429 names (RetryInfo / Retry-After), in ms: its argument, else 1 s. */
long fault_hint_ms(const fault *f);
/* 0 on success; on failure writes a message naming the bad item into err. */
int fault_parse_one(const char *s, size_t n, fault *out, char *err, size_t errlen);
int fault_parse_spec(const char *spec, fault_spec *out, char *err, size_t errlen);

typedef struct prompt_table prompt_table;
prompt_table *ptab_new(void);
void ptab_free(prompt_table *t);
/* How many earlier requests carried this exact text; counts this one. */
uint64_t ptab_bump(prompt_table *t, uint64_t hash);
/* The fault a `[[mock:...]]` directive assigns to the nth (0-based) request, or F_NONE. */
fault directive_fault(const char *text, size_t n, uint64_t nth);

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);

typedef struct rng {
  uint64_t s;
} rng;
uint64_t rng_next(rng *r);
double rng_unit(rng *r);

/* ---- rate limit (mock_limit.c) ---- */
typedef struct bucket {
  double rate;     /* per second; 0 = unlimited */
  double capacity; /* most that can be saved up (window mode: admitted per window) */
  double tokens;
  double last;
  /* Sliding-window mode (window > 0): what was admitted in the last `window` seconds,
   * oldest first, in a ring of (time, amount). */
  double window;
  double *ring_t, *ring_n, in_window;
  size_t ring_cap, ring_head, ring_len;
} bucket;

void bucket_init(bucket *b, double per_minute, double capacity, double now);
/* Sliding-window mode: at most per_minute * window_s / 60 admitted in any window_s
 * seconds (the strictest reading of a per-minute limit when window_s is 60). */
void bucket_init_window(bucket *b, double per_minute, double window_s);
void bucket_free(bucket *b);
/* Admits and charges n, or returns the seconds until n would be admitted. */
double bucket_take(bucket *b, double n, double now);
double bucket_reset_s(const bucket *b, double now); /* time to refill completely */
/* What the bucket holds at `now`, capped at its capacity; negative while in debt. */
double bucket_level(const bucket *b, double now);
/* Gives back n taken by bucket_take for a request that was refused after all. */
void bucket_refund(bucket *b, double n);

/* ---- answers (mock_answer.c) ---- */
void answer_markdown(mbuf *out, const char *title, size_t tlen, uint64_t seed, int words);
void answer_schema(mbuf *out, const jnode *schema, const char *title, size_t tlen, uint64_t seed);
/* First non-empty line with leading '#' and blanks removed. */
void answer_title(const char *text, size_t n, const char **t, size_t *tlen);
long tokens_of(size_t bytes);
size_t utf8_cut(const char *s, size_t n); /* largest prefix length <= n on a char boundary */

/* ---- requests and responses ---- */
typedef struct mconfig {
  int port;
  long latency_ms, jitter_ms;
  double rpm, tpm, burst;
  double window_s; /* > 0: rpm and tpm enforced over a sliding window of this length */
  fault_spec faults;
  uint64_t seed;
  char api_key[256];
  int has_key;
  int answer_words;
  long batch_delay_ms;   /* a batch job's time from created to done (mock_batch.c) */
  long batch_inline_limit; /* largest inline batchGenerateContent body; 0: 20 MB */
  long cache_min_tokens; /* smallest cached content; 0: the model's documented minimum */
  int implicit_cache;    /* report a repeated prefix as cached (both APIs do); 0 turns it off */
} mconfig;

typedef struct mreq {
  int method; /* MGET, MPOST, ... */
  const char *path;
  size_t pathlen;
  const char *query;
  size_t querylen;
  const char *body;
  size_t bodylen;
  const char *goog_key;
  size_t goog_keylen;
  const char *auth;
  size_t authlen;
  const char *host; /* the Host header, for absolute addresses in answers */
  size_t hostlen;
  const char *upload_cmd; /* X-Goog-Upload-Command */
  size_t upload_cmdlen;
  long long upload_len;    /* X-Goog-Upload-Header-Content-Length, -1 when absent */
  long long upload_offset; /* X-Goog-Upload-Offset, -1 when absent */
  int http10, keepalive;
} mreq;

enum { MGET, MPOST, MDELETE, MPATCH, MOTHER };

enum { ACT_SEND, ACT_RESET, ACT_STALL, ACT_TRUNCATE, ACT_HUGE, ACT_HUGECHUNKED, ACT_ENDLESS, ACT_DRIP };

typedef struct mresp {
  int status;
  int counted; /* an API request (not /stats): its status goes into the stats */
  int action;
  long delay_ms;
  int close_after;
  int http10;   /* HTTP/1.0 status line, no Content-Length, body ends at close */
  long drip_ms; /* ACT_DRIP: pause between two bytes */
  const char *ctype;
  mbuf extra_headers; /* full "Name: value\r\n" lines */
  mbuf body;
} mresp;

typedef struct mserver mserver;
typedef struct mstats mstats;

/* Context handed to the dialect handlers: the server's state, touched on its thread only. */
typedef struct mcaches mcaches;
typedef struct mbatches mbatches;

typedef struct mctx {
  const mconfig *cfg;
  mstats *stats;
  prompt_table *prompts;
  rng *rng;
  bucket *rpm, *tpm;
  double now;
  mcaches *caches;   /* cached contents (mock_cache.c) */
  mbatches *batches; /* batch jobs and files (mock_batch.c) */
} mctx;

void resp_status_headers(mbuf *out, const mresp *r, int keepalive);
const char *http_reason(int status);

/* Dispatches a request; fills r. Called on the server thread. */
void route_request(mctx *c, const mreq *q, mresp *r);
/* The value of the first `name=` parameter in the query string, or NULL; vlen may be NULL.
 * Matches whole names only, so `xkey=` is not `key=`. */
const char *query_param(const mreq *q, const char *name, size_t *vlen);

/* Shared dialect plumbing (mock_route.c). */
typedef struct prompt_info {
  const char *user; /* text of the last user message (owned by the handler's buffer) */
  size_t userlen;
  long prompt_tokens;
  long max_out; /* 0 = none */
  long thinking; /* thinking tokens to report (Gemini thinkingBudget > 0) */
  const jnode *schema;
  int stream;
  int include_usage;
  /* caching (mock_cache.c): the part before the last message, and a named cache */
  long prefix_tokens;
  uint64_t prefix_hash;
  long cached; /* prompt tokens served from a cache, reported in usage */
  const char *cache_name;
  size_t cache_namelen;
  int has_system;
} prompt_info;

typedef struct decision {
  fault f;           /* fault to apply (F_NONE for a normal answer) */
  double retry_s;    /* for rate-limit 429s */
  int rate_limited;  /* 1 rpm, 2 tpm */
  long answer_tokens;
} decision;

void decide(mctx *c, const prompt_info *pi, size_t alen, decision *d);
void gemini_handle(mctx *c, const mreq *q, const char *model, size_t mlen, int op, mresp *r);
void openai_handle(mctx *c, const mreq *q, mresp *r);
void gemini_error(mresp *r, int code, const char *status, const char *message, const char *details);
void html_404(mresp *r, const mreq *q);
void fmt_duration_pb(char *out, size_t n, double s);
void fmt_duration_go(char *out, size_t n, double s);
/* Builds the answer text for a prompt (markdown or schema JSON). */
void make_answer(mctx *c, const prompt_info *pi, mbuf *out);

/* Hostile faults (mock_hostile.c). hostile_answer spoils the answer text before it is
 * rendered; fault_response reshapes or reframes the rendered response, for the hostile
 * faults and for the transport ones both dialects treat alike (html404, truncated, reset,
 * stall, slow). `sse` is the event separator of a streamed answer ("\r\n\r\n" or "\n\n"),
 * NULL for a unary one. */
void hostile_answer(const fault *f, mbuf *ans);
void fault_response(mresp *r, const mreq *q, const fault *f, const char *sse, int openai);

enum { GOP_GENERATE, GOP_STREAM, GOP_COUNT };

/* ---- cached contents (mock_cache.c) ---- */
mcaches *caches_new(void);
void caches_free(mcaches *m);
/* /v1beta/cachedContents[/ID]: create, get, patch (ttl), delete. */
void cache_route(mctx *c, const mreq *q, mresp *r);
/* Applies `cachedContent` or the implicit prefix cache to a request's usage; 0, or -1
 * after filling r with the error (unknown or expired cache, cache plus system instruction). */
int cache_apply(mctx *c, prompt_info *pi, const char *model, size_t mlen, mresp *r);

/* ---- batch jobs and files (mock_batch.c) ---- */
mbatches *batches_new(void);
void batches_free(mbatches *m);
/* Gemini: POST models/M:batchGenerateContent, GET/DELETE batches/ID, POST batches/ID:cancel.
 * OpenAI: POST /v1/files, GET /v1/files/ID/content, POST /v1/batches, GET /v1/batches/ID,
 * POST /v1/batches/ID/cancel. Returns 1 when the path was one of these. */
int batch_route(mctx *c, const mreq *q, mresp *r);
void gemini_batch_create(mctx *c, const mreq *q, const char *model, size_t mlen, mresp *r);

/* ---- stats (mock_stats.c) ---- */
mstats *stats_new(void);
void stats_free(mstats *s);
void stats_reset(mstats *s);
void stats_request(mstats *s, double now, int key_in_url);
void stats_answered(mstats *s, int status);
void stats_fault(mstats *s, int kind);
void stats_rate_limited(mstats *s);
/* An injected 429 naming a wait of wait_ms, at the request counted last (its arrival). */
void stats_hinted(mstats *s, long wait_ms);
void stats_inflight(mstats *s, int delta);
void stats_conn(mstats *s, int delta);
/* Counters of the caching and batch routes, and the request bytes received. */
enum { ST_REQUEST_BYTES, ST_CACHES_CREATED, ST_CACHES_RENEWED, ST_CACHES_DELETED, ST_BATCHES_CREATED,
       ST_BATCHES_CANCELLED, ST_FILES_CREATED, ST_UPLOADS_STARTED, ST_FILES_DOWNLOADED, ST_TOKENS_ADMITTED,
       ST_EXTRA_N };
void stats_add(mstats *s, int which, uint64_t n);
extern const char *const stats_extra_names[ST_EXTRA_N];
void stats_json(mstats *s, mbuf *out, double now);

/* A plain snapshot for the Lua side. */
typedef struct stats_snap {
  uint64_t requests, max_concurrent, requests_last_minute, key_in_url, rate_limited, connections_total;
  int64_t in_flight, connections;
  uint64_t status[600];
  uint64_t faults[F_COUNT];
  uint64_t extra[ST_EXTRA_N];
} stats_snap;
void stats_snapshot(mstats *s, stats_snap *out, double now);

/* ---- server (mock_server.c) ---- */
mserver *server_start(const mconfig *cfg, char *err, size_t errlen);
int server_port(const mserver *s);
mstats *server_stats(mserver *s);
void server_stop(mserver *s); /* joins the thread and frees everything */

double mono_now(void);

#pragma GCC visibility pop

#endif
