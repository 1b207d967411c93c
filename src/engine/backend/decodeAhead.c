// Part of the addon shim (addonShim.c): the next token decoded while the last one travels.
//
// node-llama-cpp 3.21.1 generates a token in two addon workers: sampleToken, whose result goes to
// the main thread's JavaScript, which then asks decodeBatch to decode that token. On a GPU the
// device idles from the end of one token's graph until the next is queued: the result's trip
// through libuv, node-llama-cpp's JavaScript, ours, and the trip back. On the H200 that was 0.3-0.4
// ms of a 1.4 ms CUDA token, where llama-bench, looping in C++, takes 1.04 (README, issue 19).
//
// So, where the engine asks for it (ASK_CODEBASE_ADDON_SHIM_AHEAD=on, with the whole model on a
// GPU), the moment the addon has sampled a token greedily from a one-token decode, the shim itself
// queues that token's decode on the GPU, at the next position of the same sequence, before the
// token is handed back. When the addon's own decode arrives and is exactly that one (token,
// position, sequence, logits wanted), it is already done. Anything else comes first (a different
// batch, an erase, a state save, a read of the outputs) and the decode ahead is removed from the
// end of the KV cache, the exact erase WiM itself relies on, before it goes on; a read of the
// outputs also gets them back by decoding the last token again. So what the addon sees, and the
// tokens it samples, never change: only when the GPU works. A decode ahead left over (a
// generation's last token, which nobody decodes) costs the GPU one token's time.
//
// Only after a decode with one output, so that its sample is the only one reading it:
// node-llama-cpp samples a batch's outputs in parallel, but never while the context decodes. Its
// memory and state calls may come from other threads meanwhile (another sequence's erase), so they
// run under the lock a decode ahead is made under. Never for an end-of-generation token, nor past
// the context's end.
// ASK_CODEBASE_ADDON_SHIM_TRACE=1 reports the counts, taken and removed, at each removal;
// =timeline reports, for every decode and output read of the addon's, when it began and how long
// it took (bench:prefill-parts: where a GPU waits between the addon's calls).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "addonShim.h"

double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int timeline_on(void) {
  const char *t = getenv("ASK_CODEBASE_ADDON_SHIM_TRACE");
  return t && strcmp(t, "timeline") == 0;
}

// A decode's return is its CPU side (its graph, inputs, and the wait for the graph before); a
// read's includes the wait for every graph queued before it.
void timeline(const char *what, int32_t tokens, int32_t outputs, double began) {
  fprintf(stderr, "ask-codebase addon shim timeline: %.3f %s %d %d %.3f\n", began, what, tokens, outputs, now_ms() - began);
}

// The contexts the addon has decoded on. A process has a handful: a small table, under the lock.
#define MAX_AHEAD 64
static struct ahead {
  ctx_t *ctx;
  mem_t mem;
  struct caller *addon;
  int on;              // asked for
  batch_t batch;       // the shim's own one-token batch
  int last;            // the addon's last decode was one token of one sequence with its logits:
  int32_t last_token, last_pos, last_seq;
  int pending;         // `token` decoded at last_pos + 1, not yet asked for
  int32_t token;
  int stale;           // the outputs are a removed decode ahead's, not the last one's
} aheads[MAX_AHEAD];
static pthread_mutex_t ahead_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long taken, removed, restored;

typedef int32_t (*decode_fn)(ctx_t *, batch_t);
typedef _Bool (*seq_rm_fn)(mem_t, int32_t, int32_t, int32_t);

static struct ahead *by_ctx(ctx_t *ctx) {
  for (int i = 0; i < MAX_AHEAD; i++)
    if (aheads[i].ctx == ctx) return &aheads[i];
  return NULL;
}

static struct ahead *by_mem(mem_t mem) {
  for (int i = 0; i < MAX_AHEAD; i++)
    if (aheads[i].ctx && aheads[i].mem == mem) return &aheads[i];
  return NULL;
}

