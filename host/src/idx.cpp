// IDX reader: gzip or raw, strict about magic numbers, dimensions and exact file length.
#include "rbm/host/idx.hpp"
#include "rbm/host/read_checks.hpp"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

namespace fs = std::filesystem;

namespace rbm {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw data_error(path + ": " + what);
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::vector<std::uint8_t> inflate_gzip(const std::string& path, const std::vector<std::uint8_t>& packed) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) fail(path, "cannot initialise zlib");
  std::vector<std::uint8_t> out;
  out.reserve(packed.size() * 4);
  zs.next_in = const_cast<Bytef*>(packed.data());
  zs.avail_in = static_cast<uInt>(packed.size());
  std::uint8_t chunk[1 << 16];
  int rc = Z_OK;
  for (;;) {
    if (rc == Z_STREAM_END) {  // a member ended: another member (gzip allows several), or the end
      if (zs.avail_in == 0) break;
      if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b) {
        const auto extra = zs.avail_in;
        inflateEnd(&zs);
        fail(path, std::to_string(extra) + " bytes of trailing data after the gzip stream");
      }
      inflateReset(&zs);
    }
    zs.next_out = chunk;
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      fail(path, "gzip stream is truncated (ends before its end marker)");
    }
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string msg = zs.msg ? zs.msg : "corrupt data";
      inflateEnd(&zs);
      fail(path, "gzip stream is corrupt (" + msg + ")");
    }
    out.insert(out.end(), chunk, chunk + (sizeof chunk - zs.avail_out));
    if (rc != Z_STREAM_END && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      fail(path, "gzip stream is truncated (ends before its end marker)");
    }
  }
  inflateEnd(&zs);
  return out;
}

// Reads the header of an IDX file; returns its dimensions after checking magic and exact length.
std::vector<std::uint32_t> idx_header(const std::string& path, const std::vector<std::uint8_t>& bytes,
                                      std::uint32_t magic, const char* kind) {
  if (bytes.size() < 4) fail(path, "too short to be an IDX file (" + std::to_string(bytes.size()) + " bytes)");
  const std::uint32_t got = be32(bytes.data());
  if (got != magic) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "wrong magic number 0x%08X, expected 0x%08X (%s)", got, magic, kind);
    fail(path, buf);
  }
  const std::size_t ndim = magic & 0xFF;
  if (bytes.size() < 4 + 4 * ndim) fail(path, "truncated IDX header");
  std::vector<std::uint32_t> dims(ndim);
  for (std::size_t i = 0; i < ndim; ++i) {
    dims[i] = be32(bytes.data() + 4 + 4 * i);
    if (dims[i] == 0 || dims[i] > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
      fail(path, "dimension " + std::to_string(i) + " is " + std::to_string(dims[i]) + ", must be positive");
  }
  // Each image's pixels are counted in an int; the whole payload is bounded by the bytes there are.
  if (ndim == 3) checked_product(path, "an image's pixel count", {dims[1], dims[2]}, std::uint64_t(std::numeric_limits<int>::max()));
  const std::uint64_t payload =
      checked_product(path, "the data the header describes", std::vector<std::uint64_t>(dims.begin(), dims.end()),
                      std::uint64_t(1) << 62);  // no wrap; more than the file holds is "truncated", below
  const std::uint64_t expected = 4 + 4 * ndim + payload;
  if (bytes.size() < expected)
    fail(path, "truncated: header promises " + std::to_string(expected) + " bytes, file has " +
                   std::to_string(bytes.size()));
  if (bytes.size() > expected)
    fail(path, "over-long: " + std::to_string(bytes.size() - expected) + " bytes after the " +
                   std::to_string(expected) + " that the header describes");
  return dims;
}

std::string first_existing(const std::string& dir, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    for (const char* ext : {"", ".gz"}) {
      const fs::path p = fs::path(dir) / (std::string(n) + ext);
      if (fs::exists(p)) return p.string();
    }
  }
  return {};
}

// `x-images-idx3-ubyte[.gz]` -> `x-labels-idx1-ubyte[.gz]` when that file exists.
std::string labels_beside(const std::string& images) {
  const auto pos = images.rfind("images-idx3-ubyte");
  if (pos == std::string::npos) return {};
  std::string base = images.substr(0, pos) + "labels-idx1-ubyte";
  for (const char* ext : {"", ".gz"}) {
    if (fs::exists(base + ext)) return base + ext;
  }
  return {};
}

}  // namespace

