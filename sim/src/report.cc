#include "mlahub/sim/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "mlahub/core/file.h"
#include "mlahub/sim/svg.h"

namespace mlahub::sim {

namespace {

using ReportJson = nlohmann::ordered_json;
constexpr double kDayMs = 86400000.0;

int64_t Ms(double v) { return static_cast<int64_t>(std::llround(v)); }

ReportJson ComplianceJson(const Compliance& c) {
  ReportJson j;
  j["met"] = c.met;
  j["missed"] = c.missed;
  j["pending"] = c.pending;
  j["rate"] = std::round(c.Rate() * 1e6) / 1e6;
  return j;
}

ReportJson PercentilesJson(const Percentiles& p) {
  ReportJson j;
  j["count"] = p.count;
  j["mean_ms"] = Ms(p.mean);
  j["p50_ms"] = Ms(p.p50);
  j["p90_ms"] = Ms(p.p90);
  j["p99_ms"] = Ms(p.p99);
  j["max_ms"] = Ms(p.max);
  return j;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Days(double ms) { return ms < 0 ? "" : Fixed(ms / kDayMs, 3); }

Status Write(const std::string& dir, const std::string& name, const std::string& text) {
  return WriteFileAtomic(dir + "/" + name, AsBytes(text), 0644);
}

std::string ComplianceCsv(const std::string& key, const std::map<std::string, Compliance>& m) {
  std::string o = key + ",met,missed,pending,rate\n";
  for (const auto& [k, c] : m)
    o += k + "," + std::to_string(c.met) + "," + std::to_string(c.missed) + "," + std::to_string(c.pending) + "," +
         Fixed(c.Rate(), 4) + "\n";
  return o;
}

std::vector<svg::Band> FaultBands(const Results& r) {
  std::vector<svg::Band> bands;
  for (const auto& f : r.faults)
    bands.push_back({f.at_ms / kDayMs, (f.at_ms + f.for_ms) / kDayMs, f.what});
  return bands;
}

std::vector<double> DayAxis(const Results& r) {
  std::vector<double> x;
  for (size_t d = 0; d < r.days.size(); ++d) x.push_back(static_cast<double>(d));
  return x;
}

}  // namespace

std::string MetricsJson(const Results& r) {
  ReportJson j;
  j["scenario"] = r.scenario;
  j["seed"] = r.seed;
  j["engine"] = "model";
  j["start_ms"] = r.start_ms;
  j["duration_ms"] = r.duration_ms;
  j["drain_ms"] = r.drain_ms;
  j["states"] = r.states;
  j["agents"] = r.agents;
  j["events"] = r.events;
  j["arrival_candidates_rejected"] = r.arrival_candidates_rejected;
  ReportJson t;
  t["requests"] = r.requests;
  t["delivered"] = r.delivered;
  t["completed"] = r.completed;
  t["executed"] = r.executed;
  t["refused"] = r.refused;
  t["further_information"] = r.further_information;
  t["extensions"] = r.extensions;
  t["open_at_end"] = r.open_at_end;
  t["messages"] = r.messages;
  t["workflow_rejections"] = r.workflow_rejections;
  j["totals"] = t;
  j["latency"] = PercentilesJson(r.latency);
  ReportJson lk = ReportJson::object();
  for (const auto& [k, p] : r.latency_by_kind) lk[k] = PercentilesJson(p);
  j["latency_by_kind"] = lk;
  j["compliance"] = ComplianceJson(r.compliance);
  for (auto [name, m] : {std::pair<const char*, const std::map<std::string, Compliance>*>{"compliance_by_basis", &r.by_basis},
                         {"compliance_by_state", &r.by_state},
                         {"compliance_by_clock", &r.by_clock}}) {
    ReportJson o = ReportJson::object();
    for (const auto& [k, c] : *m) o[k] = ComplianceJson(c);
    j[name] = o;
  }
  ReportJson faults = ReportJson::array();
  for (const auto& f : r.faults) {
    ReportJson x;
    x["what"] = f.what;
    x["at_ms"] = f.at_ms;
    x["for_ms"] = f.for_ms;
    x["messages_held"] = f.messages_held;
    x["held_ms_total"] = f.held_ms_total;
    x["max_held_ms"] = f.max_held_ms;
    x["cases_affected"] = f.cases_affected;
    x["clocks_of_affected_cases"] = ComplianceJson(f.clocks);
    faults.push_back(x);
  }
  j["faults"] = faults;
  ReportJson days = ReportJson::array();
  for (size_t d = 0; d < r.days.size(); ++d) {
    const DayStats& s = r.days[d];
    int64_t backlog = 0, queued = 0;
    for (int32_t v : r.backlog[d]) backlog += v;
    for (int32_t v : r.queued[d]) queued += v;
    days.push_back({d, s.created, s.delivered, s.completed, s.messages, s.held, Ms(s.p50), Ms(s.p90), Ms(s.p99),
                    backlog, queued});
  }
  j["days_columns"] = {"day", "created", "delivered", "completed", "messages", "held", "p50_ms", "p90_ms",
                       "p99_ms", "backlog", "queued"};
  j["days"] = days;
  return j.dump(1) + "\n";
}

Status WriteReport(const Results& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create the output directory " + dir + ": " + ec.message());
  MLAHUB_RETURN_IF_ERROR(Write(dir, "metrics.json", MetricsJson(r)));

  std::string tp = "day,created,delivered,completed,messages,held\n";
  std::string lat = "day,completed,p50_days,p90_days,p99_days\n";
  for (size_t d = 0; d < r.days.size(); ++d) {
    const DayStats& s = r.days[d];
    tp += std::to_string(d) + "," + std::to_string(s.created) + "," + std::to_string(s.delivered) + "," +
          std::to_string(s.completed) + "," + std::to_string(s.messages) + "," + std::to_string(s.held) + "\n";
    lat += std::to_string(d) + "," + std::to_string(s.completed) + "," + Days(s.p50) + "," + Days(s.p90) + "," +
           Days(s.p99) + "\n";
  }
  MLAHUB_RETURN_IF_ERROR(Write(dir, "throughput.csv", tp));
  MLAHUB_RETURN_IF_ERROR(Write(dir, "latency.csv", lat));
  std::string lk = "kind,count,mean_days,p50_days,p90_days,p99_days,max_days\n";
  for (const auto& [k, p] : r.latency_by_kind)
    lk += k + "," + std::to_string(p.count) + "," + Days(p.mean) + "," + Days(p.p50) + "," + Days(p.p90) + "," +
          Days(p.p99) + "," + Days(p.max) + "\n";
  MLAHUB_RETURN_IF_ERROR(Write(dir, "latency_by_kind.csv", lk));
  std::string bl = "day,agent,open_cases,queued_messages\n";
  for (size_t d = 0; d < r.backlog.size(); ++d)
    for (size_t a = 0; a < r.agent_ids.size(); ++a)
      bl += std::to_string(d) + "," + r.agent_ids[a] + "," + std::to_string(r.backlog[d][a]) + "," +
            std::to_string(r.queued[d][a]) + "\n";
  MLAHUB_RETURN_IF_ERROR(Write(dir, "backlog.csv", bl));
  MLAHUB_RETURN_IF_ERROR(Write(dir, "compliance_by_basis.csv", ComplianceCsv("legal_basis", r.by_basis)));
  MLAHUB_RETURN_IF_ERROR(Write(dir, "compliance_by_state.csv", ComplianceCsv("requested_state", r.by_state)));
  MLAHUB_RETURN_IF_ERROR(Write(dir, "compliance_by_clock.csv", ComplianceCsv("clock", r.by_clock)));
  std::string fc =
      "fault,at_days,for_days,messages_held,mean_held_hours,max_held_hours,cases_affected,clocks_met,clocks_missed,"
      "clocks_pending,compliance\n";
  for (const auto& f : r.faults)
    fc += f.what + "," + Days(f.at_ms) + "," + Days(f.for_ms) + "," + std::to_string(f.messages_held) + "," +
          Fixed(f.messages_held ? f.held_ms_total / 3600000.0 / f.messages_held : 0, 3) + "," +
          Fixed(f.max_held_ms / 3600000.0, 3) + "," + std::to_string(f.cases_affected) + "," +
          std::to_string(f.clocks.met) + "," + std::to_string(f.clocks.missed) + "," +
          std::to_string(f.clocks.pending) + "," + Fixed(f.clocks.Rate(), 4) + "\n";
  MLAHUB_RETURN_IF_ERROR(Write(dir, "faults.csv", fc));

  // Plots.
  std::vector<double> x = DayAxis(r);
  svg::LineChart thr{"Throughput per day", "day", "per day", x, {}, FaultBands(r)};
  svg::Series created{"requests sent", {}}, completed{"answers received", {}}, messages{"broker messages", {}};
  for (const auto& s : r.days) {
    created.y.push_back(static_cast<double>(s.created));
    completed.y.push_back(static_cast<double>(s.completed));
    messages.y.push_back(static_cast<double>(s.messages));
  }
  thr.series = {created, completed, messages};
  MLAHUB_RETURN_IF_ERROR(Write(dir, "throughput.svg", svg::Render(thr)));

  svg::LineChart lc{"Latency: request sent to final answer (by day of answer)", "day", "days", x, {},
                    FaultBands(r)};
  svg::Series p50{"p50", {}}, p90{"p90", {}}, p99{"p99", {}};
  for (const auto& s : r.days) {
    p50.y.push_back(s.p50 < 0 ? -1 : s.p50 / kDayMs);
    p90.y.push_back(s.p90 < 0 ? -1 : s.p90 / kDayMs);
    p99.y.push_back(s.p99 < 0 ? -1 : s.p99 / kDayMs);
  }
  lc.series = {p50, p90, p99};
  MLAHUB_RETURN_IF_ERROR(Write(dir, "latency.svg", svg::Render(lc)));

  // Backlog: the total and the agents with the highest peaks.
  svg::LineChart bc{"Backlog: requests received and not yet answered, per agent", "day", "open requests", x, {},
                    FaultBands(r)};
  svg::Series total{"all agents / 10", {}};
  std::vector<std::pair<int64_t, size_t>> peaks;
  for (size_t a = 0; a < r.agent_ids.size(); ++a) {
    int64_t peak = 0;
    for (size_t d = 0; d < r.backlog.size(); ++d) peak = std::max<int64_t>(peak, r.backlog[d][a] + r.queued[d][a]);
    peaks.push_back({-peak, a});
  }
  std::sort(peaks.begin(), peaks.end());
  for (size_t d = 0; d < r.backlog.size(); ++d) {
    int64_t sum = 0;
    for (int32_t v : r.backlog[d]) sum += v;
    total.y.push_back(sum / 10.0);
  }
  bc.series.push_back(total);
  for (size_t i = 0; i < peaks.size() && i < 8; ++i) {
    size_t a = peaks[i].second;
    svg::Series s{r.agent_ids[a], {}};
    for (size_t d = 0; d < r.backlog.size(); ++d) s.y.push_back(r.backlog[d][a] + r.queued[d][a]);
    bc.series.push_back(s);
  }
  MLAHUB_RETURN_IF_ERROR(Write(dir, "backlog.svg", svg::Render(bc)));

  svg::BarChart by_basis{"Deadline compliance by legal basis (clocks met / met+missed)", true, {}};
  for (const auto& [k, c] : r.by_basis)
    by_basis.bars.push_back({k, c.Rate(), std::to_string(c.met + c.missed) + " clocks"});
  svg::BarChart by_clock{"Deadline compliance by clock", true, {}};
  for (const auto& [k, c] : r.by_clock)
    by_clock.bars.push_back({k, c.Rate(), std::to_string(c.met + c.missed) + " clocks"});
  std::vector<std::pair<double, std::string>> states;
  for (const auto& [k, c] : r.by_state) states.push_back({c.Rate(), k});
  std::sort(states.begin(), states.end());
  svg::BarChart by_state{states.size() > 40 ? "Deadline compliance by requested state (the 40 lowest)"
                                            : "Deadline compliance by requested state",
                         true, {}};
  for (size_t i = 0; i < states.size() && i < 40; ++i) {
    const Compliance& c = r.by_state.at(states[i].second);
    by_state.bars.push_back({states[i].second, c.Rate(), std::to_string(c.met + c.missed) + " clocks"});
  }
  MLAHUB_RETURN_IF_ERROR(Write(dir, "compliance.svg", svg::RenderStacked({by_basis, by_clock, by_state})));

  svg::BarChart fb{"Effect of each fault: mean hours a held message waited", false, {}};
  for (const auto& f : r.faults)
    fb.bars.push_back({f.what + " @" + Fixed(f.at_ms / kDayMs, 1) + "d",
                       f.messages_held ? f.held_ms_total / 3600000.0 / f.messages_held : 0,
                       std::to_string(f.messages_held) + " msgs, " + std::to_string(f.cases_affected) + " cases, " +
                           Fixed(100 * f.clocks.Rate(), 1) + "% on time"});
  svg::BarChart fc2{"Deadline compliance of the requests each fault touched", true, {}};
  for (const auto& f : r.faults)
    fc2.bars.push_back({f.what + " @" + Fixed(f.at_ms / kDayMs, 1) + "d", f.clocks.Rate(),
                        std::to_string(f.clocks.met + f.clocks.missed) + " clocks"});
  MLAHUB_RETURN_IF_ERROR(Write(dir, "faults.svg", svg::RenderStacked({fb, fc2})));
  return Status::Ok();
}

std::string SummaryTable(const Results& r, const std::string& out_dir) {
  std::string o;
  auto row = [&](const std::string& k, const std::string& v) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-32s %s\n", k.c_str(), v.c_str());
    o += buf;
  };
  o += "mlahub-sim: " + r.scenario + " (model engine, seed " + std::to_string(r.seed) + ")\n";
  row("states / agents", std::to_string(r.states) + " / " + std::to_string(r.agents));
  row("simulated", Fixed((r.duration_ms + r.drain_ms) / kDayMs, 1) + " days (arrivals for " +
                       Fixed(r.duration_ms / kDayMs, 1) + ")");
  row("requests sent", std::to_string(r.requests));
  row("delivered / answered", std::to_string(r.delivered) + " / " + std::to_string(r.completed));
  row("executed / refused", std::to_string(r.executed) + " / " + std::to_string(r.refused));
  row("further information asked", std::to_string(r.further_information));
  row("deadline extensions", std::to_string(r.extensions));
  row("open at the end", std::to_string(r.open_at_end));
  row("broker messages", std::to_string(r.messages));
  row("latency p50 / p90 / p99", Days(r.latency.p50) + " / " + Days(r.latency.p90) + " / " + Days(r.latency.p99) +
                                     " days");
  row("deadline compliance", Fixed(100 * r.compliance.Rate(), 2) + "% (" + std::to_string(r.compliance.met) +
                                 " met, " + std::to_string(r.compliance.missed) + " missed, " +
                                 std::to_string(r.compliance.pending) + " pending)");
  for (const auto& [k, c] : r.by_basis)
    row("  " + k, Fixed(100 * c.Rate(), 2) + "% of " + std::to_string(c.met + c.missed));
  for (const auto& f : r.faults)
    row("fault: " + f.what, "at " + Fixed(f.at_ms / kDayMs, 2) + "d for " + Fixed(f.for_ms / kDayMs, 2) + "d: " +
                                std::to_string(f.messages_held) + " messages held, " +
                                std::to_string(f.cases_affected) + " requests touched");
  if (r.workflow_rejections) row("WORKFLOW REJECTIONS", std::to_string(r.workflow_rejections));
  row("events", std::to_string(r.events) + " (" + std::to_string(r.arrival_candidates_rejected) +
                      " of them arrival candidates rejected by thinning)");
  row("wall time", Fixed(r.wall_seconds, 3) + " s");
  row("events/s", Fixed(r.wall_seconds > 0 ? r.events / r.wall_seconds : 0, 0));
  if (!out_dir.empty()) row("report", out_dir);
  return o;
}

std::string SummaryJson(const Results& r, const std::string& out_dir) {
  ReportJson j;
  j["scenario"] = r.scenario;
  j["engine"] = "model";
  j["seed"] = r.seed;
  j["states"] = r.states;
  j["agents"] = r.agents;
  j["requests"] = r.requests;
  j["delivered"] = r.delivered;
  j["completed"] = r.completed;
  j["executed"] = r.executed;
  j["refused"] = r.refused;
  j["open_at_end"] = r.open_at_end;
  j["messages"] = r.messages;
  j["latency"] = PercentilesJson(r.latency);
  j["compliance"] = ComplianceJson(r.compliance);
  j["workflow_rejections"] = r.workflow_rejections;
  j["events"] = r.events;
  j["wall_seconds"] = std::round(r.wall_seconds * 1e6) / 1e6;
  j["events_per_second"] = r.wall_seconds > 0 ? std::llround(r.events / r.wall_seconds) : 0;
  j["out"] = out_dir;
  return j.dump();
}

}  // namespace mlahub::sim
