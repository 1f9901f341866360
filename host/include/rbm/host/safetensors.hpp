// Models as safetensors files: W [nv, nh], vb [nv], hb [nh] as F32 plus string metadata, readable by
// Python's safetensors and PyTorch. Writes are atomic (temporary file, fsync, rename).
#pragma once

#include <cstdint>
#include <map>
#include <vector>
#include <string>
#include <utility>

#include "rbm/host/backend.hpp"
#include "rbm/host/idx.hpp"  // data_error

namespace rbm {

struct saved_model {
  model_params params;
  std::map<std::string, std::string> metadata;
};


// A stack's file (a deep belief network) where a single RBM's was expected: load_model throws it, so
// that a program can say what takes stacks instead.
class stack_file_error : public data_error {
 public:
  using data_error::data_error;
};

// Throws data_error naming the file and the problem (truncated, bad header, missing or mis-shaped tensor).
// The unit kinds come from the metadata `visible_units` / `hidden_units` ("bernoulli" when absent, as
// in files written before Gaussian units); Gaussian visible units need a positive `sigma` [nv].
// A stack's file (metadata `layers`: rbm/host/stack.hpp) is refused, saying so.
saved_model load_model(const std::string& path);

// Any safetensors file of F32 tensors: name -> (shape, values), plus the metadata.
struct tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};
struct tensor_file {
  std::map<std::string, tensor> tensors;
  std::map<std::string, std::string> metadata;
};
// Throws data_error naming the file and the problem; non-finite values are refused, and so is data
// whose CRC-32 differs from the `rbm_crc32` metadata entry that write_tensors records.
tensor_file read_tensors(const std::string& path);
// The same on the bytes of a file called `name` in messages; what the fuzzer drives.
tensor_file parse_tensors(const std::string& name, const std::vector<std::uint8_t>& bytes);
// load_model's checks and reading on tensors already read; `path` names them in errors.
saved_model model_from_tensors(const std::string& path, tensor_file f);

// The picture shape (rows, cols) of a model's visible units: its metadata's image_rows x image_cols
// where those are positive integers whose product is nv (metadata lies outside the CRC: anything else
// is ignored), else a square. precondition_error when nv is not a square and no shape is recorded.
std::pair<int, int> picture_shape(const saved_model& m);
// Whether a model (or stack) file's metadata says it was trained on binarised pixels (its config's
// "binarize": true), so that every tool reads pictures as training did. False where nothing is recorded.
bool trained_binarized(const std::map<std::string, std::string>& metadata);
// Writes F32 tensors and metadata atomically.
void write_tensors(const std::string& path, const tensor_file& f);

// Throws data_error naming the file when it cannot be written; an existing file is replaced only
// once the new one is complete. `extra` tensors (e.g. data_mean / data_std of a standardised model)
// are written beside the model's.
void save_model(const std::string& path, const model_params& p, const std::map<std::string, std::string>& meta,
                const std::map<std::string, tensor>& extra = {});

// Adds the model's unit kinds to the metadata and, for Gaussian visible units, its `sigma` [nv] tensor.
void add_unit_tensors(tensor_file& f, const model_params& p);

// Writes `content` to `path` atomically: a temporary file beside it, flushed to disk, then renamed.
void write_file_atomic(const std::string& path, const std::string& content);
// Whether a file name is one of write_file_atomic's temporaries (".<name>.tmp.<pid>", any pid): what a
// process killed mid-write leaves behind.
bool is_atomic_temporary(const std::string& filename);

}  // namespace rbm
