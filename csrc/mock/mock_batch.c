/*
 * Batch jobs in both dialects, and the files OpenAI's batches read and write.
 *
 * Gemini: POST /v1beta/models/M:batchGenerateContent (inline requests up to
 * `batch_inline_limit`, or `input_config.file_name` naming an uploaded JSONL file) returns an
 * Operation; GET /v1beta/batches/ID shows metadata.state moving PENDING, RUNNING,
 * SUCCEEDED over `batch_delay_ms`, then `done` and response.inlinedResponses (or
 * response.responsesFile, a JSONL file of keyed answers, for a file job);
 * POST /v1beta/batches/ID:cancel, DELETE /v1beta/batches/ID. Files: the resumable upload
 * (POST /upload/v1beta/files with X-Goog-Upload-Command "start", answered with an
 * X-Goog-Upload-URL on this server; then "upload, finalize" with the bytes at offset 0)
 * and GET /download/v1beta/files/ID:download?alt=media.
 * OpenAI: POST /v1/files (multipart, purpose=batch), GET /v1/files/ID/content,
 * POST /v1/batches, GET /v1/batches/ID (validating, in_progress, finalizing, completed
 * with output_file_id and error_file_id), POST /v1/batches/ID/cancel.
 *
 * Every request inside a job is answered when the job is created, by the same handler a
 * live request goes to (no rate limit: the batch quota is separate), so directives pick
 * per-request faults and blocked answers as they do live. The job's own faults are markers
 * in any of its prompts: `[[mock-batch:fail]]` (the job fails), `[[mock-batch:expire]]`
 * (it expires), `[[mock-batch:429]]` (the first create of that input is refused with 429),
 * `[[mock-batch:upload-refused]]` in an uploaded file (its finalize is refused with 400).
 * Shapes: docs/wire-caching-batch.md. Server thread only, so no lock.
 */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_JOBS 64
#define MAX_FILES 128

enum { JOB_ACTIVE, JOB_CANCELLED, JOB_FAILED, JOB_EXPIRED };

typedef struct bjob {
  char id[40];
  int openai, live, fate; /* fate: what the job ends as (JOB_*), set at create or by cancel */
  double created, cancelled_at;
  time_t wall;
  char model[128];
  long total, failed;
  mbuf results; /* Gemini: inlinedResponses array; OpenAI: unused (files) */
  char input_file[40], output_file[40], error_file[40]; /* Gemini: output_file is responsesFile */
} bjob;

typedef struct bfile {
  char id[40];
  char name[128];
  int live;
  int pending;         /* a resumable upload started, its bytes not yet in */
  long long declared;  /* the length the upload's start announced, -1 when none */
  char upload_id[24];  /* the upload session's id, in its X-Goog-Upload-URL */
  time_t wall;
  mbuf data;
} bfile;

struct mbatches {
  bjob jobs[MAX_JOBS];
  bfile files[MAX_FILES];
  uint64_t serial;
};

mbatches *batches_new(void) {
  mbatches *m = calloc(1, sizeof *m);
  if (!m) abort();
  return m;
}

void batches_free(mbatches *m) {
  if (!m) return;
  for (int i = 0; i < MAX_JOBS; i++) mb_free(&m->jobs[i].results);
  for (int i = 0; i < MAX_FILES; i++) mb_free(&m->files[i].data);
  free(m);
}

