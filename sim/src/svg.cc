#include "mlahub/sim/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mlahub::sim::svg {

namespace {

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// A "nice" step for about `n` ticks over [0, max].
double NiceStep(double max, int n) {
  if (max <= 0) return 1;
  double raw = max / n;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * mag;
}

std::string Tick(double v) {
  char buf[32];
  if (std::fabs(v) >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (std::fabs(v) >= 1e4) std::snprintf(buf, sizeof buf, "%.0fk", v / 1e3);
  else if (v == std::floor(v)) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

std::string Text(double x, double y, const std::string& s, const char* anchor = "start", int size = 12,
                 const char* extra = "") {
  return "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\"" + extra + ">" + Esc(s) + "</text>\n";
}

std::string Header(double w, double h) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
         Num(w) + "\" height=\"" + Num(h) + "\" viewBox=\"0 0 " + Num(w) + " " + Num(h) +
         "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

std::string BarBody(const BarChart& c, double y0, double w) {
  std::string o;
  const double left = 160, right = 140, bar_h = 16, gap = 4;
  o += Text(w / 2, y0 + 20, c.title, "middle", 15, " font-weight=\"bold\"");
  double y = y0 + 36;
  double max = 0;
  for (const auto& b : c.bars) max = std::max(max, b.value);
  double scale_max = c.percent ? 1.0 : (max > 0 ? max : 1);
  double plot_w = w - left - right;
  for (const auto& b : c.bars) {
    double bw = plot_w * std::clamp(b.value / scale_max, 0.0, 1.0);
    const char* colour = !c.percent ? kColours[0] : b.value >= 0.95 ? "#2ca02c" : b.value >= 0.8 ? "#ff7f0e" : "#d62728";
    o += Text(left - 6, y + bar_h - 4, b.label, "end", 11);
    o += "<rect x=\"" + Num(left) + "\" y=\"" + Num(y) + "\" width=\"" + Num(plot_w) + "\" height=\"" + Num(bar_h) +
         "\" fill=\"#eeeeee\"/>\n";
    o += "<rect x=\"" + Num(left) + "\" y=\"" + Num(y) + "\" width=\"" + Num(bw) + "\" height=\"" + Num(bar_h) +
         "\" fill=\"" + colour + "\"/>\n";
    char val[64];
    if (c.percent) std::snprintf(val, sizeof val, "%.1f%%", 100 * b.value);
    else std::snprintf(val, sizeof val, "%s", Tick(b.value).c_str());
    o += Text(left + plot_w + 6, y + bar_h - 4, std::string(val) + (b.note.empty() ? "" : "  " + b.note), "start", 11);
    y += bar_h + gap;
  }
  return o;
}

double BarHeight(const BarChart& c) { return 50 + c.bars.size() * 20.0; }

}  // namespace

std::string Render(const LineChart& c) {
  const double w = 960, h = 480, left = 70, right = 180, top = 40, bottom = 50;
  const double pw = w - left - right, ph = h - top - bottom;
  std::string o = Header(w, h);
  o += Text(w / 2 - right / 2, 24, c.title, "middle", 16, " font-weight=\"bold\"");
  double xmin = c.x.empty() ? 0 : c.x.front(), xmax = c.x.empty() ? 1 : c.x.back();
  if (xmax <= xmin) xmax = xmin + 1;
  double ymax = c.y_max;
  if (ymax <= 0)
    for (const auto& s : c.series)
      for (double v : s.y) ymax = std::max(ymax, v);
  if (ymax <= 0) ymax = 1;
  double ystep = NiceStep(ymax, 5);
  ymax = std::ceil(ymax / ystep) * ystep;
  auto X = [&](double x) { return left + pw * (x - xmin) / (xmax - xmin); };
  auto Y = [&](double y) { return top + ph * (1 - y / ymax); };
  for (const auto& b : c.bands) {
    double x0 = X(std::max(b.from, xmin)), x1 = X(std::min(b.to, xmax));
    if (x1 <= x0) x1 = x0 + 1;
    o += "<rect x=\"" + Num(x0) + "\" y=\"" + Num(top) + "\" width=\"" + Num(x1 - x0) + "\" height=\"" + Num(ph) +
         "\" fill=\"#d62728\" fill-opacity=\"0.12\"><title>" + Esc(b.label) + "</title></rect>\n";
    o += Text(x0 + 2, top + 12, b.label, "start", 9, " fill=\"#a00\"");
  }
  for (double v = 0; v <= ymax + ystep / 2; v += ystep) {
    o += "<line x1=\"" + Num(left) + "\" y1=\"" + Num(Y(v)) + "\" x2=\"" + Num(left + pw) + "\" y2=\"" + Num(Y(v)) +
         "\" stroke=\"#dddddd\"/>\n";
    o += Text(left - 6, Y(v) + 4, Tick(v), "end", 11);
  }
  double xstep = NiceStep(xmax - xmin, 10);
  for (double v = std::ceil(xmin / xstep) * xstep; v <= xmax + 1e-9; v += xstep)
    o += Text(X(v), top + ph + 16, Tick(v), "middle", 11);
  o += "<rect x=\"" + Num(left) + "\" y=\"" + Num(top) + "\" width=\"" + Num(pw) + "\" height=\"" + Num(ph) +
       "\" fill=\"none\" stroke=\"#333\"/>\n";
  o += Text(left + pw / 2, h - 12, c.x_label, "middle", 12);
  o += Text(16, top + ph / 2, c.y_label, "middle", 12,
            (" transform=\"rotate(-90 16 " + Num(top + ph / 2) + ")\"").c_str());
  for (size_t i = 0; i < c.series.size(); ++i) {
    const auto& s = c.series[i];
    const char* colour = kColours[i % 10];
    std::string path;
    bool pen = false;
    for (size_t k = 0; k < s.y.size() && k < c.x.size(); ++k) {
      if (s.y[k] < 0) {
        pen = false;
        continue;
      }
      path += (pen ? " L" : " M") + Num(X(c.x[k])) + " " + Num(Y(std::min(s.y[k], ymax)));
      pen = true;
    }
    if (!path.empty())
      o += "<path d=\"" + path.substr(1) + "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"1.5\"/>\n";
    double ly = top + 10 + 18 * i;
    o += "<line x1=\"" + Num(left + pw + 12) + "\" y1=\"" + Num(ly) + "\" x2=\"" + Num(left + pw + 32) + "\" y2=\"" +
         Num(ly) + "\" stroke=\"" + colour + "\" stroke-width=\"3\"/>\n";
    o += Text(left + pw + 36, ly + 4, s.name, "start", 11);
  }
  o += "</svg>\n";
  return o;
}

std::string Render(const BarChart& c) { return RenderStacked({c}); }

std::string RenderStacked(const std::vector<BarChart>& charts) {
  const double w = 860;
  double h = 10;
  for (const auto& c : charts) h += BarHeight(c);
  std::string o = Header(w, h);
  double y = 0;
  for (const auto& c : charts) {
    o += BarBody(c, y, w);
    y += BarHeight(c);
  }
  o += "</svg>\n";
  return o;
}

}  // namespace mlahub::sim::svg
