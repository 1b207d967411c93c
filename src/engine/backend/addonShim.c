// Preloaded into the engine's process on Linux (LD_PRELOAD, src/shared/addonShim.ts): three
// changes to how node-llama-cpp 3.21.1's prebuilt addon drives llama.cpp, which its JavaScript API
// cannot make and its binaries cannot be rebuilt for on most machines (Vulkan needs its SDK).
//  - A lasting CPU thread pool for each context, as llama-server, llama-cli and llama-bench attach
//    one (llama.cpp's common.cpp). The addon attaches none, so ggml creates and joins a throwaway
//    pool for every graph: on a 2-core CPU that made each decoded token 1.3-1.5x llama-bench's.
//    (Off by default on more than 4 cores, where it was not shown to help: shared/addonShim.ts.)
//  - No llama_synchronize() after each decode (AddonContext.cpp's decode worker): on a GPU it made
//    the CPU wait for every batch before queueing the next, and halved Vulkan's prefill. Whatever
//    reads a result (logits, state) synchronizes inside llama.cpp first. The CUDA build from source
//    removes the same call (addonPatch.ts).
//  - Greedy sampling reads one candidate, not the vocabulary (AddonSampler.cpp): the addon copies
//    every token's logit into a candidate array for each sampled token, whatever its sampler; with
//    a real vocabulary (Qwen2.5's 151,936 tokens) that was 0.34 ms of a 2.6 ms token on the H200.
//    Where the last sampler applied on a context was greedy alone, the addon is handed the argmax
//    as if llama.cpp had sampled it on the backend (the llama_get_sampled_* results it already
//    reads); a sampler that is not greedy alone gets the whole vocabulary back before it runs.
// Only calls made by llama-addon.node change; llama.cpp's own calls reach the real functions. The
// real functions are looked up through the calling addon's own dependencies, so two builds in one
// process (a GPU build that failed, then the CPU one) each reach their own libllama.
// ASK_CODEBASE_ADDON_SHIM lists the changes to make (pool, nosync, greedy, share, comma-separated;
// "on" or unset: all but share, which is asked for by name: sharedCells.c); =off is handled by
// shared/addonShim.ts (not preloaded). ASK_CODEBASE_ADDON_SHIM_TRACE=1 reports each pool, and the
// greedy samples' counts at each widening, on stderr (=timeline: when each decode and output read
// began and how long it took, decodeAhead.c). Decoding the next token ahead is decodeAhead.c's,
// and is asked for on its own.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addonShim.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define SHIM_NAME(id, symbol) #symbol,
static const char *const names[FUNCTIONS] = { SHIM_FUNCTIONS(SHIM_NAME) };

// The objects calls came from, each opened once by its path: dlsym on its handle searches that
// object and its own dependencies, never this preloaded one, so it reaches the real function.
static struct caller callers[32];
// Call sites already seen, by return address: dladdr scans an object's symbols (19 us on libllama
// here), too slow for every decoded token. Room for every site that calls what the shim intercepts.
#define SITES 256
static struct site {
  void *address;
  struct caller *caller;
} sites[SITES];
static pthread_mutex_t callers_lock = PTHREAD_MUTEX_INITIALIZER;

struct caller *caller_of(void *return_address) {
  struct caller *found = NULL;
  pthread_mutex_lock(&callers_lock);
  for (int i = 0; i < SITES && sites[i].address && !found; i++)
    if (sites[i].address == return_address) found = sites[i].caller;
  Dl_info info;
  if (!found && dladdr(return_address, &info) && info.dli_fname && info.dli_fbase) {
    for (int i = 0; i < 32 && !found; i++) {
      if (callers[i].base == info.dli_fbase) found = &callers[i];
      else if (!callers[i].base) {
        const char *name = strrchr(info.dli_fname, '/');
        callers[i] = (struct caller){ info.dli_fbase, dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY),
                                      name && strcmp(name + 1, "llama-addon.node") == 0, { 0 } };
        found = &callers[i];
      }
    }
    for (int i = 0; i < SITES && found; i++)
      if (!sites[i].address) {
        sites[i] = (struct site){ return_address, found };
        break;
      }
  }
  pthread_mutex_unlock(&callers_lock);
  return found;
}