static void new_id(mctx *c, char *out, size_t n, const char *prefix) {
  static const char b36[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  rng r = {hash_bytes(prefix, strlen(prefix), ++c->batches->serial ^ c->cfg->seed)};
  char tail[17];
  for (int i = 0; i < 16; i++) tail[i] = b36[rng_next(&r) % 36];
  tail[16] = '\0';
  snprintf(out, n, "%s%s", prefix, tail);
}

/* Writes a parsed JSON value back out, compact. */
static void jwrite(mbuf *o, const jnode *n) {
  switch (n->type) {
  case JNULL: mb_puts(o, "null"); break;
  case JTRUE: mb_puts(o, "true"); break;
  case JFALSE: mb_puts(o, "false"); break;
  case JNUM: mb_printf(o, "%.17g", n->num); break;
  case JSTR: mb_jstr(o, n->str, n->len); break;
  default: {
    int obj = n->type == JOBJ;
    mb_putc(o, obj ? '{' : '[');
    for (const jnode *x = n->child; x; x = x->next) {
      if (x != n->child) mb_putc(o, ',');
      if (obj) {
        mb_jstr(o, x->key, x->keylen);
        mb_putc(o, ':');
      }
      jwrite(o, x);
    }
    mb_putc(o, obj ? '}' : ']');
  }
  }
}

static void ts(mbuf *o, time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[40];
  strftime(b, sizeof b, "\"%Y-%m-%dT%H:%M:%S.000000Z\"", &tm);
  mb_puts(o, b);
}

/* One request through the live handler, without the rate limit. */
static void answer_one(const mctx *c, const mreq *q, const char *body, size_t blen, const char *model, size_t mlen,
                       mresp *sub) {
  bucket none;
  memset(&none, 0, sizeof none); /* rate 0: unlimited */
  mctx cc = *c;
  cc.rpm = &none;
  cc.tpm = &none;
  mreq sq = *q;
  sq.body = body;
  sq.bodylen = blen;
  sq.query = NULL;
  sq.querylen = 0;
  memset(sub, 0, sizeof *sub);
  mb_init(&sub->body);
  mb_init(&sub->extra_headers);
  if (model) gemini_handle(&cc, &sq, model, mlen, GOP_GENERATE, sub);
  else openai_handle(&cc, &sq, sub);
  /* a transport fault (reset, stall, truncation) has no meaning inside a job: it failed */
  if (sub->action != ACT_SEND && sub->status == 200) {
    sub->body.len = 0;
    gemini_error(sub, 500, "INTERNAL", "An internal error has occurred.", NULL);
  }
  mb_free(&sub->extra_headers);
}

/* `[[mock-batch:429]]` in a job's input: the first create of that input is refused with 429,
 * as a quota on batch jobs would; the same input again is accepted. */
static int create_refused(mctx *c, const char *body, size_t n) {
  if (!memmem(body, n, "[[mock-batch:429]]", 18)) return 0;
  return ptab_bump(c->prompts, hash_bytes(body, n, 0xba7c4)) == 0;
}

static int job_fate(const char *body, size_t n) {
  if (memmem(body, n, "[[mock-batch:fail]]", 19)) return JOB_FAILED;
  if (memmem(body, n, "[[mock-batch:expire]]", 21)) return JOB_EXPIRED;
  return JOB_ACTIVE;
}

static bjob *new_job(mctx *c, int openai) {
  bjob *j = NULL;
  for (int i = 0; i < MAX_JOBS && !j; i++)
    if (!c->batches->jobs[i].live) j = &c->batches->jobs[i];
  if (!j) return NULL;
  mb_free(&j->results);
  memset(j, 0, sizeof *j);
  j->openai = openai;
  j->live = 1;
  j->created = c->now;
  j->wall = time(NULL);
  stats_add(c->stats, ST_BATCHES_CREATED, 1);
  return j;
}

/* Whether a stored id is the `n` bytes at `id` (which the path does not terminate). */
static int same_id(const char *have, const char *id, size_t n) {
  return strlen(have) == n && memcmp(have, id, n) == 0;
}

static bjob *find_job(mctx *c, const char *id, size_t n) {
  bjob *jobs = c->batches->jobs;
  for (int i = 0; i < MAX_JOBS; i++)
    if (jobs[i].live && same_id(jobs[i].id, id, n)) return &jobs[i];
  return NULL;
}

/* 0 pending/validating, 1 running/in_progress, 2 finalizing, 3 done (as its fate says) */
static int phase(const mctx *c, const bjob *j) {
  if (j->fate == JOB_CANCELLED) return 3;
  double d = (double)c->cfg->batch_delay_ms / 1000.0, t = c->now - j->created;
  if (t >= d) return 3;
  if (j->fate == JOB_FAILED) return t >= d / 3 ? 3 : 0; /* fails while validating */
  return t < d / 3 ? 0 : (t < 2 * d / 3 ? 1 : 2);
}

static void json_ok(mresp *r, mbuf *t, int pretty) {
  r->body.len = 0;
  if (pretty) json_format(&r->body, t->p, t->len, 1);
  else mb_put(&r->body, t->p, t->len); /* OpenAI sends compact JSON */
  mb_putc(&r->body, '\n');
  r->status = 200;
  r->ctype = pretty ? "application/json; charset=UTF-8" : "application/json";
}

/* ---- files (both dialects) ---- */

static bfile *new_file(mctx *c, const char *prefix, const char *name, size_t nl) {
  bfile *f = NULL;
  for (int i = 0; i < MAX_FILES && !f; i++)
    if (!c->batches->files[i].live) f = &c->batches->files[i];
  if (!f) return NULL;
  f->data.len = 0;
  f->live = 1;
  f->pending = 0;
  f->declared = -1;
  f->upload_id[0] = '\0';
  f->wall = time(NULL);
  new_id(c, f->id, sizeof f->id, prefix);
  snprintf(f->name, sizeof f->name, "%.*s", (int)(nl > 100 ? 100 : nl), name);
  stats_add(c->stats, ST_FILES_CREATED, 1);
  return f;
}

static bfile *find_file(mctx *c, const char *id, size_t n) {
  bfile *files = c->batches->files;
  for (int i = 0; i < MAX_FILES; i++)
    if (files[i].live && same_id(files[i].id, id, n)) return &files[i];
  return NULL;
}

/* ---- Gemini ---- */

static void gemini_op(mctx *c, const bjob *j, mresp *r) {
  static const char *const names[] = {"BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_RUNNING"};
  int ph = phase(c, j);
  const char *state = ph < 3                      ? names[ph]
                      : j->fate == JOB_CANCELLED ? "BATCH_STATE_CANCELLED"
                      : j->fate == JOB_FAILED    ? "BATCH_STATE_FAILED"
                      : j->fate == JOB_EXPIRED   ? "BATCH_STATE_EXPIRED"
                                                 : "BATCH_STATE_SUCCEEDED";
  mbuf t;
  mb_init(&t);
  mb_printf(&t, "{\"name\":\"%s\",\"metadata\":{\"@type\":\"type.googleapis.com/google.ai.generativelanguage.v1main."
                "GenerateContentBatch\",\"model\":",
            j->id);
  mb_jstr(&t, j->model, strlen(j->model));
  mb_printf(&t, ",\"displayName\":\"coursegen\",\"createTime\":");
  ts(&t, j->wall);
  mb_printf(&t, ",\"batchStats\":{\"requestCount\":\"%ld\"", j->total);
  if (ph == 3 && j->fate == JOB_ACTIVE)
    mb_printf(&t, ",\"successfulRequestCount\":\"%ld\",\"failedRequestCount\":\"%ld\"", j->total - j->failed,
              j->failed);
  else mb_printf(&t, ",\"pendingRequestCount\":\"%ld\"", j->total);
  mb_printf(&t, "},\"state\":\"%s\",\"name\":\"%s\"}", state, j->id);
  if (ph == 3) {
    mb_puts(&t, ",\"done\":true");
    if (j->fate == JOB_ACTIVE && j->output_file[0]) {
      mb_printf(&t, ",\"response\":{\"@type\":\"type.googleapis.com/google.ai.generativelanguage.v1main."
                    "GenerateContentBatchOutput\",\"responsesFile\":\"%s\"}",
                j->output_file);
    } else if (j->fate == JOB_ACTIVE) {
      mb_puts(&t, ",\"response\":{\"@type\":\"type.googleapis.com/google.ai.generativelanguage.v1main."
                  "GenerateContentBatchOutput\",\"inlinedResponses\":{\"inlinedResponses\":");
      mb_put(&t, j->results.p, j->results.len);
      mb_puts(&t, "}}");
    } else if (j->fate == JOB_FAILED) {
      mb_puts(&t, ",\"error\":{\"code\":13,\"message\":\"Batch job failed: internal error while processing.\"}");
    }
  }
  mb_putc(&t, '}');
  json_ok(r, &t, 1);
  mb_free(&t);
}

/* Answers one request of a job into `out`: an inline item (`{"response"|"error", "metadata"}`,
 * comma-separated) or a file line (`{"key", "response"|"error"}` and a newline). */
static void gemini_item(mctx *c, const mreq *q, bjob *j, const jnode *one, const jnode *key, const jnode *meta,
                        const char *model, size_t mlen, mbuf *out, int file) {
  mbuf req;
  mb_init(&req);
  jwrite(&req, one);
  mresp sub;
  answer_one(c, q, req.p, req.len, model, mlen, &sub);
  mb_free(&req);
  if (!file && j->total) mb_putc(out, ',');
  j->total++;
  mb_putc(out, '{');
  if (file) {
    mb_puts(out, "\"key\":");
    if (key) jwrite(out, key);
    else mb_puts(out, "null");
    mb_putc(out, ',');
  }
  jnode *ar;
  jdoc *ad = json_parse(sub.body.p ? sub.body.p : "", sub.body.len, &ar);
  if (sub.status == 200 && ar) {
    mb_puts(out, "\"response\":");
    jwrite(out, ar);
  } else {
    j->failed++;
    mb_puts(out, "\"error\":");
    const jnode *e = ar ? json_get(ar, "error") : NULL;
    if (e) jwrite(out, e);
    else mb_printf(out, "{\"code\":%d,\"message\":\"request failed\"}", sub.status);
  }
  if (meta) {
    mb_puts(out, ",\"metadata\":");
    jwrite(out, meta);
  }
  mb_putc(out, '}');
  if (file) mb_putc(out, '\n');
  json_free(ad);
  mb_free(&sub.body);
}

/* The line of JSONL at *p, parsed (the document to free; *line its root or NULL); *p moves
 * past it. */
static jdoc *next_line(const char **p, const char *end, jnode **line) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  const char *le = nl ? nl : end;
  jdoc *d = json_parse(*p, (size_t)(le - *p), line);
  *p = le + 1;
  return d;
}

