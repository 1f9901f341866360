// Pictures users give (`rbm reconstruct --image`, `rbm classify --image`): PNG through libpng (which
// checks every chunk's CRC and reads every bit depth), JPEG, PGM/PPM and BMP through stb_image, nothing
// else (no format a digit comes in is worth the decoders of HDR, PSD, GIF or TGA). The size is bounded
// from the header before any pixel is decoded; then grey, resized to the model's picture shape.
#include <png.h>
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/read_checks.hpp"
#include "rbm/host/tools.hpp"

namespace rbm {
namespace {

constexpr int max_side = 16384;                     // on a side
constexpr std::uint64_t max_pixels = 4096ull * 4096;  // 16 Mpixels: a 12-megapixel photo fits; decoding is bounded

enum class picture_format { png, jpeg, netpbm, bmp, other };

picture_format format_of(const std::vector<std::uint8_t>& b) {
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 8 && std::memcmp(b.data(), png_sig, 8) == 0) return picture_format::png;
  if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return picture_format::jpeg;
  if (b.size() >= 2 && b[0] == 'P' && (b[1] == '2' || b[1] == '3' || b[1] == '5' || b[1] == '6'))
    return picture_format::netpbm;
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return picture_format::bmp;
  return picture_format::other;
}

void check_size(const std::string& path, std::uint64_t w, std::uint64_t h) {
  if (w == 0 || h == 0) throw data_error(path + ": the image has no pixels");
  if (w > max_side || h > max_side || w * h > max_pixels)
    throw data_error(path + ": the image is too large (" + std::to_string(w) + "x" + std::to_string(h) + "; at most " +
                     std::to_string(max_pixels) + " pixels and " + std::to_string(max_side) + " on a side)");
}

// Grey pixels [h, w] of a PNG of any bit depth and colour type (libpng's simplified API).
std::vector<std::uint8_t> decode_png(const std::string& path, const std::vector<std::uint8_t>& bytes, int& w, int& h) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size()))
    throw data_error(path + ": not a readable PNG (" + img.message + ")");
  try {
    check_size(path, img.width, img.height);
  } catch (...) {
    png_image_free(&img);
    throw;
  }
  img.format = PNG_FORMAT_GRAY;
  std::vector<std::uint8_t> grey(PNG_IMAGE_SIZE(img));
  const png_color white = {255, 255, 255};  // transparent pixels: on white paper
  if (!png_image_finish_read(&img, &white, grey.data(), 0, nullptr)) {
    const std::string why = img.message;
    png_image_free(&img);
    throw data_error(path + ": cannot decode the PNG (" + why + ")");
  }
  w = int(img.width);
  h = int(img.height);
  return grey;
}

// Grey pixels of a JPEG, PGM/PPM or BMP (stb_image), its size checked from the header first.
std::vector<std::uint8_t> decode_stb(const std::string& path, const std::vector<std::uint8_t>& bytes, int& w, int& h) {
  if (bytes.size() > (std::size_t(1) << 30)) throw data_error(path + ": larger than 1 GiB; not a picture to read");
  const int len = static_cast<int>(bytes.size());
  int channels = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &channels))
    throw data_error(path + ": not a readable image (" + stbi_failure_reason() + ")");
  check_size(path, std::uint64_t(std::max(w, 0)), std::uint64_t(std::max(h, 0)));
  // Uncompressed formats must actually hold their pixels: stb_image reads past the end of a short PNM
  // (found by tests/fuzz; regression in tests/test_fuzz_regressions.cpp).
  if (bytes[0] == 'P' && bytes.size() < std::size_t(w) * h * (bytes[1] == '6' || bytes[1] == '3' ? 3 : 1))
    throw data_error(path + ": the PNM file is shorter than its " + std::to_string(w) + "x" + std::to_string(h) + " pixels");
  if (channels < 1 || channels > 4)
    throw data_error(path + ": " + std::to_string(channels) + " channels; expected grey, grey+alpha, RGB or RGBA");
  stbi_uc* grey = stbi_load_from_memory(bytes.data(), len, &w, &h, &channels, 1);  // stb converts to luminance
  if (grey == nullptr) throw data_error(path + ": cannot decode (" + stbi_failure_reason() + ")");
  std::vector<std::uint8_t> out(grey, grey + std::size_t(w) * h);
  stbi_image_free(grey);
  return out;
}

}  // namespace

std::vector<std::uint8_t> load_picture(const std::string& path, int rows, int cols, bool invert) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw data_error(path + ": no such image file");
  return decode_picture(path, read_regular_file(path, std::uint64_t(1) << 30), rows, cols, invert);
}

std::vector<std::uint8_t> decode_picture(const std::string& path, const std::vector<std::uint8_t>& bytes, int rows,
                                         int cols, bool invert) {
  RBM_EXPECTS(rows > 0 && cols > 0);
  if (bytes.size() < 2) throw data_error(path + ": the file is empty or too short to be a picture");
  int w = 0, h = 0;
  std::vector<std::uint8_t> grey;
  switch (format_of(bytes)) {
    case picture_format::png: grey = decode_png(path, bytes, w, h); break;
    case picture_format::jpeg:
    case picture_format::netpbm:
    case picture_format::bmp: grey = decode_stb(path, bytes, w, h); break;
    case picture_format::other:
      throw data_error(path + ": not a readable image (not a PNG, JPEG, PGM/PPM or BMP picture, the formats read)");
  }
  std::vector<std::uint8_t> out(std::size_t(rows) * cols);
  const int ok = w == cols && h == rows ? (std::copy_n(grey.data(), out.size(), out.begin()), 1)
                                        : stbir_resize_uint8(grey.data(), w, h, 0, out.data(), cols, rows, 0, 1);
  if (!ok) throw data_error(path + ": cannot resize to " + std::to_string(cols) + "x" + std::to_string(rows));
  if (invert)
    for (auto& x : out) x = static_cast<std::uint8_t>(255 - x);
  return out;
}

}  // namespace rbm
