// safetensors writer/reader: 8-byte little-endian header length, JSON header, raw little-endian data.
#include "rbm/host/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rbm/host/idx.hpp"

namespace rbm {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw data_error(path + ": " + what); }

struct tensor_ref {
  const char* name;
  std::vector<float>* data;
  std::vector<std::int64_t> shape;
};

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()));
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

void save_model(const std::string& path, const model_params& p, const std::map<std::string, std::string>& meta) {
  static_assert(sizeof(float) == 4, "F32 tensors");
  nlohmann::json header;
  header["__metadata__"] = meta;
  const std::size_t nw = p.w.size() * 4, nvb = p.vb.size() * 4, nhb = p.hb.size() * 4;
  header["W"] = {{"dtype", "F32"}, {"shape", {p.nv, p.nh}}, {"data_offsets", {0, nw}}};
  header["vb"] = {{"dtype", "F32"}, {"shape", {p.nv}}, {"data_offsets", {nw, nw + nvb}}};
  header["hb"] = {{"dtype", "F32"}, {"shape", {p.nh}}, {"data_offsets", {nw + nvb, nw + nvb + nhb}}};
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the tensor data 8-byte aligned
  std::string out(8, '\0');
  std::uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xFF);  // little endian
  out += h;
  out.append(reinterpret_cast<const char*>(p.w.data()), nw);  // x86/ARM hosts are little endian
  out.append(reinterpret_cast<const char*>(p.vb.data()), nvb);
  out.append(reinterpret_cast<const char*>(p.hb.data()), nhb);
  write_file_atomic(path, out);
}

saved_model load_model(const std::string& path) {
  const std::vector<std::uint8_t> bytes = [&] {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) fail(path, std::string("cannot open model (") + std::strerror(errno) + ")");
    std::vector<std::uint8_t> b;
    std::uint8_t buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
    std::fclose(f);
    return b;
  }();
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
  saved_model m;
  try {
    if (header.contains("__metadata__"))
      m.metadata = header["__metadata__"].get<std::map<std::string, std::string>>();
    for (const char* name : {"W", "vb", "hb"})
      if (!header.contains(name)) fail(path, std::string("has no tensor '") + name + "'");
    const auto shape_w = header["W"]["shape"].get<std::vector<std::int64_t>>();
    if (shape_w.size() != 2 || shape_w[0] <= 0 || shape_w[1] <= 0 || shape_w[0] > (1 << 24) || shape_w[1] > (1 << 24))
      fail(path, "tensor 'W' must have shape [nv, nh] with positive sizes");
    m.params = model_params(int(shape_w[0]), int(shape_w[1]));
    tensor_ref refs[] = {{"W", &m.params.w, {shape_w[0], shape_w[1]}},
                         {"vb", &m.params.vb, {shape_w[0]}},
                         {"hb", &m.params.hb, {shape_w[1]}}};
    for (auto& t : refs) {
      const auto& e = header[t.name];
      if (e["dtype"] != "F32") fail(path, std::string("tensor '") + t.name + "' is " + e["dtype"].dump() + ", expected F32");
      if (e["shape"].get<std::vector<std::int64_t>>() != t.shape)
        fail(path, std::string("tensor '") + t.name + "' has shape " + e["shape"].dump() + ", which does not fit W");
      const auto off = e["data_offsets"].get<std::vector<std::uint64_t>>();
      if (off.size() != 2 || off[1] < off[0] || off[1] > data_size || off[1] - off[0] != t.data->size() * 4)
        fail(path, std::string("tensor '") + t.name + "' has data offsets outside the file (truncated?)");
      std::memcpy(t.data->data(), bytes.data() + data_start + off[0], off[1] - off[0]);
      for (float x : *t.data)
        if (!std::isfinite(x)) fail(path, std::string("tensor '") + t.name + "' holds a non-finite value");
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("malformed header (") + e.what() + ")");
  }
  return m;
}

}  // namespace rbm