/* The requests of an uploaded JSONL file, one `{"key", "request"}` a line, answered into
 * a new file that becomes the job's responsesFile. */
static void gemini_file_job(mctx *c, const mreq *q, bjob *j, const bfile *in, const char *model, size_t mlen) {
  mbuf out;
  mb_init(&out);
  const char *p = in->data.p ? in->data.p : "", *end = p + in->data.len;
  while (p < end) {
    jnode *line;
    jdoc *ld = next_line(&p, end, &line);
    const jnode *one = line ? json_get(line, "request") : NULL;
    if (one) gemini_item(c, q, j, one, json_get(line, "key"), NULL, model, mlen, &out, 1);
    json_free(ld);
  }
  bfile *f = new_file(c, "files/", "batch-responses", 15);
  if (f) {
    mb_put(&f->data, out.p ? out.p : "", out.len);
    snprintf(j->output_file, sizeof j->output_file, "%s", f->id);
  }
  mb_free(&out);
}

void gemini_batch_create(mctx *c, const mreq *q, const char *model, size_t mlen, mresp *r) {
  jnode *root;
  jdoc *doc = json_parse(q->body, q->bodylen, &root);
  const jnode *cfg = json_get2(json_get(root, "batch"), "inputConfig", "input_config");
  const jnode *list = json_get(json_get(cfg, "requests"), "requests");
  const jnode *fname = json_get2(cfg, "fileName", "file_name");
  const bfile *in = NULL;
  if (fname && fname->type == JSTR) {
    in = find_file(c, fname->str, fname->len);
    if (!in || in->pending) {
      gemini_error(r, 404, "NOT_FOUND", "Requested entity was not found.", NULL);
      json_free(doc);
      return;
    }
  } else if (!list || list->type != JARR) {
    gemini_error(r, 400, "INVALID_ARGUMENT",
                 "* BatchGenerateContentRequest.batch.input_config: input_config.requests or file_name is required\n",
                 NULL);
    json_free(doc);
    return;
  } else {
    long limit = c->cfg->batch_inline_limit ? c->cfg->batch_inline_limit : 20 * 1000 * 1000;
    if (q->bodylen > (size_t)limit) {
      char msg[120];
      snprintf(msg, sizeof msg, "Request payload size exceeds the limit: %ld bytes.", limit);
      gemini_error(r, 400, "INVALID_ARGUMENT", msg, NULL);
      json_free(doc);
      return;
    }
  }
  const char *input = in ? (in->data.p ? in->data.p : "") : q->body;
  size_t ilen = in ? in->data.len : q->bodylen;
  bjob *j = create_refused(c, input, ilen) ? NULL : new_job(c, 0);
  if (!j) {
    gemini_error(r, 429, "RESOURCE_EXHAUSTED", "Too many concurrent batch jobs.", NULL);
    json_free(doc);
    return;
  }
  new_id(c, j->id, sizeof j->id, "batches/");
  snprintf(j->model, sizeof j->model, "models/%.*s", (int)(mlen > 100 ? 100 : mlen), model);
  j->fate = job_fate(input, ilen);
  if (in) {
    snprintf(j->input_file, sizeof j->input_file, "%s", in->id);
    gemini_file_job(c, q, j, in, model, mlen);
  } else {
    mb_putc(&j->results, '[');
    for (const jnode *x = list->child; x; x = x->next) {
      const jnode *one = json_get(x, "request");
      if (one) gemini_item(c, q, j, one, NULL, json_get(x, "metadata"), model, mlen, &j->results, 0);
    }
    mb_putc(&j->results, ']');
  }
  json_free(doc);
  gemini_op(c, j, r);
}

