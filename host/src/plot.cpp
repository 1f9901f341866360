// Line plots of per-epoch curves, drawn with cairo (antialiased lines, text through fontconfig), and the
// round-tick rule they use. Without cairo (CMake RBM_PLOTS=OFF, or cairo not found) only the tick rule
// is built and plot_curves throws.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "rbm/error.hpp"
#include "rbm/host/image.hpp"

#if RBM_HAVE_CAIRO
#include <cairo.h>
#endif

namespace rbm {

namespace {

// Heckbert's "nice number" (Graphics Gems, 1990): 1, 2 or 5 times a power of ten near x.
double nice_number(double x, bool round) {
  const double e = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, e);
  double nf;
  if (round)
    nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else
    nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * std::pow(10.0, e);
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  RBM_EXPECTS(std::isfinite(lo) && std::isfinite(hi) && max_ticks >= 2);
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(lo))) {  // one value: a range around it
    const double d = lo == 0 ? 1.0 : 0.1 * std::fabs(lo);
    lo -= d;
    hi += d;
  }
  const double step = nice_number(nice_number(hi - lo, false) / (max_ticks - 1), true);
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  const double inverse = step < 1 ? std::round(1 / step) : 0;  // 0.1 = 1/10: k / 10 rounds as "0.3" reads
  for (double k = first; k <= last; ++k) {
    const double v = inverse > 0 ? k / inverse : k * step;
    ticks.push_back(v == 0 ? 0.0 : v);  // no "-0"
  }
  return ticks;
}

std::string tick_label(double value, double step) {
  char b[32];
  const double a = std::max(std::fabs(value), std::fabs(step));
  if (a >= 1e6 || (step > 0 && step < 1e-4)) {
    std::snprintf(b, sizeof b, "%.3g", value);
  } else {
    const int decimals = step > 0 ? std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9))) : 0;
    std::snprintf(b, sizeof b, "%.*f", decimals, std::fabs(value) < 0.5 * step ? 0.0 : value);
  }
  return b;
}

#if RBM_HAVE_CAIRO

bool can_plot() { return true; }

namespace {

constexpr double pi = 3.14159265358979323846;

struct cairo_canvas {
  cairo_surface_t* surface;
  cairo_t* cr;
  cairo_canvas(int w, int h)
      : surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h)), cr(cairo_create(surface)) {
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS || cairo_status(cr) != CAIRO_STATUS_SUCCESS)
      throw error(std::string("cairo cannot make a drawing surface: ") + cairo_status_to_string(cairo_status(cr)));
  }
  ~cairo_canvas() {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
  }
  cairo_canvas(const cairo_canvas&) = delete;
  cairo_canvas& operator=(const cairo_canvas&) = delete;
};

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Text with its anchor at (x, y): ax = 0 left, 0.5 centre, 1 right; y is the text's vertical middle.
void text_at(cairo_t* cr, double x, double y, const std::string& s, double ax) {
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  cairo_move_to(cr, x - ax * text_width(cr, s), y + 0.5 * (fe.ascent - fe.descent));
  cairo_show_text(cr, s.c_str());
}

}  // namespace