void *real(struct caller *from, int which) {
  void *known = from ? __atomic_load_n(&from->functions[which], __ATOMIC_ACQUIRE) : NULL;
  if (known) return known;
  const char *symbol = names[which];
  void *fn = from && from->handle ? dlsym(from->handle, symbol) : NULL;
  // The main program's handle searches the global scope, this library first: there, and for a
  // caller with no handle, the next definition after this one is the real one.
  Dl_info mine, found;
  if (!fn || (dladdr(fn, &found) && dladdr((void *)real, &mine) && found.dli_fbase == mine.dli_fbase)) fn = dlsym(RTLD_NEXT, symbol);
  if (!fn) {
    // Nothing can stand in for llama.cpp's function: stop rather than skip it.
    fprintf(stderr, "ask-codebase addon shim: %s not found for its caller\n", symbol);
    abort();
  }
  // A pointer-sized store of the same value by whichever thread gets here: no lock needed.
  if (from) __atomic_store_n(&from->functions[which], fn, __ATOMIC_RELEASE);
  return fn;
}

int wants(const char *change) {
  const char *only = getenv("ASK_CODEBASE_ADDON_SHIM");
  // Shared cells change how the addon's contexts are made: only where they are named.
  if (!only || !*only || strcmp(only, "on") == 0) return strcmp(change, "share") != 0;
  size_t n = strlen(change);
  for (const char *p = only; (p = strstr(p, change)); p += n)
    if ((p == only || p[-1] == ',') && (p[n] == ',' || !p[n])) return 1;
  return 0;
}

// Contexts the addon has made, with their pools. A process has a handful (the engine's one or two,
// a probe's): a small table, searched under the lock.
#define MAX_CONTEXTS 256
static struct entry {
  ctx_t *ctx;
  struct caller *addon;
  void *pool, *pool_batch;
  int32_t threads, threads_batch;
} table[MAX_CONTEXTS];

static struct entry *find(ctx_t *ctx, int make) {
  struct entry *free_slot = NULL;
  for (int i = 0; i < MAX_CONTEXTS; i++) {
    if (table[i].ctx == ctx) return &table[i];
    if (!table[i].ctx && !free_slot) free_slot = &table[i];
  }
  if (make && free_slot) free_slot->ctx = ctx;
  return make ? free_slot : NULL;
}

// A function of the CPU backend's (a library ggml loads itself): through its registry.
static void *cpu_function(struct caller *addon, const char *symbol) {
  void *cpu = ((void *(*)(int))real(addon, DEV_BY_TYPE))(0 /* GGML_BACKEND_DEVICE_TYPE_CPU */);
  if (!cpu) return NULL;
  void *reg = ((void *(*)(void *))real(addon, DEV_BACKEND_REG))(cpu);
  return ((void *(*)(void *, const char *))real(addon, REG_GET_PROC_ADDRESS))(reg, symbol);
}

static void *new_pool(struct caller *addon, int32_t threads) {
  void *(*make)(void *) = cpu_function(addon, "ggml_threadpool_new");
  if (!make) return NULL;
  // ggml_threadpool_params: a cpumask of GGML_MAX_N_THREADS (512) bools and a few ints; filled by
  // ggml's own init, so only its size matters, and this is several times it.
  _Alignas(16) unsigned char params[4096];
  ((void (*)(void *, int))real(addon, THREADPOOL_PARAMS_INIT))(params, threads);
  // Workers that sleep between graphs instead of spinning (ggml's default polls): spinning workers
  // took the cores from the addon's own threads between tokens, and GPU decoding went from 2.0 to
  // 3.8 ms a token on the H200. The level sits after cpumask[512], n_threads and prio; it is set
  // only where n_threads is found where that layout puts it.
  const char *poll = getenv("ASK_CODEBASE_ADDON_SHIM_POLL");
  uint32_t level = poll && *poll ? (uint32_t)atoi(poll) : 0;
  int32_t found_threads;
  memcpy(&found_threads, params + 512, sizeof found_threads);
  if (found_threads == threads) memcpy(params + 512 + 2 * sizeof(int32_t), &level, sizeof level);
  if (getenv("ASK_CODEBASE_ADDON_SHIM_TRACE"))
    fprintf(stderr, "ask-codebase addon shim: a thread pool of %d, polling %s\n", threads, found_threads == threads ? (level ? "on" : "off") : "as ggml's default");
  return make(params);
}