/* POST /upload/v1beta/files: the resumable upload's start (metadata) and its one
 * "upload, finalize" request (every byte at offset 0). */
static void gemini_upload(mctx *c, const mreq *q, mresp *r) {
  int start = q->upload_cmd && q->upload_cmdlen == 5 && memcmp(q->upload_cmd, "start", 5) == 0;
  int finalize = q->upload_cmd && memmem(q->upload_cmd, q->upload_cmdlen, "finalize", 8) != NULL;
  if (start) {
    jnode *root;
    jdoc *doc = json_parse(q->body, q->bodylen, &root);
    const jnode *dn = json_get2(json_get(root, "file"), "displayName", "display_name");
    bfile *f = new_file(c, "files/", dn && dn->type == JSTR ? dn->str : "", dn && dn->type == JSTR ? dn->len : 0);
    json_free(doc);
    if (!f) {
      gemini_error(r, 429, "RESOURCE_EXHAUSTED", "Too many files.", NULL);
      return;
    }
    stats_add(c->stats, ST_UPLOADS_STARTED, 1);
    f->pending = 1;
    f->declared = q->upload_len;
    new_id(c, f->upload_id, sizeof f->upload_id, "u");
    mb_printf(&r->extra_headers, "X-Goog-Upload-URL: http://%.*s/upload/v1beta/files?upload_id=%s"
                                 "&upload_protocol=resumable\r\nX-Goog-Upload-Status: active\r\n",
              (int)(q->hostlen > 200 ? 200 : q->hostlen), q->host ? q->host : "", f->upload_id);
    r->status = 200;
    r->ctype = "text/plain; charset=utf-8";
    return;
  }
  size_t il = 0;
  const char *id = query_param(q, "upload_id", &il);
  bfile *f = NULL;
  for (int i = 0; id && i < MAX_FILES && !f; i++) {
    bfile *x = &c->batches->files[i];
    if (x->live && x->pending && strlen(x->upload_id) == il && memcmp(x->upload_id, id, il) == 0) f = x;
  }
  if (!finalize || !f) {
    gemini_error(r, 400, "INVALID_ARGUMENT", f ? "Unsupported X-Goog-Upload-Command." : "No such upload session.",
                 NULL);
    return;
  }
  if (q->upload_offset != 0 || (f->declared >= 0 && (size_t)f->declared != q->bodylen)) {
    gemini_error(r, 400, "INVALID_ARGUMENT", "The upload's offset or length does not match its start.", NULL);
    return;
  }
  if (memmem(q->body, q->bodylen, "[[mock-batch:upload-refused]]", 29)) {
    f->live = 0;
    gemini_error(r, 400, "INVALID_ARGUMENT", "The file was refused.", NULL);
    return;
  }
  f->pending = 0;
  mb_put(&f->data, q->body, q->bodylen);
  mbuf t;
  mb_init(&t);
  mb_printf(&t, "{\"file\":{\"name\":\"%s\",\"displayName\":", f->id);
  mb_jstr(&t, f->name, strlen(f->name));
  mb_printf(&t, ",\"mimeType\":\"application/jsonl\",\"sizeBytes\":\"%zu\",\"createTime\":", f->data.len);
  ts(&t, f->wall);
  mb_puts(&t, ",\"updateTime\":");
  ts(&t, f->wall);
  mb_puts(&t, ",\"expirationTime\":");
  ts(&t, f->wall + 48 * 3600);
  mb_printf(&t, ",\"uri\":\"http://%.*s/v1beta/%s\",\"state\":\"ACTIVE\",\"source\":\"UPLOADED\"}}",
            (int)(q->hostlen > 200 ? 200 : q->hostlen), q->host ? q->host : "", f->id);
  json_ok(r, &t, 1);
  mb_free(&t);
}

