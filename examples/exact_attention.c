/* Minimal C consumer of lowrank: exact attention over a [B, N, H, D] layout
 * (the output of a fused QKV projection) without copies, checked against a
 * naive computation. Exit status 0 on success.
 *
 *   cc exact_attention.c -llowrank -lm -o exact_attention
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lowrank/lowrank.h"

enum { B = 2, N = 50, H = 3, D = 16 };

static float Input(int i) { return (float)sin(0.37 * i) * 0.8f; }

int main(void) {
  static float qkv[3][B * N * H * D];
  static float out[B * N * H * D];
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < B * N * H * D; ++i) qkv[t][i] = Input(i * 3 + t);

  lowrank_tensor_desc_t desc;
  lowrank_options_t options;
  lowrank_plan_t plan = NULL;
  if (lowrank_tensor_desc_init_bshd(&desc, B, N, H, D) != LOWRANK_OK ||
      lowrank_options_init(&options) != LOWRANK_OK) {
    fprintf(stderr, "setup failed: %s\n", lowrank_last_error());
    return 1;
  }
  options.causal = 1;
  lowrank_status_t st = lowrank_plan_create(&options, &desc, &desc, &desc, &desc, &plan);
  if (st != LOWRANK_OK) {
    fprintf(stderr, "%s: %s\n", lowrank_status_name(st), lowrank_last_error());
    return 1;
  }
  st = lowrank_plan_execute(plan, qkv[0], qkv[1], qkv[2], NULL, out);
  lowrank_plan_destroy(plan);
  if (st != LOWRANK_OK) {
    fprintf(stderr, "%s: %s\n", lowrank_status_name(st), lowrank_last_error());
    return 1;
  }

  /* Naive check in double. */
  double worst = 0.0;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        double w[N], mx = -INFINITY, sum = 0.0;
        for (int j = 0; j <= i; ++j) {
          double s = 0.0;
          for (int c = 0; c < D; ++c)
            s += (double)qkv[0][((b * N + i) * H + h) * D + c] * qkv[1][((b * N + j) * H + h) * D + c];
          w[j] = s / sqrt((double)D);
          if (w[j] > mx) mx = w[j];
        }
        for (int j = 0; j <= i; ++j) sum += (w[j] = exp(w[j] - mx));
        for (int c = 0; c < D; ++c) {
          double o = 0.0;
          for (int j = 0; j <= i; ++j) o += w[j] / sum * qkv[2][((b * N + j) * H + h) * D + c];
          const double err = fabs(o - out[((b * N + i) * H + h) * D + c]);
          if (err > worst) worst = err;
        }
      }
  printf("lowrank %s on %s: causal attention over [B,N,H,D] = [%d,%d,%d,%d], max abs error %.2e\n",
         lowrank_version(), lowrank_isa_name(lowrank_isa_active()), B, N, H, D, worst);
  return worst < 1e-5 ? 0 : 1;
}