// Made at a context's first decode, when the engine has settled whether it wants decoding ahead.
static struct ahead *made(struct caller *addon, ctx_t *ctx) {
  struct ahead *a = by_ctx(ctx);
  if (a) return a;
  a = by_ctx(NULL);
  if (!a) return NULL;
  const char *asked = getenv("ASK_CODEBASE_ADDON_SHIM_AHEAD");
  int on = asked && strcmp(asked, "on") == 0;
  *a = (struct ahead){ .ctx = ctx, .addon = addon, .on = on, .mem = ((mem_t(*)(ctx_t *))real(addon, GET_MEMORY))(ctx) };
  if (on) a->batch = ((batch_t(*)(int32_t, int32_t, int32_t))real(addon, BATCH_INIT))(1, 0, 1);
  return a;
}

static int32_t decode_one(struct ahead *a, int32_t token, int32_t pos) {
  a->batch.n_tokens = 1;
  a->batch.token[0] = token, a->batch.pos[0] = pos;
  a->batch.n_seq_id[0] = 1, a->batch.seq_id[0][0] = a->last_seq;
  a->batch.logits[0] = 1;
  return ((decode_fn)real(a->addon, DECODE))(a->ctx, a->batch);
}

static void trace(void) {
  if (getenv("ASK_CODEBASE_ADDON_SHIM_TRACE"))
    fprintf(stderr, "ask-codebase addon shim: decoded ahead and taken %lu, removed %lu, outputs restored %lu\n", taken, removed, restored);
}

// A decode ahead that was not asked for leaves the KV cache as it was before it.
static void remove_pending(struct ahead *a) {
  if (!a || !a->pending) return;
  ((seq_rm_fn)real(a->addon, MEMORY_SEQ_RM))(a->mem, a->last_seq, a->last_pos + 1, -1);
  a->pending = 0, a->stale = 1;
  removed++;
  trace();
}

void ahead_before_read(ctx_t *ctx) {
  pthread_mutex_lock(&ahead_lock);
  struct ahead *a = by_ctx(ctx);
  remove_pending(a);
  if (a && a->stale) {
    a->stale = 0;
    // The outputs are read again after a decode ahead replaced them (node-llama-cpp 3.21.1 never
    // does: each sample follows its own decode). Decode the last token again, where it still ends
    // its sequence, so they are its own.
    int32_t (*pos_max)(mem_t, int32_t) = (int32_t(*)(mem_t, int32_t))real(a->addon, MEMORY_SEQ_POS_MAX);
    if (a->last && pos_max(a->mem, a->last_seq) == a->last_pos) {
      ((seq_rm_fn)real(a->addon, MEMORY_SEQ_RM))(a->mem, a->last_seq, a->last_pos, -1);
      if (decode_one(a, a->last_token, a->last_pos) == 0) restored++;
      trace();
    }
  }
  pthread_mutex_unlock(&ahead_lock);
}

void ahead_sampled(struct caller *addon, ctx_t *ctx, int32_t idx, const token_data_array *cur) {
  if (cur->selected < 0 || (size_t)cur->selected >= cur->size) return;
  int32_t token = cur->data[cur->selected].id;
  pthread_mutex_lock(&ahead_lock);
  struct ahead *a = by_ctx(ctx);
  if (a && a->on && a->last && !a->pending && !a->stale && (idx == 0 || idx == -1) &&
      (uint32_t)a->last_pos + 1 < ((uint32_t(*)(ctx_t *))real(addon, N_CTX))(ctx)) {
    void *model = ((void *(*)(ctx_t *))real(addon, GET_MODEL))(ctx);
    void *vocab = ((void *(*)(void *))real(addon, MODEL_GET_VOCAB))(model);
    if (!((_Bool(*)(void *, int32_t))real(addon, VOCAB_IS_EOG))(vocab, token)) {
      // A failed decode leaves nothing pending; the addon's own decode will meet the same failure.
      if (decode_one(a, token, a->last_pos + 1) == 0) a->pending = 1, a->token = token;
      else a->stale = 1;
    }
  }
  pthread_mutex_unlock(&ahead_lock);
}

void ahead_forget(ctx_t *ctx) {
  pthread_mutex_lock(&ahead_lock);
  struct ahead *a = by_ctx(ctx);
  if (a) {
    if (a->on) ((void (*)(batch_t))real(a->addon, BATCH_FREE))(a->batch);
    *a = (struct ahead){ 0 };
  }
  pthread_mutex_unlock(&ahead_lock);
}

static int one_token(const batch_t *b) {
  return b->n_tokens == 1 && b->token && !b->embd && b->pos && b->n_seq_id && b->n_seq_id[0] == 1 && b->seq_id && b->logits && b->logits[0];
}

