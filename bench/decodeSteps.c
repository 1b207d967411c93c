// A benchmark's instrument, never shipped: preloaded beside the addon shim by bench/decode-steps.sh,
// it adds to the shim's timeline (ASK_CODEBASE_ADDON_SHIM_TRACE=timeline) the steps inside each
// llama_decode, so that bench/shimTimeline.ts can say where a decode's time goes when the GPU was
// idle as it began (WiM's stop after a read) and when it was busy (reading on):
//   reset    libllama starts building a graph (ggml_backend_sched_reset): before it, the batch and
//            the KV cache's slot
//   alloc    the graph allocated (ggml_backend_sched_alloc_graph): before it, the graph built
//   compute  ggml_backend_sched_graph_compute_async, queued; before it, libllama set the inputs
//            (the KQ mask: a row per token over every cell read). Inside it, counted and timed:
//   wait     ggml_backend_synchronize, the wait for the graph before (a split's user inputs are
//            copied only after it)
//   upload   ggml_backend_tensor_copy, the inputs copied to the GPU
// and the rest of compute_async is the graph's kernels queued (on the H200's CUDA build, about 8 ms
// for a 2,048-token batch: ggml-cuda replays a captured CUDA graph only when the shapes repeat, and
// a prefill batch's grow with the cells read).
// Only libllama's calls into ggml go through its PLT for certain; ggml's calls to its own
// functions (wait, upload) do when it was built without -Bsymbolic, as node-llama-cpp's are. A
// step that never shows was not seen, not free.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int on(void) {
  static int known = -1;
  if (known < 0) {
    const char *t = getenv("ASK_CODEBASE_ADDON_SHIM_TRACE");
    known = t && strcmp(t, "timeline") == 0;
  }
  return known;
}

// The same line as the shim's, so that one log holds both: began, step, two counts, ms.
static void line(const char *what, long a, long b, double began, double ms) {
  fprintf(stderr, "ask-codebase addon shim timeline: %.3f %s %ld %ld %.3f\n", began, what, a, b, ms);
}

// The real function for a call from the code at `from`: node-llama-cpp loads its libraries with
// RTLD_LOCAL, so RTLD_NEXT may not see them; the caller's own handle searches its dependencies.
// A benchmark loads one build, so the first lookup of each symbol stands.
static void *resolve(void **slot, const char *symbol, void *from) {
  void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (fn) return fn;
  Dl_info info;
  if (dladdr(from, &info) && info.dli_fname) {
    void *handle = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
    if (handle) fn = dlsym(handle, symbol);
  }
  Dl_info mine, found;
  if (!fn || (dladdr(fn, &found) && dladdr((void *)resolve, &mine) && found.dli_fbase == mine.dli_fbase)) fn = dlsym(RTLD_NEXT, symbol);
  if (!fn) {
    fprintf(stderr, "decode steps: %s not found\n", symbol);
    abort();
  }
  __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
  return fn;
}
#define REAL(type, symbol) ((type)resolve(&real_##symbol, #symbol, __builtin_return_address(0)))

static void *real_ggml_backend_sched_reset, *real_ggml_backend_sched_alloc_graph, *real_ggml_backend_sched_graph_compute_async,
    *real_ggml_backend_synchronize, *real_ggml_backend_tensor_copy, *real_ggml_nbytes;

// What a compute_async did, on the thread that runs it.
static __thread struct {
  int inside;
  long waits, uploads;
  double wait_ms, upload_ms;
  size_t upload_bytes;
} step;

void ggml_backend_sched_reset(void *sched) {
  const double began = on() ? now_ms() : 0;
  REAL(void (*)(void *), ggml_backend_sched_reset)(sched);
  if (began) line("reset", 0, 0, began, now_ms() - began);
}

bool ggml_backend_sched_alloc_graph(void *sched, void *graph) {
  const double began = on() ? now_ms() : 0;
  bool r = REAL(bool (*)(void *, void *), ggml_backend_sched_alloc_graph)(sched, graph);
  if (began) line("alloc", 0, 0, began, now_ms() - began);
  return r;
}

int ggml_backend_sched_graph_compute_async(void *sched, void *graph) {
  if (!on()) return REAL(int (*)(void *, void *), ggml_backend_sched_graph_compute_async)(sched, graph);
  memset(&step, 0, sizeof step);
  step.inside = 1;
  const double began = now_ms();
  int r = REAL(int (*)(void *, void *), ggml_backend_sched_graph_compute_async)(sched, graph);
  const double ms = now_ms() - began;
  step.inside = 0;
  line("compute", 0, 0, began, ms);
  line("wait", step.waits, 0, began, step.wait_ms);
  line("upload", step.uploads, (long)(step.upload_bytes >> 10), began, step.upload_ms);
  return r;
}

void ggml_backend_synchronize(void *backend) {
  if (!step.inside) {
    REAL(void (*)(void *), ggml_backend_synchronize)(backend);
    return;
  }
  const double began = now_ms();
  REAL(void (*)(void *), ggml_backend_synchronize)(backend);
  step.waits++, step.wait_ms += now_ms() - began;
}

void ggml_backend_tensor_copy(void *src, void *dst) {
  if (!step.inside) {
    REAL(void (*)(void *, void *), ggml_backend_tensor_copy)(src, dst);
    return;
  }
  const double began = now_ms();
  REAL(void (*)(void *, void *), ggml_backend_tensor_copy)(src, dst);
  step.uploads++, step.upload_ms += now_ms() - began;
  step.upload_bytes += REAL(size_t (*)(const void *), ggml_nbytes)(src);
}
