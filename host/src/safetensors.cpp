// safetensors writer/reader: 8-byte little-endian header length, JSON header, raw little-endian data.
#include "rbm/host/safetensors.hpp"
#include "rbm/host/limits.hpp"
#include "rbm/host/read_checks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <nlohmann/json.hpp>

#include <zlib.h>

#include "rbm/host/idx.hpp"

namespace rbm {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw data_error(path + ": " + what); }

std::uint32_t crc32_of(const void* p, std::size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  const auto* b = static_cast<const Bytef*>(p);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    c = crc32(c, b, chunk);
    b += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(c);
}

constexpr const char* temporary_infix = ".tmp.";  // write_file_atomic's ".<name>.tmp.<pid>"

}  // namespace

bool is_atomic_temporary(const std::string& name) {
  const auto at = name.rfind(temporary_infix);
  const std::size_t digits = at == std::string::npos ? 0 : at + std::strlen(temporary_infix);
  return name.size() > 1 && name[0] == '.' && at != std::string::npos && digits < name.size() &&
         std::all_of(name.begin() + long(digits), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void write_file_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp =
      target.parent_path() / ("." + target.filename().string() + temporary_infix + std::to_string(::getpid()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::string("cannot write (") + std::strerror(errno) + ")");
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(path, std::string("write failed (") + std::strerror(e) + ")");
    }
    p += n;
    left -= std::size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("cannot flush to disk (") + std::strerror(e) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("cannot rename the finished file into place (") + std::strerror(e) + ")");
  }
}

void write_tensors(const std::string& path, const tensor_file& f) {
  static_assert(sizeof(float) == 4, "F32 tensors");
  nlohmann::json header;
  header["__metadata__"] = f.metadata;
  std::size_t offset = 0;
  for (const auto& [name, t] : f.tensors) {
    std::size_t count = 1;
    for (auto d : t.shape) count *= std::size_t(d);
    if (count != t.data.size()) throw precondition_error("tensor '" + name + "': shape does not match its data");
    header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * count}}};
    offset += 4 * count;
  }
  std::string data;
  data.reserve(offset);
  for (const auto& [name, t] : f.tensors)  // std::map: the same order as the offsets above
    data.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4);
  header["__metadata__"]["rbm_crc32"] = std::to_string(crc32_of(data.data(), data.size()));
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the tensor data 8-byte aligned
  std::string out(8, '\0');
  const std::uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xFF);  // little endian
  out += h;
  out += data;
  write_file_atomic(path, out);
}

void save_model(const std::string& path, const model_params& p, const std::map<std::string, std::string>& meta,
                const std::map<std::string, tensor>& extra) {
  tensor_file f;
  f.metadata = meta;
  f.tensors = extra;
  f.tensors["W"] = {{p.nv, p.nh}, p.w};
  f.tensors["vb"] = {{p.nv}, p.vb};
  f.tensors["hb"] = {{p.nh}, p.hb};
  add_unit_tensors(f, p);
  write_tensors(path, f);
}

void add_unit_tensors(tensor_file& f, const model_params& p) {
  f.metadata["visible_units"] = to_string(p.visible);
  f.metadata["hidden_units"] = to_string(p.hidden);
  if (p.gaussian()) f.tensors["sigma"] = {{p.nv}, p.sigma};
  if (p.categorical()) f.metadata["states"] = std::to_string(p.states);
  if (p.labeled()) {
    f.metadata["label_units"] = "softmax";
    f.metadata["classes"] = std::to_string(p.classes);
    f.tensors["label_W"] = {{p.classes, p.nh}, p.label_w};
    f.tensors["label_b"] = {{p.classes}, p.label_b};
  }
}

tensor_file read_tensors(const std::string& path) {
  return parse_tensors(path, read_regular_file(path));  // not a device or a pipe, which never end
}

