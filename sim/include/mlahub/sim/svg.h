// A small SVG writer for the simulator's plots: line charts over days (with
// shaded fault windows) and horizontal bar charts. No dependency; the output
// is plain SVG 1.1 text, deterministic for the same input.
#pragma once

#include <string>
#include <vector>

namespace mlahub::sim::svg {

struct Series {
  std::string name;
  std::vector<double> y;  // one value per x; values < 0 are gaps
};

struct Band {  // a shaded x range, e.g. an outage
  double from = 0, to = 0;
  std::string label;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<double> x;
  std::vector<Series> series;
  std::vector<Band> bands;
  double y_max = 0;  // 0 = from the data
};

struct Bar {
  std::string label;
  double value = 0;  // 0..1 for percentages when percent is set
  std::string note;  // printed after the bar
};

struct BarChart {
  std::string title;
  bool percent = true;
  std::vector<Bar> bars;
};

std::string Render(const LineChart& c);
std::string Render(const BarChart& c);
// Several bar charts stacked in one SVG (e.g. compliance by basis, then by state).
std::string RenderStacked(const std::vector<BarChart>& charts);

}  // namespace mlahub::sim::svg
