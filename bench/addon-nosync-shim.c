// An experiment, never shipped: LD_PRELOAD=nosync.so makes node-llama-cpp's prebuilt addon skip
// the llama_synchronize() it calls after every decode (AddonContext.cpp, the decode worker), the
// call the project's CUDA build removes from source (src/engine/backend/addonPatch.ts). The Vulkan
// prebuilt cannot be rebuilt without the Vulkan SDK, so this measures what the same change would
// give there. Only the addon's call is skipped: llama.cpp's own internal calls reach the real one.
//   gcc -shared -fPIC -O2 -o nosync.so bench/addon-nosync-shim.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

typedef void (*sync_fn)(void *);

void llama_synchronize(void *ctx) {
  Dl_info caller;
  if (dladdr(__builtin_return_address(0), &caller) && caller.dli_fname && strstr(caller.dli_fname, "llama-addon.node")) return;
  static sync_fn real;
  if (!real) real = (sync_fn)dlsym(RTLD_NEXT, "llama_synchronize");
  real(ctx);
}