namespace {

double x_of(const curve& c, std::size_t i) { return c.x.empty() ? double(i) : c.x[i]; }

// The plot's data ranges and ticks: round y ticks spanning every finite value, x ticks whole numbers
// where every x is (epochs).
struct plot_scale {
  double xlo, xhi, ylo, yhi, xstep = 1, ystep = 1;
  std::vector<double> xt, yt;
};

plot_scale scale_of(const std::vector<curve>& curves) {
  plot_scale sc;
  sc.ylo = std::numeric_limits<double>::max(), sc.yhi = std::numeric_limits<double>::lowest();
  sc.xlo = sc.ylo, sc.xhi = sc.yhi;
  bool integral_x = true;
  for (const auto& c : curves) {
    RBM_EXPECTS(c.x.empty() || c.x.size() == c.y.size());
    for (std::size_t i = 0; i < c.y.size(); ++i)
      if (std::isfinite(c.y[i]) && std::isfinite(x_of(c, i))) {
        sc.ylo = std::min(sc.ylo, c.y[i]), sc.yhi = std::max(sc.yhi, c.y[i]);
        sc.xlo = std::min(sc.xlo, x_of(c, i)), sc.xhi = std::max(sc.xhi, x_of(c, i));
        integral_x = integral_x && x_of(c, i) == std::round(x_of(c, i));
      }
  }
  if (sc.ylo > sc.yhi) sc.ylo = 0, sc.yhi = 1, sc.xlo = 0, sc.xhi = 1;  // nothing finite: empty axes
  if (sc.xhi - sc.xlo < 1e-12) sc.xlo -= 1, sc.xhi += 1;
  sc.yt = nice_ticks(sc.ylo, sc.yhi, 7);
  sc.ystep = sc.yt.size() > 1 ? sc.yt[1] - sc.yt[0] : 1;
  sc.ylo = sc.yt.front();
  sc.yhi = sc.yt.back();
  std::vector<double> t = nice_ticks(sc.xlo, sc.xhi, 9);
  sc.xstep = t.size() > 1 ? t[1] - t[0] : 1;
  if (integral_x && sc.xstep < 1) {  // epochs: whole-number ticks
    sc.xstep = 1;
    t.clear();
    for (double v = std::ceil(sc.xlo); v <= sc.xhi; ++v) t.push_back(v);
  }
  for (double v : t)
    if (v >= sc.xlo - 1e-9 * sc.xstep && v <= sc.xhi + 1e-9 * sc.xstep) sc.xt.push_back(v);
  return sc;
}

// Where the plot area lies on the canvas, and data to canvas coordinates.
struct plot_area {
  plot_scale sc;
  double left, top, pw, ph;
  double X(double x) const { return left + (x - sc.xlo) / (sc.xhi - sc.xlo) * pw; }
  double Y(double y) const { return top + (sc.yhi - y) / (sc.yhi - sc.ylo) * ph; }
};

// Grid, ticks and their labels, the frame, the axis labels and the title.
void draw_axes(cairo_t* cr, const plot_area& a, int H, const std::string& title, const std::string& xlabel,
               const std::string& ylabel) {
  const plot_scale& sc = a.sc;
  cairo_set_line_width(cr, 1);
  for (double v : sc.yt) {
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, a.left, std::round(a.Y(v)) + 0.5);
    cairo_line_to(cr, a.left + a.pw, std::round(a.Y(v)) + 0.5);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, a.left - 8, a.Y(v), tick_label(v, sc.ystep), 1.0);
  }
  for (double v : sc.xt) {
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, std::round(a.X(v)) + 0.5, a.top);
    cairo_line_to(cr, std::round(a.X(v)) + 0.5, a.top + a.ph);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, a.X(v), a.top + a.ph + 14, tick_label(v, sc.xstep), 0.5);
  }
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, a.left + 0.5, a.top + 0.5, a.pw, a.ph);
  cairo_stroke(cr);
  text_at(cr, a.left + a.pw / 2, H - 16, xlabel, 0.5);
  if (!ylabel.empty()) {
    cairo_save(cr);
    cairo_translate(cr, 16, a.top + a.ph / 2);
    cairo_rotate(cr, -pi / 2);
    text_at(cr, 0, 0, ylabel, 0.5);
    cairo_restore(cr);
  }
  cairo_set_font_size(cr, 17);
  text_at(cr, a.left, a.top / 2, title, 0.0);
}