tensor_file parse_tensors(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() < 8) fail(path, "too short to be a safetensors file");
  std::uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= std::uint64_t(bytes[i]) << (8 * i);
  if (len > bytes.size() - 8) fail(path, "truncated: header length " + std::to_string(len) + " exceeds the file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(len));
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  const std::size_t data_start = 8 + len, data_size = bytes.size() - data_start;
  tensor_file f;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;  // each tensor's [begin, end) in the data
  // The reference safetensors library's rules: integer shapes, sizes that fit the data, and tensors
  // that tile the data buffer exactly (no overlap, no gap, nothing after the last).
  auto integers = [&](const nlohmann::json& a, const std::string& name, const char* what) {
    if (!a.is_array()) fail(path, "tensor '" + name + "': " + what + " is not a list");
    std::vector<std::uint64_t> out;
    for (const auto& x : a) {
      if (!x.is_number_unsigned() && !(x.is_number_integer() && x.get<std::int64_t>() >= 0))
        fail(path, "tensor '" + name + "': " + what + " holds " + x.dump() + ", not a non-negative integer");
      out.push_back(x.get<std::uint64_t>());
    }
    return out;
  };
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        f.metadata = it.value().get<std::map<std::string, std::string>>();
        continue;
      }
      const auto& e = it.value();
      if (e.at("dtype") != "F32") fail(path, "tensor '" + it.key() + "' is " + e["dtype"].dump() + ", expected F32");
      tensor t;
      const std::vector<std::uint64_t> shape = integers(e.at("shape"), it.key(), "its shape");
      const std::uint64_t count = checked_product(path, "tensor '" + it.key() + "' has more elements than the data holds",
                                                  shape, data_size / 4);
      for (std::uint64_t d : shape) t.shape.push_back(std::int64_t(d));
      const auto off = integers(e.at("data_offsets"), it.key(), "its data offsets");
      if (off.size() != 2 || off[1] < off[0] || off[1] > data_size || off[1] - off[0] != count * 4)
        fail(path, "tensor '" + it.key() + "' has data offsets outside the file (truncated?)");
      spans.emplace_back(off[0], off[1]);
      t.data.resize(count);
      std::memcpy(t.data.data(), bytes.data() + data_start + off[0], count * 4);
      for (float x : t.data)
        if (!std::isfinite(x)) fail(path, "tensor '" + it.key() + "' holds a non-finite value");
      f.tensors.emplace(it.key(), std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("malformed header (") + e.what() + ")");
  }
  std::sort(spans.begin(), spans.end());
  std::uint64_t at = 0;
  for (const auto& [begin, end] : spans) {
    if (begin != at)
      fail(path, begin < at ? "tensors overlap in the data (offset " + std::to_string(begin) + ")"
                            : "a gap in the data before offset " + std::to_string(begin));
    at = end;
  }
  if (at != data_size)
    fail(path, std::to_string(data_size - at) + " bytes after the last tensor: the file is longer than its header says");
  const auto crc = f.metadata.find("rbm_crc32");
  if (crc != f.metadata.end()) {
    const std::string actual = std::to_string(crc32_of(bytes.data() + data_start, data_size));
    if (crc->second != actual)
      fail(path, "checksum mismatch: the tensor data was altered or damaged (CRC-32 " + actual + ", recorded " +
                     crc->second + ")");
    f.metadata.erase(crc);
  }
  return f;
}

std::pair<int, int> picture_shape(const saved_model& m) {
  if (m.params.categorical()) return {m.params.sites(), m.params.states};  // a row per site, a column per state
  const auto it = m.metadata.find("config");
  if (it != m.metadata.end()) {
    const auto config = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    // Metadata outside the CRC: only positive integers whose product is the visible units count.
    if (config.is_object() && config.contains("image_rows") && config.contains("image_cols") &&
        config["image_rows"].is_number_integer() && config["image_cols"].is_number_integer()) {
      const std::int64_t rows = config["image_rows"].get<std::int64_t>(), cols = config["image_cols"].get<std::int64_t>();
      if (rows > 0 && cols > 0 && rows <= m.params.nv && cols <= m.params.nv && rows * cols == m.params.nv)
        return {int(rows), int(cols)};
    }
  }
  const int side = static_cast<int>(std::lround(std::sqrt(double(m.params.nv))));
  if (side * side != m.params.nv)
    throw precondition_error("the model's " + std::to_string(m.params.nv) +
                                  " visible units are not a square picture and its metadata names no shape");
  return {side, side};
}

bool trained_binarized(const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("config");
  if (it == metadata.end()) return false;
  const auto config = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  return config.is_object() && config.contains("binarize") && config["binarize"].is_boolean() &&
         config["binarize"].get<bool>();
}

saved_model load_model(const std::string& path) {
  tensor_file f = read_tensors(path);
  const auto layers = f.metadata.find("layers");
  if (layers != f.metadata.end())
    throw stack_file_error(path + ": holds a stack of " + layers->second +
                           " RBMs (a deep belief network), not the single RBM asked for");
  return model_from_tensors(path, std::move(f));
}

