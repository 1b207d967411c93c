// Part of the addon shim (addonShim.c): a sequence that holds another's prefix by sharing its KV
// cells, for a warm question's margins on forks (core/wim/forkedMargins.ts).
//
// A warm question's margin k reads exactly segments 0..k of the codebase the reader holds. On the
// reader alone that means erasing from the end, margin by margin, and loading the state again.
// llama.cpp can instead mark a prefix's cells as belonging to a second sequence too
// (llama_memory_seq_cp on a unified KV cache: no copy, only the cells' sequence sets), so that
// margin k is written on that second sequence while the reader keeps the codebase, several such
// forks decoding side by side. node-llama-cpp 3.21.1 offers neither half: its contexts keep one KV
// stream per sequence (a copy between streams copies whole buffers and cannot be partial), and it
// has no call for a copy. So, where ASK_CODEBASE_ADDON_SHIM asks for "share":
//  - a context the addon makes for more than one sequence gets a unified KV cache (kv_unified),
//    of the cells the engine says it needs (node-llama-cpp would give every sequence a whole
//    context's, doubling the cache for a fork that holds a few hundred tokens of its own);
//  - the addon's shiftSequenceTokenCells(src, dst, end, SHARE_DELTA) (a shift by INT32_MIN, which
//    no caller makes) asks for dst to hold src's cells at positions [0, end) instead of its own;
//    with src == dst, for dst to drop its cells from end on (a fork erasing its margin).
//    The JavaScript that asks may run while a decode runs on the addon's worker thread, so the
//    request is kept and carried out where the addon next touches that memory: the next decode, or
//    an erase, position read or state call (decodeAhead.c's settle points), all of which
//    node-llama-cpp serialises with decodes. (node-llama-cpp's own erase would wait for its
//    context lock, which its batch loop holds for as long as any sequence keeps queueing: a fork's
//    erase would wait for every other fork's margin.)
//  - getSequenceKvCacheMaxPosition(SHARE_PROBE) answers SHARE_READY for a context that shares, so
//    the engine uses forks only where this works (llamaEngine.ts).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "addonShim.h"

// llama_context_params as llama.h declares it at the llama.cpp commit node-llama-cpp 3.21.1 builds
// (its v0.4.0 binaries; the field names, types and order are llama.h's). Passed by value, so the
// layout must match: test/engine/forkedMargins.test.ts fails if the unified cache does not take.
struct context_params {
  uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
  int32_t n_threads, n_threads_batch;
  int ctx_type, rope_scaling_type, pooling_type, attention_type, flash_attn_type;
  float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
  uint32_t yarn_orig_ctx;
  float defrag_thold;
  void *cb_eval, *cb_eval_user_data;
  int type_k, type_v;
  void *abort_callback, *abort_callback_data;
  _Bool embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
  void *samplers;
  size_t n_samplers;
  ctx_t *ctx_other;
};

// Contexts made with a unified cache for several sequences, and their pending shares.
#define MAX_SHARING 64
#define MAX_PENDING 16
static struct sharing {
  ctx_t *ctx;
  mem_t mem;
  struct caller *addon;
  int pending;
  struct { int32_t src, dst, end; } requests[MAX_PENDING];
} sharing[MAX_SHARING];
static pthread_mutex_t sharing_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long shares_done;