/* GET /download/v1beta/files/ID:download?alt=media: a file's bytes. */
static void gemini_download(mctx *c, const mreq *q, mresp *r) {
  const char *id = q->path + 17; /* after "/download/v1beta/": "files/ID:download" */
  size_t il = q->pathlen - 17 - 9;
  const bfile *f = find_file(c, id, il);
  if (!f || f->pending) {
    gemini_error(r, 404, "NOT_FOUND", "Requested entity was not found.", NULL);
    return;
  }
  stats_add(c->stats, ST_FILES_DOWNLOADED, 1);
  r->status = 200;
  r->ctype = "application/octet-stream";
  mb_put(&r->body, f->data.p ? f->data.p : "", f->data.len);
}

/* ---- OpenAI ---- */

static void oa_err(mresp *r, int status, const char *msg) {
  r->body.len = 0;
  mb_puts(&r->body, "{\"error\":{\"message\":");
  mb_jstr(&r->body, msg, strlen(msg));
  mb_puts(&r->body, ",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}\n");
  r->status = status;
  r->ctype = "application/json";
}

static void file_json(mresp *r, const bfile *f, const char *purpose) {
  mbuf t;
  mb_init(&t);
  mb_printf(&t, "{\"object\":\"file\",\"id\":\"%s\",\"purpose\":\"%s\",\"filename\":", f->id, purpose);
  mb_jstr(&t, f->name, strlen(f->name));
  mb_printf(&t, ",\"bytes\":%zu,\"created_at\":%lld,\"expires_at\":null,\"status\":\"processed\","
                "\"status_details\":null}",
            f->data.len, (long long)f->wall);
  json_ok(r, &t, 0);
  mb_free(&t);
}

