// The .npy reader (NumPy's format: magic "\x93NUMPY", version, a little-endian header length, a
// Python-literal dict header, then the raw array).
#include "rbm/host/npy.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <limits>

namespace rbm {
namespace {

// The value of `key` in the header dict, as its literal text ("'<f4'", "False", "(100, 784)").
std::string header_value(const std::string& name, const std::string& header, const std::string& key) {
  const std::string quoted = "'" + key + "'";
  const auto at = header.find(quoted);
  if (at == std::string::npos) throw data_error(name + ": not a valid .npy file (no '" + key + "' in its header)");
  auto p = header.find(':', at + quoted.size());
  if (p == std::string::npos) throw data_error(name + ": not a valid .npy file (malformed header)");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  std::size_t end = p;
  if (p < header.size() && header[p] == '(') {
    end = header.find(')', p);
    if (end == std::string::npos) throw data_error(name + ": not a valid .npy file (malformed shape)");
    ++end;
  } else if (p < header.size() && header[p] == '\'') {
    end = header.find('\'', p + 1);
    if (end == std::string::npos) throw data_error(name + ": not a valid .npy file (malformed header)");
    ++end;
  } else {
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  }
  return header.substr(p, end - p);
}

std::vector<std::int64_t> parse_shape(const std::string& name, const std::string& text) {
  std::vector<std::int64_t> shape;
  std::size_t p = 1;  // after '('
  while (p < text.size()) {
    while (p < text.size() && (text[p] == ' ' || text[p] == ',')) ++p;
    if (p >= text.size() || text[p] == ')') break;
    std::int64_t v = 0;
    std::size_t digits = 0;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10)
        throw data_error(name + ": the shape " + text + " is too large");
      v = v * 10 + (text[p] - '0');
      ++p, ++digits;
    }
    if (digits == 0) throw data_error(name + ": not a valid .npy file (malformed shape " + text + ")");
    shape.push_back(v);
  }
  return shape;
}

}  // namespace

namespace {
// A little-endian integer of `width` bytes at p, signed or not, as a double.
double integer_at(const std::uint8_t* p, std::size_t width, bool is_signed) {
  std::uint64_t bits = 0;
  for (std::size_t b = 0; b < width; ++b) bits |= std::uint64_t(p[b]) << (8 * b);
  if (!is_signed) return double(bits);
  const int shift = int(64 - 8 * width);
  return double(std::int64_t(bits << shift) >> shift);  // sign-extended
}
// An integer held in a double, written without a conversion back to an integer type (undefined
// beyond int64's range, which a uint64 or a rounded int64 reaches).
std::string whole_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", v);
  return text;
}
}  // namespace