// Once nothing computes on an entry's pools (they were replaced, or their context is freed).
static void free_pools(struct entry *e) {
  void (*release)(void *) = e->pool ? cpu_function(e->addon, "ggml_threadpool_free") : NULL;
  if (!release) return;
  if (e->pool_batch && e->pool_batch != e->pool) release(e->pool_batch);
  release(e->pool);
}

// Called only while the context computes nothing (after a decode, or as the addon sets its threads
// before one): a pool is swapped only then.
static void ensure_pools(struct caller *addon, ctx_t *ctx) {
  if (!wants("pool")) return;
  int32_t threads = ((int32_t(*)(ctx_t *))real(addon, N_THREADS))(ctx);
  int32_t threads_batch = ((int32_t(*)(ctx_t *))real(addon, N_THREADS_BATCH))(ctx);
  pthread_mutex_lock(&lock);
  struct entry *e = find(ctx, 1);
  if (e && !(e->pool && e->threads == threads && e->threads_batch == threads_batch)) {
    void *pool = new_pool(addon, threads);
    void *pool_batch = threads_batch == threads ? pool : new_pool(addon, threads_batch);
    if (pool && pool_batch) {
      ((void (*)(ctx_t *, void *, void *))real(addon, ATTACH_THREADPOOL))(ctx, pool, pool_batch);
      free_pools(e);
      *e = (struct entry){ ctx, addon, pool, pool_batch, threads, threads_batch };
      if (getenv("ASK_CODEBASE_ADDON_SHIM_TRACE"))
        fprintf(stderr, "ask-codebase addon shim: attached to a context (threads %d, batches %d)\n", threads, threads_batch);
    }
  }
  pthread_mutex_unlock(&lock);
}

// The context whose last sampler applied was greedy alone: its next sample is taken to be greedy.
static ctx_t *greedy_ctx;
// The sample the addon is reading on this thread (each runs on one worker thread, start to end).
// `fresh` until a sampler reads it: the next sampler applied is the first to see this sample.
static __thread struct { ctx_t *ctx; int32_t idx, token; float logit; int reduced, fresh; } pick;
static __thread token_data *whole;
static __thread size_t whole_size;
static unsigned long reduced_samples, widened_samples;

void llama_synchronize(ctx_t *ctx) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (from && from->addon) {
    ensure_pools(from, ctx);
    if (wants("nosync")) return;
  }
  ((void (*)(ctx_t *))real(from, SYNCHRONIZE))(ctx);
}

void llama_set_n_threads(ctx_t *ctx, int32_t threads, int32_t threads_batch) {
  struct caller *from = caller_of(__builtin_return_address(0));
  ((void (*)(ctx_t *, int32_t, int32_t))real(from, SET_N_THREADS))(ctx, threads, threads_batch);
  if (from && from->addon) ensure_pools(from, ctx);
}

void llama_free(ctx_t *ctx) {
  struct caller *from = caller_of(__builtin_return_address(0));
  ((void (*)(ctx_t *))real(from, FREE))(ctx);
  if (__atomic_load_n(&greedy_ctx, __ATOMIC_RELAXED) == ctx) __atomic_store_n(&greedy_ctx, NULL, __ATOMIC_RELAXED);
  if (from && from->addon) ahead_forget(ctx), shares_forget(ctx);
  pthread_mutex_lock(&lock);
  struct entry *e = find(ctx, 0);
  if (e) {
    // The context is gone, so nothing computes on its pools any more.
    free_pools(e);
    *e = (struct entry){ 0 };
  }
  pthread_mutex_unlock(&lock);
}

static int32_t vocabulary(struct caller *from, ctx_t *ctx) {
  void *model = ((void *(*)(ctx_t *))real(from, GET_MODEL))(ctx);
  void *vocab = ((void *(*)(void *))real(from, MODEL_GET_VOCAB))(model);
  return ((int32_t(*)(void *))real(from, VOCAB_N_TOKENS))(vocab);
}