/* A multipart/form-data part's content by its field name, or NULL. */
static const char *form_part(const mreq *q, const char *field, size_t *len, const char **fname, size_t *fnl) {
  char pat[80];
  snprintf(pat, sizeof pat, "name=\"%s\"", field);
  const char *p = memmem(q->body, q->bodylen, pat, strlen(pat));
  if (!p) return NULL;
  const char *end = q->body + q->bodylen;
  const char *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
  if (!hdr_end) return NULL;
  if (fname) {
    const char *fn = memmem(p, (size_t)(hdr_end - p), "filename=\"", 10);
    *fname = fn ? fn + 10 : "";
    const char *fe = fn ? memchr(fn + 10, '"', (size_t)(hdr_end - fn - 10)) : NULL;
    *fnl = fe ? (size_t)(fe - fn - 10) : 0;
  }
  const char *start = hdr_end + 4;
  const char *stop = memmem(start, (size_t)(end - start), "\r\n--", 4);
  if (!stop) return NULL;
  *len = (size_t)(stop - start);
  return start;
}

static void file_upload(mctx *c, const mreq *q, mresp *r) {
  size_t pl = 0, dl = 0, fnl = 0;
  const char *fname = NULL;
  const char *purpose = form_part(q, "purpose", &pl, NULL, NULL);
  const char *data = form_part(q, "file", &dl, &fname, &fnl);
  if (!purpose || !data) {
    oa_err(r, 400, "Missing required parameter: 'file' and 'purpose' (multipart/form-data).");
    return;
  }
  if (pl != 5 || memcmp(purpose, "batch", 5) != 0) {
    oa_err(r, 400, "Invalid purpose: this server takes 'batch' files only.");
    return;
  }
  bfile *f = new_file(c, "file-", fname, fnl);
  if (!f) {
    oa_err(r, 429, "Too many files.");
    return;
  }
  mb_put(&f->data, data, dl);
  file_json(r, f, "batch");
}