ctx_t *llama_init_from_model(void *model, struct context_params params) {
  struct caller *from = caller_of(__builtin_return_address(0));
  ctx_t *(*init)(void *, struct context_params) = (ctx_t * (*)(void *, struct context_params)) real(from, INIT_FROM_MODEL);
  const int share = from && from->addon && params.n_seq_max > 1 && wants("share");
  if (share) {
    params.kv_unified = 1;
    // The cells the engine asks for: a reader's context and its forks' own tokens, not a whole
    // context per sequence as node-llama-cpp sizes it (ASK_CODEBASE_SHARED_CELLS, set around the
    // context's creation by llamaEngine.ts).
    const char *cells = getenv("ASK_CODEBASE_SHARED_CELLS");
    long wanted = cells ? strtol(cells, NULL, 10) : 0;
    if (wanted > 0 && wanted < (long)params.n_ctx) params.n_ctx = (uint32_t)((wanted + 255) / 256 * 256);
  }
  ctx_t *ctx = init(model, params);
  // Unified, every sequence may use the whole context: a check that the field was the right one.
  if (!ctx || !share || ((uint32_t(*)(ctx_t *))real(from, N_CTX_SEQ))(ctx) != ((uint32_t(*)(ctx_t *))real(from, N_CTX))(ctx)) return ctx;
  pthread_mutex_lock(&sharing_lock);
  for (int i = 0; i < MAX_SHARING; i++)
    if (!sharing[i].ctx) {
      sharing[i] = (struct sharing){ .ctx = ctx, .mem = ((mem_t(*)(ctx_t *))real(from, GET_MEMORY))(ctx), .addon = from };
      break;
    }
  pthread_mutex_unlock(&sharing_lock);
  return ctx;
}

static struct sharing *sharing_of_mem(mem_t mem) {
  for (int i = 0; i < MAX_SHARING; i++)
    if (sharing[i].ctx && sharing[i].mem == mem) return &sharing[i];
  return NULL;
}

void share_request(mem_t mem, int32_t src, int32_t dst, int32_t end) {
  pthread_mutex_lock(&sharing_lock);
  struct sharing *s = sharing_of_mem(mem);
  int kept = s && s->pending < MAX_PENDING && src >= 0 && dst >= 0 && end >= 0;
  if (kept) s->requests[s->pending].src = src, s->requests[s->pending].dst = dst, s->requests[s->pending].end = end, s->pending++;
  pthread_mutex_unlock(&sharing_lock);
  if (!kept) fprintf(stderr, "ask-codebase addon shim: a share of sequence %d into %d was refused (no unified cache, or too many pending)\n", src, dst);
}

int share_ready(mem_t mem) {
  pthread_mutex_lock(&sharing_lock);
  int ready = sharing_of_mem(mem) != NULL;
  pthread_mutex_unlock(&sharing_lock);
  return ready;
}

int shares_pending(mem_t mem) {
  pthread_mutex_lock(&sharing_lock);
  struct sharing *s = sharing_of_mem(mem);
  int pending = s && s->pending;
  pthread_mutex_unlock(&sharing_lock);
  return pending;
}

void shares_apply(mem_t mem) {
  pthread_mutex_lock(&sharing_lock);
  struct sharing *s = mem ? sharing_of_mem(mem) : NULL;
  for (int i = 0; s && i < s->pending; i++) {
    const int32_t src = s->requests[i].src, dst = s->requests[i].dst, end = s->requests[i].end;
    // From itself: a fork erasing its own tail. Otherwise its own cells go first: it holds the
    // source's prefix and nothing else.
    ((_Bool(*)(mem_t, int32_t, int32_t, int32_t))real(s->addon, MEMORY_SEQ_RM))(mem, dst, src == dst ? end : -1, -1);
    if (src != dst) ((void (*)(mem_t, int32_t, int32_t, int32_t, int32_t))real(s->addon, MEMORY_SEQ_CP))(mem, src, dst, 0, end), shares_done++;
  }
  if (s && s->pending && getenv("ASK_CODEBASE_ADDON_SHIM_TRACE")) fprintf(stderr, "ask-codebase addon shim: shared prefixes %lu\n", shares_done);
  if (s) s->pending = 0;
  pthread_mutex_unlock(&sharing_lock);
}

void shares_forget(ctx_t *ctx) {
  pthread_mutex_lock(&sharing_lock);
  for (int i = 0; i < MAX_SHARING; i++)
    if (sharing[i].ctx == ctx) sharing[i] = (struct sharing){ 0 };
  pthread_mutex_unlock(&sharing_lock);
}
