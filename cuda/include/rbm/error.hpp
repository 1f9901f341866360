// The one exception family of rbm: every CUDA, cuBLAS and cuRAND status and every broken precondition
// becomes one of these, carrying the call text, file and line. The library never prints or exits.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace rbm {

// Base of everything rbm throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller broke a documented precondition (bad size, null pointer, mismatched shapes).
class precondition_error : public error {
 public:
  using error::error;
};

// A CUDA runtime call failed; `code()` is the cudaError_t value.
class cuda_error : public error {
 public:
  cuda_error(const std::string& what, int code) : error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// Device memory could not be allocated; says how much was asked for and how much was free.
class out_of_memory : public cuda_error {
 public:
  out_of_memory(const std::string& what, int code, std::size_t requested)
      : cuda_error(what, code), requested_(requested) {}
  std::size_t requested() const noexcept { return requested_; }

 private:
  std::size_t requested_;
};

// Host memory cannot hold what was asked for (a model or batch far beyond the machine's memory, or a
// failed allocation); says how many bytes it needed.
class host_out_of_memory : public error {
 public:
  host_out_of_memory(const std::string& what, std::size_t requested) : error(what), requested_(requested) {}
  std::size_t requested() const noexcept { return requested_; }

 private:
  std::size_t requested_;
};

class curand_error : public error {
 public:
  curand_error(const std::string& what, int status) : error(what), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

class cublas_error : public error {
 public:
  cublas_error(const std::string& what, int status) : error(what), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

namespace detail {
[[noreturn]] void throw_cuda(int code, const char* call, const char* file, int line);
[[noreturn]] void throw_curand(int status, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas(int status, const char* call, const char* file, int line);
[[noreturn]] void throw_precondition(const char* what, const char* file, int line);
}  // namespace detail

}  // namespace rbm

// Each macro evaluates the call once and throws the matching rbm exception when it did not succeed.
#define RBM_CUDA_CHECK(call)                                                    \
  do {                                                                          \
    const int rbm_status_ = static_cast<int>(call);                             \
    if (rbm_status_ != 0) ::rbm::detail::throw_cuda(rbm_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define RBM_CURAND_CHECK(call)                                                  \
  do {                                                                          \
    const int rbm_status_ = static_cast<int>(call);                             \
    if (rbm_status_ != 0) ::rbm::detail::throw_curand(rbm_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define RBM_CUBLAS_CHECK(call)                                                  \
  do {                                                                          \
    const int rbm_status_ = static_cast<int>(call);                             \
    if (rbm_status_ != 0) ::rbm::detail::throw_cublas(rbm_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define RBM_EXPECTS(cond)                                                       \
  do {                                                                          \
    if (!(cond)) ::rbm::detail::throw_precondition(#cond, __FILE__, __LINE__);  \
  } while (0)
