// The report of a run: metrics.json (every metric; byte-identical for the
// same scenario and seed), CSV files, SVG plots, and the summary for the
// terminal (a table, or JSON with --json). Files and columns: sim/README.md
// "Report".
#pragma once

#include <string>

#include "mlahub/core/status.h"
#include "mlahub/sim/model.h"

namespace mlahub::sim {

// metrics.json's text.
std::string MetricsJson(const Results& r);
// Writes every report file into `dir` (created if missing). kIoError on failure.
Status WriteReport(const Results& r, const std::string& dir);
// The terminal summary, with events, wall time and events per second.
std::string SummaryTable(const Results& r, const std::string& out_dir);
// The same as one JSON object (one line).
std::string SummaryJson(const Results& r, const std::string& out_dir);

}  // namespace mlahub::sim
