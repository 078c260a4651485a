/* A C program as a mobile app would embed lowrank: linked fully statically
 * (liblowrank.a, a static Highway, static libc), no oneDNN. On every target
 * the CPU supports it runs exact attention, Nystrom (segment-mean
 * landmarks) and FAVOR+ decoding of a small head, checks exact attention
 * against a naive double computation, and prints one line per target and
 * "static_demo: ok" at the end (exit status 0) if every check held. A test
 * runs it under qemu on NEON and on SVE and reads that output.
 *
 *   cmake --preset arm64-static && cmake --build --preset arm64-static
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lowrank/lowrank.h"

enum { N = 96, D = 16 };

static float q[N * D], k[N * D], v[N * D], out[N * D], dec[N * D];

/* Naive softmax(q k^T / sqrt(D)) v in double for row i; largest error. */
static double ExactError(const float* o) {
  double worst = 0.0;
  for (int i = 0; i < N; ++i) {
    double w[N], mx = -1e300, sum = 0.0;
    for (int j = 0; j < N; ++j) {
      double s = 0.0;
      for (int c = 0; c < D; ++c) s += (double)q[i * D + c] * k[j * D + c];
      w[j] = s / sqrt((double)D);
      if (w[j] > mx) mx = w[j];
    }
    for (int j = 0; j < N; ++j) sum += (w[j] = exp(w[j] - mx));
    for (int c = 0; c < D; ++c) {
      double r = 0.0;
      for (int j = 0; j < N; ++j) r += w[j] / sum * v[j * D + c];
      const double e = fabs(r - o[i * D + c]);
      if (e > worst) worst = e;
    }
  }
  return worst;
}

static int Run(const lowrank_options_t* opt, float* o) {
  lowrank_tensor_desc_t t;
  lowrank_plan_t plan = NULL;
  if (lowrank_tensor_desc_init_bhsd(&t, 1, 1, N, D) != LOWRANK_OK ||
      lowrank_plan_create(opt, &t, &t, &t, &t, &plan) != LOWRANK_OK ||
      lowrank_plan_execute(plan, q, k, v, NULL, o) != LOWRANK_OK) {
    fprintf(stderr, "static_demo: %s\n", lowrank_last_error());
    lowrank_plan_destroy(plan);
    return 0;
  }
  lowrank_plan_destroy(plan);
  return 1;
}

/* FAVOR+ causal by decoding token by token into dec; 1 on success. */
static int Decode(void) {
  lowrank_options_t opt;
  lowrank_tensor_desc_t t, one;
  lowrank_plan_t plan = NULL;
  lowrank_decode_state_t st = NULL;
  int ok = lowrank_options_init(&opt) == LOWRANK_OK;
  opt.method = LOWRANK_METHOD_FEATURE_MAP;
  opt.features = 32;
  opt.causal = 1;
  opt.seed = 7;
  ok = ok && lowrank_tensor_desc_init_bhsd(&t, 1, 1, N, D) == LOWRANK_OK &&
       lowrank_tensor_desc_init_bhsd(&one, 1, 1, 1, D) == LOWRANK_OK &&
       lowrank_plan_create(&opt, &t, &t, &t, &t, &plan) == LOWRANK_OK &&
       lowrank_decode_create(plan, &st) == LOWRANK_OK;
  for (int i = 0; ok && i < N; ++i) {
    ok = lowrank_decode_append(st, k + i * D, &one, v + i * D, &one) == LOWRANK_OK &&
         lowrank_decode_query(st, q + i * D, &one, dec + i * D, &one) == LOWRANK_OK;
  }
  if (ok) ok = lowrank_plan_execute(plan, q, k, v, NULL, out) == LOWRANK_OK;
  if (!ok) fprintf(stderr, "static_demo: %s\n", lowrank_last_error());
  lowrank_decode_destroy(st);
  lowrank_plan_destroy(plan);
  return ok;
}

int main(void) {
  for (int i = 0; i < N * D; ++i) {
    q[i] = (float)sin(0.37 * i) * 0.9f;
    k[i] = (float)cos(0.53 * i) * 0.9f;
    v[i] = (float)sin(1.7 * i + 0.3);
  }
  const uint32_t supported = lowrank_isa_supported();
  int failures = 0, targets = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const lowrank_isa_t isa = (lowrank_isa_t)(1u << bit);
    if (!(supported & isa) || lowrank_isa_force(isa) != LOWRANK_OK) continue;
    ++targets;
    lowrank_options_t opt;
    lowrank_options_init(&opt);
    opt.num_threads = 2;
    if (!Run(&opt, out)) return 1;
    const double exact_err = ExactError(out);
    static float exact[N * D];
    memcpy(exact, out, sizeof(out));
    opt.method = LOWRANK_METHOD_NYSTROM;
    opt.landmarks = 16;
    if (!Run(&opt, out)) return 1;
    double diff = 0.0, norm = 0.0;
    for (int i = 0; i < N * D; ++i) {
      diff += (out[i] - exact[i]) * (double)(out[i] - exact[i]);
      norm += (double)exact[i] * exact[i];
    }
    if (!Decode()) return 1;
    double dec_diff = 0.0;
    for (int i = 0; i < N * D; ++i) {
      const double e = fabs(dec[i] - out[i]);
      if (e > dec_diff) dec_diff = e;
    }
    /* Exact: float against double over 96 keys, far below 1e-5; decoding
     * and the causal plan compute the same sums: 1e-5 likewise. */
    const int ok = exact_err < 1e-5 && dec_diff < 1e-5 && sqrt(diff / norm) < 1.0;
    printf("%-9s exact err %.2e  nystrom(16) rel err %.3f  decode-vs-causal %.2e  %s\n",
           lowrank_isa_name(isa), exact_err, sqrt(diff / norm), dec_diff, ok ? "ok" : "FAILED");
    failures += !ok;
  }
  lowrank_isa_force(LOWRANK_ISA_AUTO);
  if (targets == 0 || failures) {
    printf("static_demo: FAILED\n");
    return 1;
  }
  printf("static_demo: ok\n");
  return 0;
}
