// A test's instrument, preloaded beside the engine: counts the threads ggml's CPU backend starts in
// a process and writes the running count to $COUNT_GGML_THREADS.<pid>. Without a lasting thread
// pool ggml starts (and joins) a worker for every graph it computes; with one, only the pool's.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int started;

int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
  static int (*next)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
  if (!next) next = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT, "pthread_create");
  Dl_info where;
  const char *file = getenv("COUNT_GGML_THREADS");
  if (file && dladdr((void *)start, &where) && where.dli_fname && strstr(where.dli_fname, "libggml-cpu")) {
    int n = atomic_fetch_add(&started, 1) + 1;
    char path[4096];
    snprintf(path, sizeof path, "%s.%d", file, (int)getpid());
    FILE *out = fopen(path, "w");
    if (out) {
      fprintf(out, "%d\n", n);
      fclose(out);
    }
  }
  return next(thread, attr, start, arg);
}