int32_t llama_decode(ctx_t *ctx, batch_t batch) {
  struct caller *from = caller_of(__builtin_return_address(0));
  decode_fn decode = (decode_fn)real(from, DECODE);
  if (!from || !from->addon) return decode(ctx, batch);
  pthread_mutex_lock(&ahead_lock);
  struct ahead *a = made(from, ctx);
  // A share asked for since the last decode (sharedCells.c) is carried out here, on the thread
  // that decodes, after a decode ahead it would change is removed.
  if (a && shares_pending(a->mem)) {
    remove_pending(a);
    shares_apply(a->mem);
  }
  if (a && a->pending) {
    if (one_token(&batch) && batch.token[0] == a->token && batch.pos[0] == a->last_pos + 1 && batch.seq_id[0][0] == a->last_seq) {
      a->pending = 0, a->last_token = a->token, a->last_pos++;
      taken++;
      pthread_mutex_unlock(&ahead_lock);
      // The addon's decode all the same, found done: it returns at once.
      if (timeline_on()) timeline("decode", 1, 1, now_ms());
      return 0;
    }
    remove_pending(a);
  }
  pthread_mutex_unlock(&ahead_lock);
  const double began = timeline_on() ? now_ms() : 0;
  int32_t r = decode(ctx, batch);
  if (began) {
    int32_t outputs = 0;
    for (int32_t i = 0; batch.logits && i < batch.n_tokens; i++) outputs += batch.logits[i] != 0;
    timeline("decode", batch.n_tokens, outputs, began);
  }
  if (a && a->on) {
    pthread_mutex_lock(&ahead_lock);
    a->stale = 0;
    a->last = r == 0 && one_token(&batch);
    if (a->last) a->last_token = batch.token[0], a->last_pos = batch.pos[0], a->last_seq = batch.seq_id[0][0];
    pthread_mutex_unlock(&ahead_lock);
  }
  return r;
}

// Every other call of the addon's that reads or changes a context's outputs, memory or state
// settles a decode ahead first. Reads of the outputs also get them back.
#define CALLED_FROM_ADDON (from && from->addon)

float *llama_get_logits(ctx_t *ctx) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (CALLED_FROM_ADDON) ahead_before_read(ctx);
  return ((float *(*)(ctx_t *))real(from, LOGITS))(ctx);
}

float *llama_get_logits_ith(ctx_t *ctx, int32_t i) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (CALLED_FROM_ADDON) ahead_before_read(ctx);
  const double began = CALLED_FROM_ADDON && timeline_on() ? now_ms() : 0;
  float *logits = ((float *(*)(ctx_t *, int32_t))real(from, LOGITS_ITH))(ctx, i);
  if (began) timeline("read", 1, 1, began);
  return logits;
}

float *llama_get_embeddings_ith(ctx_t *ctx, int32_t i) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (CALLED_FROM_ADDON) ahead_before_read(ctx);
  return ((float *(*)(ctx_t *, int32_t))real(from, EMBEDDINGS_ITH))(ctx, i);
}

float *llama_get_embeddings_seq(ctx_t *ctx, int32_t seq) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (CALLED_FROM_ADDON) ahead_before_read(ctx);
  return ((float *(*)(ctx_t *, int32_t))real(from, EMBEDDINGS_SEQ))(ctx, seq);
}

float *llama_get_sampled_probs_ith(ctx_t *ctx, int32_t i) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (CALLED_FROM_ADDON) ahead_before_read(ctx);
  return ((float *(*)(ctx_t *, int32_t))real(from, SAMPLED_PROBS))(ctx, i);
}

// Settles a decode ahead, and holds the lock until `release`, so that the call that follows never
// runs beside one being made. Returns whether it holds it.
static int settle_mem(struct caller *from, mem_t mem) {
  if (!CALLED_FROM_ADDON) return 0;
  pthread_mutex_lock(&ahead_lock);
  remove_pending(by_mem(mem));
  shares_apply(mem);
  return 1;
}

static int settle_ctx(struct caller *from, ctx_t *ctx) {
  if (!CALLED_FROM_ADDON) return 0;
  pthread_mutex_lock(&ahead_lock);
  struct ahead *a = by_ctx(ctx);
  remove_pending(a);
  if (a) shares_apply(a->mem);
  return 1;
}

