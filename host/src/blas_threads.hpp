// OpenBLAS on one thread while a thread team's threads each call it (restored afterwards): their
// GEMMs then run side by side instead of queueing for OpenBLAS's own pool. Private to host/src.
#pragma once

#include <cblas.h>

namespace rbm::cpu {

class blas_single_threaded {
 public:
  explicit blas_single_threaded(bool on) : saved_(on ? openblas_get_num_threads() : 1) {
    if (saved_ > 1) openblas_set_num_threads(1);
  }
  ~blas_single_threaded() {
    if (saved_ > 1) openblas_set_num_threads(saved_);
  }
  blas_single_threaded(const blas_single_threaded&) = delete;
  blas_single_threaded& operator=(const blas_single_threaded&) = delete;

 private:
  int saved_;
};

}  // namespace rbm::cpu
