#include "rules.h"

#include <algorithm>
#include <cmath>

#include "mlahub/workflow/deadlines.h"

namespace mlahub::sim::rules {

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return -1;
  size_t idx = static_cast<size_t>(std::ceil(p * v.size())) - (p > 0 ? 1 : 0);
  if (idx >= v.size()) idx = v.size() - 1;
  std::nth_element(v.begin(), v.begin() + idx, v.end());
  return v[idx];
}

Percentiles Summarise(std::vector<double> v) {
  Percentiles p;
  p.count = static_cast<int64_t>(v.size());
  if (v.empty()) return p;
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / v.size();
  p.max = *std::max_element(v.begin(), v.end());
  p.p50 = Percentile(v, 0.5);
  p.p90 = Percentile(v, 0.9);
  p.p99 = Percentile(v, 0.99);
  return p;
}


namespace {
constexpr int64_t kDay = workflow::kDayMs;
}

bool Matches(const std::vector<std::string>& sel, const State& s) {
  for (const auto& x : sel) {
    if (x == "*" || x == s.id) return true;
    if (x.rfind("group:", 0) == 0 &&
        std::find(s.groups.begin(), s.groups.end(), x.substr(6)) != s.groups.end())
      return true;
  }
  return false;
}

Rules::Rules(const Scenario& sc) : sc_(sc) {
  size_t n = sc_.states.size();
  for (size_t s = 0; s < n; ++s) {
    agent_base_.push_back(static_cast<uint32_t>(agent_ids_.size()));
    for (const auto& a : sc_.states[s].authorities) {
      agent_ids_.push_back(a.id);
      agent_state_.push_back(static_cast<uint32_t>(s));
    }
  }
  // Pair rates: the sender's rate spread by the recipients' weights, then the pair rules.
  double total_weight = 0;
  for (const auto& s : sc_.states) total_weight += s.weight;
  std::vector<std::vector<bool>> from_match(sc_.pairs.size()), to_match(sc_.pairs.size());
  for (size_t r = 0; r < sc_.pairs.size(); ++r)
    for (size_t s = 0; s < n; ++s) {
      from_match[r].push_back(Matches(sc_.pairs[r].from, sc_.states[s]));
      to_match[r].push_back(Matches(sc_.pairs[r].to, sc_.states[s]));
    }
  senders_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Sender& snd = senders_[i];
    const State& si = sc_.states[i];
    double others = total_weight - si.weight;
    double acc = 0;
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double rate = others > 0 ? si.requests_per_day * sc_.states[j].weight / others : 0;
      int mix = si.mix;
      for (size_t r = 0; r < sc_.pairs.size(); ++r) {
        if (!from_match[r][i] || !to_match[r][j]) continue;
        const PairRule& pr = sc_.pairs[r];
        if (pr.rate_per_day >= 0) rate = pr.rate_per_day;
        rate *= pr.rate_factor;
        if (pr.mix >= 0) mix = pr.mix;
      }
      if (rate <= 0) continue;
      acc += rate;
      snd.to.push_back(static_cast<uint32_t>(j));
      snd.cum.push_back(acc);
      snd.mix.push_back(static_cast<uint16_t>(mix));
    }
    snd.base = acc;
    double burst_max = 1;
    for (size_t b = 0; b < sc_.bursts.size(); ++b)
      if (sc_.bursts[b].states.empty() || Matches(sc_.bursts[b].states, si)) {
        snd.bursts.push_back(static_cast<uint32_t>(b));
        burst_max *= std::max(1.0, sc_.bursts[b].factor);
      }
    snd.max_factor = *std::max_element(std::begin(sc_.daily), std::end(sc_.daily)) *
                     *std::max_element(std::begin(sc_.weekly), std::end(sc_.weekly)) * burst_max;
  }
}