namespace {
// parse_npy_matrix, a 1-D array [N] read as a column [N, 1] where `vector_ok`.
npy_matrix parse_npy(const std::string& name, const std::uint8_t* bytes, std::size_t size, bool vector_ok) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(bytes, magic, 6) != 0)
    throw data_error(name + ": not a .npy file (no \\x93NUMPY magic)");
  const int major = bytes[6];
  if (major < 1 || major > 3)
    throw data_error(name + ": unsupported .npy format version " + std::to_string(major) + "." + std::to_string(bytes[7]));
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = std::size_t(bytes[8]) | std::size_t(bytes[9]) << 8;
    start = 10;
  } else {
    if (size < 12) throw data_error(name + ": truncated .npy header");
    header_len = std::size_t(bytes[8]) | std::size_t(bytes[9]) << 8 | std::size_t(bytes[10]) << 16 |
                 std::size_t(bytes[11]) << 24;
    start = 12;
  }
  if (size < start + header_len) throw data_error(name + ": truncated .npy header");
  const std::string header(bytes + std::ptrdiff_t(start), bytes + std::ptrdiff_t(start + header_len));
  npy_matrix m;
  const std::string descr = header_value(name, header, "descr");
  m.dtype = descr.size() >= 2 ? descr.substr(1, descr.size() - 2) : descr;
  std::size_t width = 0;
  bool integer = false, is_signed = false;  // integer dtypes: categorical states (or any values)
  if (m.dtype == "<f4") width = 4;
  else if (m.dtype == "<f8") width = 8;
  else if (m.dtype == "|u1" || m.dtype == "<u1") width = 1, integer = true;
  else if (m.dtype == "|i1" || m.dtype == "<i1") width = 1, integer = is_signed = true;
  else if (m.dtype == "<i2") width = 2, integer = is_signed = true;
  else if (m.dtype == "<i4") width = 4, integer = is_signed = true;
  else if (m.dtype == "<i8") width = 8, integer = is_signed = true;
  else
    throw data_error(name + ": unsupported dtype '" + m.dtype +
                     "' (float32 '<f4', float64 '<f8', uint8 '|u1' and int8/16/32/64 are read; convert with "
                     "numpy.astype)");
  if (header_value(name, header, "fortran_order") != "False")
    throw data_error(name + ": the array is in Fortran order; save it in C order (numpy.ascontiguousarray)");
  auto shape = parse_shape(name, header_value(name, header, "shape"));
  if (vector_ok && shape.size() == 1) shape.push_back(1);
  if (shape.size() != 2)
    throw data_error(name + (vector_ok ? ": expected a vector of labels [samples], got " : ": expected a 2-D array [samples, features], got ") + std::to_string(shape.size()) +
                     " dimension(s)");
  if (shape[0] <= 0 || shape[1] <= 0) throw data_error(name + ": the array is empty");
  if (shape[0] > std::numeric_limits<int>::max() || shape[1] > std::numeric_limits<int>::max() ||
      double(shape[0]) * double(shape[1]) * double(width) > double(size))
    throw data_error(name + ": truncated data: the header says " + std::to_string(shape[0]) + " x " +
                     std::to_string(shape[1]) + " values of " + std::to_string(width) + " bytes, the file holds " +
                     std::to_string(size - start - header_len) + " bytes of data");
  m.rows = int(shape[0]);
  m.cols = int(shape[1]);
  const std::size_t n = std::size_t(m.rows) * std::size_t(m.cols), data = start + header_len;
  if (size - data != n * width)
    throw data_error(name + ": " + (size - data < n * width ? "truncated data" : "trailing bytes") +
                     ": the header says " + std::to_string(m.rows) + " x " + std::to_string(m.cols) + " values of " +
                     std::to_string(width) + " bytes, the file holds " + std::to_string(size - data) +
                     " bytes of data");
  m.values.resize(n);
  const std::uint8_t* src = bytes + data;
  for (std::size_t i = 0; i < n; ++i) {
    double v = 0;
    if (integer) {
      v = integer_at(src + width * i, width, is_signed);
    } else if (width == 4) {
      float f;
      std::memcpy(&f, src + 4 * i, 4);
      v = f;
    } else {
      std::memcpy(&v, src + 8 * i, 8);
    }
    if (!std::isfinite(v))
      throw data_error(name + ": row " + std::to_string(i / m.cols) + " (column " + std::to_string(i % m.cols) +
                       ") holds " + (std::isnan(v) ? "NaN" : "an infinity") + "; every value must be finite");
    if (integer && std::fabs(v) > 16777216.0)  // 2^24: beyond it float32 holds integers inexactly
      throw data_error(name + ": row " + std::to_string(i / m.cols) + " holds " + whole_number(v) +
                       ", beyond the integers float32 holds exactly (2^24)");
    if (width == 8 && std::fabs(v) > double(std::numeric_limits<float>::max()))
      throw data_error(name + ": row " + std::to_string(i / m.cols) + " holds " + std::to_string(v) +
                       ", beyond float32's range");
    m.values[i] = float(v);
  }
  return m;
}
}  // namespace

npy_matrix parse_npy_matrix(const std::string& name, const std::uint8_t* bytes, std::size_t size) {
  return parse_npy(name, bytes, size, false);
}

