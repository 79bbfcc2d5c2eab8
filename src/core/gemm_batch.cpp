#include "mae/core/gemm_batch.h"

#include <dlfcn.h>

#include <limits>
#include <type_traits>

#include "mae/core/error.h"

namespace mae::core {
namespace {

// MKL's Fortran-style interface (LP64: 32-bit integers), column-major, every argument by pointer.
template <typename T>
using GemmBatchFn = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                             const T* alpha, const T** a, const int* lda, const T** b, const int* ldb, const T* beta,
                             T** c, const int* ldc, const int* group_count, const int* group_size);

struct Symbols {
  GemmBatchFn<float> sgemm = nullptr;
  GemmBatchFn<double> dgemm = nullptr;
};

const Symbols& symbols() {
  static const Symbols found = [] {
    Symbols s;
    s.sgemm = reinterpret_cast<GemmBatchFn<float>>(dlsym(RTLD_DEFAULT, "SGEMM_BATCH"));
    s.dgemm = reinterpret_cast<GemmBatchFn<double>>(dlsym(RTLD_DEFAULT, "DGEMM_BATCH"));
    if (!s.sgemm || !s.dgemm) s = Symbols{};
    return s;
  }();
  return found;
}

int to_int(int64_t v, const char* what) {
  MAE_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "gemm_batch: ", what, " = ", v, " does not fit MKL's 32-bit integers");
  return static_cast<int>(v);
}

template <typename T>
GemmBatchFn<T> function() {
  if constexpr (std::is_same_v<T, float>) return symbols().sgemm;
  else return symbols().dgemm;
}

}  // namespace

bool gemm_batch_available() { return symbols().sgemm != nullptr; }

template <typename T>
void gemm_batch(const GemmBatch<T>& g) {
  MAE_CHECK(gemm_batch_available(), "gemm_batch: this PyTorch build exports no MKL ?gemm_batch; use the ATen path");
  MAE_CHECK(g.a.size() == g.c.size() && g.b.size() == g.c.size(), "gemm_batch: ", g.a.size(), ", ", g.b.size(), " and ",
            g.c.size(), " pointers for A, B and C");
  if (g.c.empty()) return;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands and m, n.
  const char ta = g.trans_b ? 'T' : 'N', tb = g.trans_a ? 'T' : 'N';
  const int m = to_int(g.n, "n"), n = to_int(g.m, "m"), k = to_int(g.k, "k");
  const int lda = to_int(g.ldb, "ldb"), ldb = to_int(g.lda, "lda"), ldc = to_int(g.ldc, "ldc");
  const int groups = 1, size = to_int(static_cast<int64_t>(g.c.size()), "batch size");
  auto** a = const_cast<const T**>(g.b.data());
  auto** b = const_cast<const T**>(g.a.data());
  auto** c = const_cast<T**>(g.c.data());
  function<T>()(&ta, &tb, &m, &n, &k, &g.alpha, a, &lda, b, &ldb, &g.beta, c, &ldc, &groups, &size);
}

template void gemm_batch<float>(const GemmBatch<float>&);
template void gemm_batch<double>(const GemmBatch<double>&);

}  // namespace mae::core
