/* Fuzzing target: the mock server's JSON reader (request bodies come from any client)
 * and its re-indenter, which runs over the JSON the mock itself builds. */
#include "mock.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks the tree the way the handlers do: every member, every string byte. */
static size_t walk(const jnode *n, int depth) {
  size_t count = 0;
  for (; n; n = n->next) {
    if (depth > 10000) abort();
    count++;
    if (n->key) {
      volatile char k = n->key[n->keylen]; /* keys are NUL-terminated too */
      (void)k;
    }
    if (n->type == JSTR && n->str[n->len] != '\0') abort();
    if (n->type == JARR || n->type == JOBJ) count += walk(n->child, depth + 1);
  }
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size ? size : 1);
  if (!s) return 0;
  memcpy(s, data, size);
  jnode *root;
  jdoc *d = json_parse(s, size, &root);
  if (root) {
    walk(root, 0);
    (void)json_get(root, "contents");
    (void)json_get2(root, "generationConfig", "generation_config");
    mbuf out;
    mb_init(&out);
    json_format(&out, s, size, 1);
    out.len = 0;
    json_format(&out, s, size, 0);
    mb_free(&out);
  }
  json_free(d);
  free(s);
  return 0;
}