static void oa_batch_json(mctx *c, const bjob *j, mresp *r) {
  int ph = phase(c, j);
  static const char *const names[] = {"validating", "in_progress", "finalizing"};
  const char *st = ph < 3                      ? names[ph]
                   : j->fate == JOB_CANCELLED ? "cancelled"
                   : j->fate == JOB_FAILED    ? "failed"
                   : j->fate == JOB_EXPIRED   ? "expired"
                                              : "completed";
  int done_ok = ph == 3 && j->fate == JOB_ACTIVE;
  mbuf t;
  mb_init(&t);
  mb_printf(&t, "{\"id\":\"%s\",\"object\":\"batch\",\"endpoint\":\"/v1/chat/completions\",\"errors\":", j->id);
  if (ph == 3 && j->fate == JOB_FAILED)
    mb_puts(&t, "{\"object\":\"list\",\"data\":[{\"code\":\"invalid_request\",\"message\":\"The batch could not "
                "be processed.\",\"param\":null,\"line\":null}]}");
  else mb_puts(&t, "null");
  mb_printf(&t, ",\"input_file_id\":\"%s\",\"completion_window\":\"24h\",\"status\":\"%s\",", j->input_file, st);
  if (done_ok && j->output_file[0]) mb_printf(&t, "\"output_file_id\":\"%s\",", j->output_file);
  else mb_puts(&t, "\"output_file_id\":null,");
  if (done_ok && j->error_file[0]) mb_printf(&t, "\"error_file_id\":\"%s\",", j->error_file);
  else mb_puts(&t, "\"error_file_id\":null,");
  mb_printf(&t, "\"created_at\":%lld,\"expires_at\":%lld,\"completed_at\":", (long long)j->wall,
            (long long)j->wall + 86400);
  if (done_ok) mb_printf(&t, "%lld", (long long)time(NULL));
  else mb_puts(&t, "null");
  mb_printf(&t, ",\"request_counts\":{\"total\":%ld,\"completed\":%ld,\"failed\":%ld},\"metadata\":null}", j->total,
            done_ok ? j->total - j->failed : 0, done_ok ? j->failed : 0);
  json_ok(r, &t, 0);
  mb_free(&t);
}

static void oa_batch_create(mctx *c, const mreq *q, mresp *r) {
  jnode *root;
  jdoc *doc = json_parse(q->body, q->bodylen, &root);
  const jnode *fid = root ? json_get(root, "input_file_id") : NULL;
  const jnode *ep = root ? json_get(root, "endpoint") : NULL;
  bfile *in = fid && fid->type == JSTR ? find_file(c, fid->str, fid->len) : NULL;
  if (!in || !json_streq(ep, "/v1/chat/completions")) {
    oa_err(r, 400, in ? "Invalid 'endpoint': this server batches /v1/chat/completions only."
                      : "Invalid 'input_file_id': no such file.");
    json_free(doc);
    return;
  }
  bjob *j = create_refused(c, in->data.p ? in->data.p : "", in->data.len) ? NULL : new_job(c, 1);
  if (!j) {
    oa_err(r, 429, "Too many batches in progress.");
    json_free(doc);
    return;
  }
  json_free(doc);
  new_id(c, j->id, sizeof j->id, "batch_");
  snprintf(j->input_file, sizeof j->input_file, "%s", in->id);
  j->fate = job_fate(in->data.p ? in->data.p : "", in->data.len);
  mbuf out, err, body;
  mb_init(&out);
  mb_init(&err);
  mb_init(&body);
  const char *p = in->data.p ? in->data.p : "", *end = p + in->data.len;
  while (p < end) {
    jnode *line;
    jdoc *ld = next_line(&p, end, &line);
    if (!line) {
      json_free(ld);
      continue;
    }
    const jnode *cid = json_get(line, "custom_id"), *b = json_get(line, "body");
    j->total++;
    mbuf *dst = &out;
    char rid[40];
    new_id(c, rid, sizeof rid, "batch_req_");
    if (!b || b->type != JOBJ) {
      dst = &err;
      j->failed++;
      mb_printf(dst, "{\"id\":\"%s\",\"custom_id\":", rid);
      if (cid) jwrite(dst, cid);
      else mb_puts(dst, "null");
      mb_puts(dst, ",\"response\":null,\"error\":{\"code\":\"invalid_request\",\"message\":\"Missing body.\"}}\n");
      json_free(ld);
      continue;
    }
    body.len = 0;
    jwrite(&body, b);
    mresp sub;
    answer_one(c, q, body.p, body.len, NULL, 0, &sub);
    if (sub.status != 200) {
      dst = &err;
      j->failed++;
    }
    mb_printf(dst, "{\"id\":\"%s\",\"custom_id\":", rid);
    if (cid) jwrite(dst, cid);
    else mb_puts(dst, "null");
    mb_printf(dst, ",\"response\":{\"status_code\":%d,\"request_id\":\"req_%s\",\"body\":", sub.status, rid + 10);
    jnode *ar;
    jdoc *ad = json_parse(sub.body.p ? sub.body.p : "", sub.body.len, &ar);
    if (ar) jwrite(dst, ar);
    else mb_puts(dst, "null");
    mb_puts(dst, "},\"error\":null}\n");
    json_free(ad);
    mb_free(&sub.body);
    json_free(ld);
  }
  if (out.len) {
    bfile *f = new_file(c, "file-", "batch_output.jsonl", 18);
    if (f) {
      mb_put(&f->data, out.p, out.len);
      snprintf(j->output_file, sizeof j->output_file, "%s", f->id);
    }
  }
  if (err.len) {
    bfile *f = new_file(c, "file-", "batch_errors.jsonl", 18);
    if (f) {
      mb_put(&f->data, err.p, err.len);
      snprintf(j->error_file, sizeof j->error_file, "%s", f->id);
    }
  }
  mb_free(&out);
  mb_free(&err);
  mb_free(&body);
  oa_batch_json(c, j, r);
}