saved_model model_from_tensors(const std::string& path, tensor_file f) {
  for (const char* name : {"W", "vb", "hb"})
    if (!f.tensors.count(name)) fail(path, std::string("has no tensor '") + name + "'");
  const auto& w = f.tensors["W"];
  if (w.shape.size() != 2 || w.shape[0] <= 0 || w.shape[1] <= 0 || w.shape[0] > (1 << 24) || w.shape[1] > (1 << 24))
    fail(path, "tensor 'W' must have shape [nv, nh] with positive sizes");
  const std::int64_t nv = w.shape[0], nh = w.shape[1];
  if (f.tensors["vb"].shape != std::vector<std::int64_t>{nv})
    fail(path, "tensor 'vb' has a shape that does not fit W [" + std::to_string(nv) + ", " + std::to_string(nh) + "]");
  if (f.tensors["hb"].shape != std::vector<std::int64_t>{nh})
    fail(path, "tensor 'hb' has a shape that does not fit W [" + std::to_string(nv) + ", " + std::to_string(nh) + "]");
  saved_model m;
  m.params.nv = int(nv);
  m.params.nh = int(nh);
  m.params.w = std::move(f.tensors["W"].data);
  m.params.vb = std::move(f.tensors["vb"].data);
  m.params.hb = std::move(f.tensors["hb"].data);
  // The unit kinds; a file written before they were recorded is Bernoulli / Bernoulli.
  const auto kind = f.metadata.find("visible_units");
  unit_kind visible = unit_kind::bernoulli;
  if (kind != f.metadata.end() && !parse_unit_kind(kind->second, visible))
    fail(path, "unknown visible unit kind '" + kind->second + "' (known: " + unit_kind_list() + ")");
  m.params.visible = visible;
  const auto hidden_kind = f.metadata.find("hidden_units");
  if (hidden_kind != f.metadata.end() && !parse_unit_kind(hidden_kind->second, m.params.hidden, layer_side::hidden))
    fail(path, "unknown hidden unit kind '" + hidden_kind->second + "' (known: " + unit_kind_list(layer_side::hidden) + ")");
  if (visible == unit_kind::gaussian) {
    if (!f.tensors.count("sigma")) fail(path, "has Gaussian visible units but no tensor 'sigma'");
    if (f.tensors["sigma"].shape != std::vector<std::int64_t>{nv})
      fail(path, "tensor 'sigma' has a shape that does not fit W [" + std::to_string(nv) + ", " + std::to_string(nh) + "]");
    m.params.sigma = std::move(f.tensors["sigma"].data);
    for (float x : m.params.sigma)
      if (!(x > 0)) fail(path, "tensor 'sigma' holds a standard deviation that is not positive");
  }
  if (visible == unit_kind::categorical) {  // W [sites * Q, nh], the state index fastest
    const auto q = f.metadata.find("states");
    int states = 0;
    try {
      states = q == f.metadata.end() ? 0 : std::stoi(q->second);
    } catch (const std::logic_error&) {
      states = 0;
    }
    if (states < 2 || states > max_states || nv % states != 0)
      fail(path, "has categorical visible units but no valid 'states' (2 to " + std::to_string(max_states) +
                     ", dividing W's " + std::to_string(nv) + " rows)");
    m.params.states = states;
  }
  if (f.tensors.count("label_W") || f.tensors.count("label_b")) {  // a label group
    if (!f.tensors.count("label_W") || !f.tensors.count("label_b"))
      fail(path, "has only one of the label tensors 'label_W' and 'label_b'");
    const auto& lw = f.tensors["label_W"];
    if (lw.shape.size() != 2 || lw.shape[1] != nh || lw.shape[0] < 2 || lw.shape[0] > max_classes)
      fail(path, "tensor 'label_W' must have shape [classes, " + std::to_string(nh) + "] with 2 to " +
                     std::to_string(max_classes) + " classes");
    const std::int64_t k = lw.shape[0];
    if (f.tensors["label_b"].shape != std::vector<std::int64_t>{k})
      fail(path, "tensor 'label_b' has a shape that does not fit label_W [" + std::to_string(k) + ", " + std::to_string(nh) + "]");
    const auto recorded = f.metadata.find("classes");
    if (recorded != f.metadata.end() && recorded->second != std::to_string(k))
      fail(path, "records " + recorded->second + " classes but label_W has " + std::to_string(k));
    m.params.classes = int(k);
    m.params.label_w = std::move(f.tensors["label_W"].data);
    m.params.label_b = std::move(f.tensors["label_b"].data);
  }
  m.metadata = std::move(f.metadata);
  return m;
}

}  // namespace rbm