std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file");
  if (fs::is_directory(path, ec)) fail(path, "is a directory, expected a file");
  return maybe_gunzip(path, read_regular_file(path));
}

std::vector<std::uint8_t> maybe_gunzip(const std::string& name, std::vector<std::uint8_t> bytes) {
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return inflate_gzip(name, bytes);
  return bytes;
}

image_set read_idx_images(const std::string& path) { return parse_idx_images(path, read_maybe_gzip(path)); }

image_set parse_idx_images(const std::string& path, std::vector<std::uint8_t> raw) {
  const auto bytes = maybe_gunzip(path, std::move(raw));
  const auto dims = idx_header(path, bytes, 0x00000803u, "uint8 images with 3 dimensions");
  image_set s;
  s.count = static_cast<int>(dims[0]);
  s.rows = static_cast<int>(dims[1]);
  s.cols = static_cast<int>(dims[2]);
  s.source = path;
  s.pixels.assign(bytes.begin() + 16, bytes.end());
  return s;
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  const auto bytes = read_maybe_gzip(path);
  idx_header(path, bytes, 0x00000801u, "uint8 labels with 1 dimension");
  return {bytes.begin() + 8, bytes.end()};
}

image_set read_idx(const std::string& images_path, const std::string& labels_path) {
  image_set s = read_idx_images(images_path);
  if (!labels_path.empty()) {
    s.labels = read_idx_labels(labels_path);
    if (s.labels.size() != static_cast<std::size_t>(s.count))
      fail(labels_path, "has " + std::to_string(s.labels.size()) + " labels but " + images_path + " has " +
                            std::to_string(s.count) + " images");
  }
  return s;
}

void truncate(image_set& s, int n) {
  if (n <= 0 || n >= s.count) return;
  s.count = n;
  if (!s.pixels.empty()) s.pixels.resize(static_cast<std::size_t>(n) * s.dim());
  if (!s.values.empty()) s.values.resize(static_cast<std::size_t>(n) * s.dim());
  if (!s.labels.empty()) s.labels.resize(n);
}

void binarize_pixels(image_set& s) {
  for (auto& x : s.pixels) x = binary_pixel(x);
}

dataset binarized(dataset d) {
  binarize_pixels(d.train);
  binarize_pixels(d.test);
  return d;
}

image_set split_tail(image_set& s, int n) {
  RBM_EXPECTS(n > 0 && n < s.count && s.device_values == nullptr);
  const int keep = s.count - n;
  const std::size_t dim = std::size_t(s.dim()), at = std::size_t(keep) * dim;
  image_set t;
  t.count = n;
  t.rows = s.rows;
  t.cols = s.cols;
  t.source = s.source;
  if (!s.pixels.empty()) t.pixels.assign(s.pixels.begin() + at, s.pixels.end());
  if (!s.values.empty()) t.values.assign(s.values.begin() + at, s.values.end());
  if (s.borrowed != nullptr) t.borrowed = s.borrowed + at;
  if (!s.labels.empty()) t.labels.assign(s.labels.begin() + keep, s.labels.end());
  truncate(s, keep);
  return t;
}

dataset load_dataset_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, "no such data directory");
  const std::string train = first_existing(dir, {"train-images-idx3-ubyte", "train-10k-images-idx3-ubyte"});
  if (train.empty())
    fail(dir, "holds no train-images-idx3-ubyte[.gz] (or train-10k-images-idx3-ubyte[.gz])");
  const std::string test = first_existing(dir, {"t10k-images-idx3-ubyte"});
  dataset d = load_dataset_files(train, test);
  d.name = dir;
  return d;
}

dataset load_dataset_files(const std::string& train_images, const std::string& test_images) {
  dataset d;
  d.train = read_idx(train_images, labels_beside(train_images));
  if (!test_images.empty()) {
    d.test = read_idx(test_images, labels_beside(test_images));
    if (d.test.rows != d.train.rows || d.test.cols != d.train.cols)
      fail(test_images, "images are " + std::to_string(d.test.rows) + "x" + std::to_string(d.test.cols) +
                            " but the training images are " + std::to_string(d.train.rows) + "x" +
                            std::to_string(d.train.cols));
  }
  d.name = train_images;
  return d;
}

}  // namespace rbm