static int starts(const mreq *q, const char *p) {
  size_t l = strlen(p);
  return q->pathlen >= l && memcmp(q->path, p, l) == 0;
}

static int ends(const char *s, size_t n, const char *suf) {
  size_t l = strlen(suf);
  return n >= l && memcmp(s + n - l, suf, l) == 0;
}

static void cancel(mctx *c, bjob *j) {
  if (phase(c, j) < 3) {
    j->fate = JOB_CANCELLED;
    j->cancelled_at = c->now;
    stats_add(c->stats, ST_BATCHES_CANCELLED, 1);
  }
}

int batch_route(mctx *c, const mreq *q, mresp *r) {
  if (q->pathlen == 20 && memcmp(q->path, "/upload/v1beta/files", 20) == 0 && q->method == MPOST) {
    gemini_upload(c, q, r);
    return 1;
  }
  if (starts(q, "/download/v1beta/files/") && ends(q->path, q->pathlen, ":download") && q->method == MGET) {
    gemini_download(c, q, r);
    return 1;
  }
  if (starts(q, "/v1beta/batches/")) {
    const char *id = q->path + 8; /* "batches/..." */
    size_t il = q->pathlen - 8;
    int is_cancel = ends(id, il, ":cancel");
    if (is_cancel) il -= 7;
    bjob *j = find_job(c, id, il);
    if (!j || j->openai) {
      gemini_error(r, 404, "NOT_FOUND", "Requested entity was not found.", NULL);
    } else if (is_cancel && q->method == MPOST) {
      cancel(c, j);
      r->status = 200;
      r->ctype = "application/json; charset=UTF-8";
      mb_puts(&r->body, "{}\n");
    } else if (q->method == MGET) {
      gemini_op(c, j, r);
    } else if (q->method == MDELETE) {
      j->live = 0;
      r->status = 200;
      r->ctype = "application/json; charset=UTF-8";
      mb_puts(&r->body, "{}\n");
    } else {
      gemini_error(r, 405, "METHOD_NOT_ALLOWED", "Method not allowed.", NULL);
    }
    return 1;
  }
  const char *pfx = starts(q, "/v1/") ? "/v1/" : "/";
  size_t pl = strlen(pfx);
  const char *rest = q->path + pl;
  size_t rl = q->pathlen - pl;
  if (rl == 5 && memcmp(rest, "files", 5) == 0 && q->method == MPOST) {
    file_upload(c, q, r);
    return 1;
  }
  if (rl > 6 && memcmp(rest, "files/", 6) == 0 && ends(rest, rl, "/content") && q->method == MGET) {
    bfile *f = find_file(c, rest + 6, rl - 6 - 8);
    if (!f) oa_err(r, 404, "No such File object.");
    else {
      r->status = 200;
      r->ctype = "application/octet-stream";
      mb_put(&r->body, f->data.p ? f->data.p : "", f->data.len);
    }
    return 1;
  }
  if (rl == 7 && memcmp(rest, "batches", 7) == 0 && q->method == MPOST) {
    oa_batch_create(c, q, r);
    return 1;
  }
  if (rl > 8 && memcmp(rest, "batches/", 8) == 0) {
    const char *id = rest + 8;
    size_t il = rl - 8;
    int is_cancel = ends(id, il, "/cancel");
    if (is_cancel) il -= 7;
    bjob *j = find_job(c, id, il);
    if (!j || !j->openai) oa_err(r, 404, "No batch found with that id.");
    else if (is_cancel && q->method == MPOST) {
      cancel(c, j);
      oa_batch_json(c, j, r);
    } else if (q->method == MGET) oa_batch_json(c, j, r);
    else oa_err(r, 405, "Method not allowed.");
    return 1;
  }
  return 0;
}
