// Philox4x32-10 and the random numbers tilejit makes from it: the one
// implementation, shared by the reference evaluator (ir/philox.h includes
// this file) and by both kernel dialects (embedded into the C++ and CUDA
// preambles after jit/codegen/kernel_common.h). Written in the subset of C
// that both compilers take: no includes, fixed-width integer types and
// double sqrt/log/cos from the including context, every function `TJ_FN`.
//
// Element i of a random tensor is a pure function of (seed, offset + i), so
// every backend, any tiling and any fusion produce the same stream.

// Philox4x32-10 of the 128-bit counter (counter, 0) under the 64-bit key `seed`.
TJ_FN void tj_philox(uint64_t counter, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// Uniform in [0, 1) with as many random bits as the output dtype's mantissa
// holds, so the value never rounds up to 1 when stored in that dtype.
TJ_FN float tj_rand_uniform_f32(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  return (float)(int32_t)(o[0] >> 8) * 0x1p-24f;
}
TJ_FN float tj_rand_uniform_f16(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  return (float)(int32_t)(o[0] >> 21) * 0x1p-11f;
}
TJ_FN float tj_rand_uniform_bf16(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  return (float)(int32_t)(o[0] >> 24) * 0x1p-8f;
}
TJ_FN double tj_rand_uniform_f64(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  uint64_t bits = ((uint64_t)o[0] << 21) ^ (o[1] >> 11);
  return (double)(int64_t)(bits & ((1ull << 53) - 1)) * 0x1p-53;
}
// Standard normal by Box-Muller in double from the first two words.
TJ_FN double tj_rand_normal(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  double u1 = ((double)o[0] + 1.0) * 0x1p-32;  // (0, 1]
  double u2 = (double)o[1] * 0x1p-32;          // [0, 1)
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