float *llama_get_sampled_logits_ith(ctx_t *ctx, int32_t i) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (from && from->addon) ahead_before_read(ctx);
  const double began = from && from->addon && timeline_on() ? now_ms() : 0;
  float *sampled = ((float *(*)(ctx_t *, int32_t))real(from, SAMPLED_LOGITS))(ctx, i);
  if (began) timeline("read", 1, 1, began);
  if (!from || !from->addon) return sampled;
  pick.ctx = ctx, pick.idx = i, pick.reduced = 0, pick.fresh = 1;
  if (sampled || !wants("greedy") || __atomic_load_n(&greedy_ctx, __ATOMIC_RELAXED) != ctx) return sampled;
  const float *logits = ((float *(*)(ctx_t *, int32_t))real(from, LOGITS_ITH))(ctx, i);
  int32_t n = logits ? vocabulary(from, ctx) : 0;
  if (n <= 0) return sampled;
  // The token llama.cpp's greedy sampler picks from the whole array: the first highest logit.
  int32_t best = 0;
  for (int32_t t = 1; t < n; t++)
    if (logits[t] > logits[best]) best = t;
  pick.token = best, pick.logit = logits[best], pick.reduced = 1;
  return &pick.logit;
}

uint32_t llama_get_sampled_logits_count_ith(ctx_t *ctx, int32_t i) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (from && from->addon && pick.reduced && pick.ctx == ctx && pick.idx == i) return 1;
  return ((uint32_t(*)(ctx_t *, int32_t))real(from, SAMPLED_LOGITS_COUNT))(ctx, i);
}

int32_t *llama_get_sampled_candidates_ith(ctx_t *ctx, int32_t i) {
  struct caller *from = caller_of(__builtin_return_address(0));
  if (from && from->addon && pick.reduced && pick.ctx == ctx && pick.idx == i) return &pick.token;
  return ((int32_t *(*)(ctx_t *, int32_t))real(from, SAMPLED_CANDIDATES))(ctx, i);
}

static int greedy_alone(struct caller *from, void *sampler) {
  const char *(*name)(void *) = (const char *(*)(void *))real(from, SAMPLER_NAME);
  const char *own = name(sampler);
  if (!own || strcmp(own, "chain") != 0 || ((int (*)(void *))real(from, SAMPLER_CHAIN_N))(sampler) != 1) return 0;
  const char *first = name(((void *(*)(void *, int32_t))real(from, SAMPLER_CHAIN_GET))(sampler, 0));
  return first && strcmp(first, "greedy") == 0;
}

void llama_sampler_apply(void *sampler, token_data_array *cur) {
  struct caller *from = caller_of(__builtin_return_address(0));
  int sampled_greedy = 0;
  if (from && from->addon && pick.ctx) {
    int greedy = greedy_alone(from, sampler);
    sampled_greedy = greedy && pick.fresh;
    if (greedy) __atomic_store_n(&greedy_ctx, pick.ctx, __ATOMIC_RELAXED);
    else {
      ctx_t *was = pick.ctx;
      __atomic_compare_exchange_n(&greedy_ctx, &was, NULL, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    if (pick.reduced && greedy) __atomic_add_fetch(&reduced_samples, 1, __ATOMIC_RELAXED);
    if (pick.reduced && !greedy && cur->size == 1 && cur->data[0].id == pick.token) {
      // Taken for greedy, read by another sampler: it gets every token's logit, as without the shim.
      const float *logits = ((float *(*)(ctx_t *, int32_t))real(from, LOGITS_ITH))(pick.ctx, pick.idx);
      int32_t n = vocabulary(from, pick.ctx);
      if ((size_t)n > whole_size) {
        token_data *grown = realloc(whole, (size_t)n * sizeof *whole);
        if (!grown) abort();
        whole = grown, whole_size = (size_t)n;
      }
      for (int32_t t = 0; t < n; t++) whole[t] = (token_data){ t, logits[t], 0.0f };
      *cur = (token_data_array){ whole, (size_t)n, -1, 0 };
      unsigned long widened = __atomic_add_fetch(&widened_samples, 1, __ATOMIC_RELAXED);
      if (getenv("ASK_CODEBASE_ADDON_SHIM_TRACE"))
        fprintf(stderr, "ask-codebase addon shim: greedy samples read alone %lu, widened back %lu\n", __atomic_load_n(&reduced_samples, __ATOMIC_RELAXED), widened);
    }
    // One sampler reads the candidates as read: a second (a grammar's check) reads its own.
    pick.reduced = 0, pick.fresh = 0;
  }
  ((void (*)(void *, token_data_array *))real(from, SAMPLER_APPLY))(sampler, cur);
  if (sampled_greedy) ahead_sampled(from, pick.ctx, pick.idx, cur);
}