npy_matrix parse_npy_matrix(const std::string& name, const std::vector<std::uint8_t>& bytes) {
  return parse_npy_matrix(name, bytes.data(), bytes.size());
}

namespace {

// The file mapped read-only: its bytes are converted straight into the float32 matrix, with no copy
// of the file in memory beside it (what a read into a buffer would cost: as much again as float32 data).
class mapped_file {
 public:
  explicit mapped_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw data_error(path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw data_error(path + ": not a regular file");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        throw data_error(path + ": cannot map (" + std::strerror(e) + ")");
      }
      data_ = static_cast<const std::uint8_t*>(p);
      ::madvise(p, size_, MADV_SEQUENTIAL);
    }
    ::close(fd);  // the mapping stays valid
  }
  ~mapped_file() {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

npy_matrix read_npy_matrix(const std::string& path) {
  const mapped_file f(path);
  static const std::uint8_t none = 0;
  return parse_npy_matrix(path, f.data() != nullptr ? f.data() : &none, f.size());
}

std::vector<std::uint8_t> parse_npy_labels(const std::string& name, const std::uint8_t* bytes, std::size_t size) {
  const npy_matrix m = parse_npy(name, bytes, size, true);
  if (m.cols != 1)
    throw data_error(name + ": expected a vector of labels [samples] (or a column [samples, 1]), got " +
                     std::to_string(m.rows) + " x " + std::to_string(m.cols));
  std::vector<std::uint8_t> labels(std::size_t(m.rows));
  for (int r = 0; r < m.rows; ++r) {
    const float y = m.values[std::size_t(r)];
    if (!(y >= 0 && y <= float(max_label) && y == float(int(y)))) {
      char text[32];
      std::snprintf(text, sizeof text, "%.9g", double(y));
      throw data_error(name + ": row " + std::to_string(r) + " holds " + text +
                       ", not a class label in [0, " + std::to_string(max_label) + "]");
    }
    labels[std::size_t(r)] = std::uint8_t(y);
  }
  return labels;
}

std::vector<std::uint8_t> read_npy_labels(const std::string& path) {
  const mapped_file f(path);
  static const std::uint8_t none = 0;
  return parse_npy_labels(path, f.data() != nullptr ? f.data() : &none, f.size());
}

void attach_labels(image_set& set, const std::string& path) {
  std::vector<std::uint8_t> labels = read_npy_labels(path);
  if (labels.size() != std::size_t(set.count))
    throw data_error(path + ": " + std::to_string(labels.size()) + " labels for the " + std::to_string(set.count) +
                     " samples of " + set.source);
  set.labels = std::move(labels);
}

namespace {
image_set npy_set(const std::string& path, int image_rows, int image_cols) {
  npy_matrix m = read_npy_matrix(path);
  image_set set;
  set.count = m.rows;
  set.values = std::move(m.values);
  set.source = path;
  if (image_rows > 0 || image_cols > 0) {
    if (std::int64_t(image_rows) * image_cols != m.cols)
      throw data_error(path + ": samples have " + std::to_string(m.cols) + " features, not " +
                       std::to_string(image_rows) + " x " + std::to_string(image_cols) + " as the picture shape says");
    set.rows = image_rows;
    set.cols = image_cols;
  } else {
    set.rows = 1;
    set.cols = m.cols;
  }
  return set;
}
}  // namespace

dataset load_npy_dataset(const std::string& train_path, const std::string& test_path, int image_rows, int image_cols) {
  dataset d;
  d.train = npy_set(train_path, image_rows, image_cols);
  d.name = train_path;
  if (!test_path.empty()) {
    d.test = npy_set(test_path, image_rows, image_cols);
    if (d.test.dim() != d.train.dim())
      throw data_error(test_path + ": held-out samples have " + std::to_string(d.test.dim()) +
                       " features, the training samples " + std::to_string(d.train.dim()));
  }
  return d;
}

}  // namespace rbm