// The curves, clipped to the plot area, with markers where points are few. Whether the upper right
// corner holds fewer of their points than the lower right (where the legend then goes).
bool draw_curves(cairo_t* cr, const plot_area& a, const std::vector<curve>& curves) {
  cairo_save(cr);
  cairo_rectangle(cr, a.left, a.top, a.pw, a.ph);
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  std::size_t upper_right = 0, lower_right = 0;
  for (const auto& c : curves) {
    cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
    cairo_set_line_width(cr, 2);
    bool pen = false;
    for (std::size_t i = 0; i < c.y.size(); ++i) {
      if (!std::isfinite(c.y[i])) {
        pen = false;
        continue;
      }
      const double px = a.X(x_of(c, i)), py = a.Y(c.y[i]);
      if (px > a.left + 0.55 * a.pw) (py < a.top + 0.5 * a.ph ? upper_right : lower_right) += 1;
      if (pen)
        cairo_line_to(cr, px, py);
      else
        cairo_move_to(cr, px, py);
      pen = true;
    }
    cairo_stroke(cr);
    if (c.y.size() <= 30)
      for (std::size_t i = 0; i < c.y.size(); ++i)
        if (std::isfinite(c.y[i])) {
          cairo_arc(cr, a.X(x_of(c, i)), a.Y(c.y[i]), 3.5, 0, 2 * pi);
          cairo_fill(cr);
        }
  }
  cairo_restore(cr);
  return upper_right <= lower_right;
}

// The legend, in the right-hand corner the curves leave emptier.
void draw_legend(cairo_t* cr, const plot_area& a, const std::vector<curve>& curves, bool upper) {
  cairo_set_font_size(cr, 13);
  double lw = 0;
  for (const auto& c : curves) lw = std::max(lw, text_width(cr, c.label));
  const double row = 19, bw = lw + 52, bh = row * curves.size() + 10;
  const double bx = a.left + a.pw - bw - 10, by = upper ? a.top + 10 : a.top + a.ph - bh - 10;
  if (!curves.empty()) {
    cairo_rectangle(cr, bx + 0.5, by + 0.5, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
  }
  for (std::size_t k = 0; k < curves.size(); ++k) {
    const auto& c = curves[k];
    const double y = by + 5 + row * (k + 0.5);
    cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
    cairo_set_line_width(cr, 2.5);
    cairo_move_to(cr, bx + 8, y);
    cairo_line_to(cr, bx + 36, y);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, bx + 44, y, c.label, 0.0);
  }
}

// The canvas as an RGB raster (cairo's RGB24 is native-endian 0x00RRGGBB).
raster to_raster(const cairo_canvas& canvas, int W, int H) {
  cairo_surface_flush(canvas.surface);
  if (cairo_status(canvas.cr) != CAIRO_STATUS_SUCCESS)
    throw error(std::string("cairo failed to draw the plot: ") + cairo_status_to_string(cairo_status(canvas.cr)));
  raster img(W, H, 3);
  const unsigned char* data = cairo_image_surface_get_data(canvas.surface);
  const int stride = cairo_image_surface_get_stride(canvas.surface);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      std::uint32_t px;
      std::memcpy(&px, data + std::size_t(y) * stride + 4 * std::size_t(x), 4);
      std::uint8_t* o = &img.pixels[(std::size_t(y) * W + x) * 3];
      o[0] = (px >> 16) & 255;
      o[1] = (px >> 8) & 255;
      o[2] = px & 255;
    }
  return img;
}

}  // namespace

raster plot_curves(const std::vector<curve>& curves, const std::string& title, const std::string& xlabel,
                   const std::string& ylabel) {
  const int W = 800, H = 480;
  const plot_scale sc = scale_of(curves);
  cairo_canvas canvas(W, H);
  cairo_t* cr = canvas.cr;
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 13);
  double label_w = 0;
  for (double v : sc.yt) label_w = std::max(label_w, text_width(cr, tick_label(v, sc.ystep)));
  const double left = 24 + label_w + (ylabel.empty() ? 0 : 22), right = 24, top = 44, bottom = 58;
  const plot_area area{sc, left, top, W - left - right, H - top - bottom};
  draw_axes(cr, area, H, title, xlabel, ylabel);
  const bool upper = draw_curves(cr, area, curves);
  draw_legend(cr, area, curves, upper);
  return to_raster(canvas, W, H);
}

#else

bool can_plot() { return false; }

raster plot_curves(const std::vector<curve>&, const std::string&, const std::string&, const std::string&) {
  throw error("this build of rbm draws no plots: it was built without cairo (CMake option RBM_PLOTS)");
}

#endif

}  // namespace rbm