int64_t Rules::Work(uint32_t s, int64_t t) const {
  const State& st = sc_.states[s];
  const WorkingHours& w = sc_.profiles[st.profile].hours;
  if (w.always) return t;
  int64_t local = t + st.utc_offset_ms;
  for (int i = 0; i < 9; ++i) {
    int64_t day = local >= 0 ? local / kDay : (local - kDay + 1) / kDay;
    int dow = static_cast<int>(((day + 3) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
    int64_t tod = local - day * kDay;
    if (w.days[dow]) {
      if (tod < w.start_ms) return day * kDay + w.start_ms - st.utc_offset_ms;
      if (tod < w.end_ms) return local - st.utc_offset_ms;
    }
    local = (day + 1) * kDay;  // midnight of the next day
  }
  return local - st.utc_offset_ms;
}

double Rules::RateFactor(uint32_t sender, int64_t t) const {
  const State& st = sc_.states[sender];
  int64_t local = t + st.utc_offset_ms;
  int64_t day = local >= 0 ? local / kDay : (local - kDay + 1) / kDay;
  int dow = static_cast<int>(((day + 3) % 7 + 7) % 7);
  int hour = static_cast<int>((local - day * kDay) / workflow::kHourMs);
  double f = sc_.daily[hour] * sc_.weekly[dow];
  int64_t rel = t - sc_.start_ms;
  for (uint32_t b : senders_[sender].bursts) {
    const Burst& bu = sc_.bursts[b];
    if (rel >= bu.at_ms && rel < bu.at_ms + bu.for_ms) f *= bu.factor;
  }
  return f;
}

uint32_t Rules::Route(uint32_t state, K kind) const {
  const auto& auths = sc_.states[state].authorities;
  for (size_t i = 0; i < auths.size(); ++i)
    if (std::find(auths[i].kinds.begin(), auths[i].kinds.end(), kind) != auths[i].kinds.end())
      return agent_base_[state] + static_cast<uint32_t>(i);
  for (size_t i = 0; i < auths.size(); ++i)
    if (auths[i].kinds.empty()) return agent_base_[state] + static_cast<uint32_t>(i);
  return agent_base_[state];
}

int64_t Rules::Later(Random& rng, uint32_t s, int64_t t, const Distribution& d) const {
  double v = std::min(rng.Sample(d), 100.0 * 365 * kDay);
  return Work(s, t + static_cast<int64_t>(std::llround(v)));
}

bool Rules::DrawArrival(Random& rng, uint32_t s, int64_t t, Arrival* out) const {
  const Sender& snd = senders_[s];
  if (!(rng.Uniform() * snd.max_factor < RateFactor(s, t))) return false;
  double u = rng.Uniform() * snd.base;
  size_t k = std::upper_bound(snd.cum.begin(), snd.cum.end(), u) - snd.cum.begin();
  if (k >= snd.to.size()) k = snd.to.size() - 1;
  const Mix& mix = sc_.mixes[snd.mix[k]];
  double total = 0;
  for (const auto& e : mix.entries) total += e.share;
  double x = rng.Uniform() * total;
  const MixEntry* pick = &mix.entries.back();
  for (const auto& e : mix.entries) {
    if (x < e.share) {
      pick = &e;
      break;
    }
    x -= e.share;
  }
  out->to = snd.to[k];
  out->what = pick;
  return true;
}

int64_t Rules::NextCandidate(Random& rng, uint32_t s, int64_t t) const {
  const Sender& snd = senders_[s];
  double mean_gap = static_cast<double>(kDay) / (snd.base * snd.max_factor);
  return t + 1 + static_cast<int64_t>(rng.Exponential(mean_gap));
}

void Rules::DrawFlags(Random& rng, const MixEntry& e, bool* urgent, bool* provisional) const {
  *urgent = rng.Uniform() < e.urgent;
  *provisional = rng.Uniform() < e.provisional_measures;
}

Decision Rules::DrawDecision(Random& rng, const Profile& p, bool fi_done, bool verification) const {
  if (!fi_done && rng.Uniform() < p.further_information_rate) return Decision::kFurtherInformation;
  if (verification) return Decision::kVerified;
  if (rng.Uniform() < p.refusal_rate) return Decision::kRefuse;
  return Decision::kExecute;
}

int64_t Rules::DrawEvidenceSize(Random& rng) const {
  return std::max<int64_t>(sc_.message_size,
                           static_cast<int64_t>(std::min(rng.Sample(sc_.evidence_size), 1e13)));
}

}  // namespace mlahub::sim::rules