static void release(int held) {
  if (held) pthread_mutex_unlock(&ahead_lock);
}

_Bool llama_memory_seq_rm(mem_t mem, int32_t seq, int32_t p0, int32_t p1) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_mem(from, mem);
  _Bool done = ((seq_rm_fn)real(from, MEMORY_SEQ_RM))(mem, seq, p0, p1);
  release(held);
  return done;
}

void llama_memory_seq_add(mem_t mem, int32_t seq, int32_t p0, int32_t p1, int32_t delta) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (CALLED_FROM_ADDON && delta == SHARE_DELTA && wants("share")) {
    share_request(mem, seq, p0, p1);
    return;
  }
  int held = settle_mem(from, mem);
  ((void (*)(mem_t, int32_t, int32_t, int32_t, int32_t))real(from, MEMORY_SEQ_ADD))(mem, seq, p0, p1, delta);
  release(held);
}

// The two position reads differ only in the function called; the caller is found in each, by its
// own return address.
static int32_t seq_pos(struct caller *from, int which, mem_t mem, int32_t seq) {
  if (CALLED_FROM_ADDON && seq == SHARE_PROBE) return wants("share") && share_ready(mem) ? SHARE_READY : -1;
  int held = settle_mem(from, mem);
  int32_t pos = ((int32_t(*)(mem_t, int32_t))real(from, which))(mem, seq);
  release(held);
  return pos;
}

int32_t llama_memory_seq_pos_min(mem_t mem, int32_t seq) {
  return seq_pos(caller_of(__builtin_return_address(0)), MEMORY_SEQ_POS_MIN, mem, seq);
}

int32_t llama_memory_seq_pos_max(mem_t mem, int32_t seq) {
  return seq_pos(caller_of(__builtin_return_address(0)), MEMORY_SEQ_POS_MAX, mem, seq);
}

size_t llama_state_get_size(ctx_t *ctx) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  size_t size = ((size_t(*)(ctx_t *))real(from, STATE_GET_SIZE))(ctx);
  release(held);
  return size;
}

size_t llama_state_seq_get_size_ext(ctx_t *ctx, int32_t seq, uint32_t flags) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  size_t size = ((size_t(*)(ctx_t *, int32_t, uint32_t))real(from, STATE_SEQ_GET_SIZE_EXT))(ctx, seq, flags);
  release(held);
  return size;
}

size_t llama_state_seq_get_data_ext(ctx_t *ctx, uint8_t *dst, size_t size, int32_t seq, uint32_t flags) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  size_t got = ((size_t(*)(ctx_t *, uint8_t *, size_t, int32_t, uint32_t))real(from, STATE_SEQ_GET_DATA_EXT))(ctx, dst, size, seq, flags);
  release(held);
  return got;
}

size_t llama_state_seq_set_data_ext(ctx_t *ctx, const uint8_t *src, size_t size, int32_t seq, uint32_t flags) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  size_t set = ((size_t(*)(ctx_t *, const uint8_t *, size_t, int32_t, uint32_t))real(from, STATE_SEQ_SET_DATA_EXT))(ctx, src, size, seq, flags);
  release(held);
  return set;
}

size_t llama_state_seq_save_file(ctx_t *ctx, const char *path, int32_t seq, const int32_t *tokens, size_t count) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  size_t saved = ((size_t(*)(ctx_t *, const char *, int32_t, const int32_t *, size_t))real(from, STATE_SEQ_SAVE_FILE))(ctx, path, seq, tokens, count);
  release(held);
  return saved;
}

size_t llama_state_seq_load_file(ctx_t *ctx, const char *path, int32_t seq, int32_t *tokens, size_t capacity, size_t *count) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  size_t loaded = ((size_t(*)(ctx_t *, const char *, int32_t, int32_t *, size_t, size_t *))real(from, STATE_SEQ_LOAD_FILE))(ctx, path, seq, tokens, capacity, count);
  release(held);
  return loaded;
}

int32_t llama_set_adapters_lora(ctx_t *ctx, void **adapters, size_t count, float *scales) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int held = settle_ctx(from, ctx);
  int32_t r = ((int32_t(*)(ctx_t *, void **, size_t, float *))real(from, SET_ADAPTERS_LORA))(ctx, adapters, count, scales);
  release(held);
  return r;
}
