// Inputs of a method test case (Nystrom, feature maps): the shape, and the
// tensors in BHSD or BSHD layout with per-batch key lengths. The output is
// pre-filled with -7, a value no method produces by accident, so a test can
// tell which entries a call wrote.
#ifndef LOWRANK_TESTS_METHOD_DATA_H_
#define LOWRANK_TESTS_METHOD_DATA_H_

#include <cstdint>
#include <vector>

#include "lowrank/lowrank.hpp"

namespace lowrank_test {

struct MethodShape {
  int64_t batch = 1, q_heads = 1, kv_heads = 1, q_len = 40, kv_len = 40, d = 8, d_v = 8;
  bool bshd = false;  // BSHD instead of BHSD
};

struct MethodTensors {
  lowrank::TensorDesc qd, kd, vd, od;
  std::vector<float> q, k, v, o;
  std::vector<int32_t> lengths;  // filled by the test
};

// Descriptors for the shape, Q, K and V sized (zero), O sized and set to -7.
inline void AllocateMethodTensors(const MethodShape& c, MethodTensors* x) {
  auto desc = [&](int64_t h, int64_t s, int64_t dim) {
    return c.bshd ? lowrank::TensorDesc::BSHD(c.batch, s, h, dim)
                  : lowrank::TensorDesc::BHSD(c.batch, h, s, dim);
  };
  x->qd = desc(c.q_heads, c.q_len, c.d);
  x->kd = desc(c.kv_heads, c.kv_len, c.d);
  x->vd = desc(c.kv_heads, c.kv_len, c.d_v);
  x->od = desc(c.q_heads, c.q_len, c.d_v);
  x->q.assign(static_cast<size_t>(c.batch * c.q_heads * c.q_len * c.d), 0.0f);
  x->k.assign(static_cast<size_t>(c.batch * c.kv_heads * c.kv_len * c.d), 0.0f);
  x->v.assign(static_cast<size_t>(c.batch * c.kv_heads * c.kv_len * c.d_v), 0.0f);
  x->o.assign(static_cast<size_t>(c.batch * c.q_heads * c.q_len * c.d_v), -7.0f);
}

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_METHOD_DATA_H_
