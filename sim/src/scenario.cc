#include "mlahub/sim/scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "mlahub/core/file.h"

namespace mlahub::sim {

namespace {

namespace fs = std::filesystem;
using K = wire::MessageKind;
using B = wire::LegalBasis;

constexpr size_t kMaxScenarioBytes = 16 << 20;
// Bounds that keep a run within memory and time: requests per day of one
// state or pair, and the same for a pair's rate factor.
constexpr double kMaxRate = 10000;
constexpr const char* kRateTooHigh = "must be at most 10000 (requests per day)";

// Error context: the file name and the key path being read.
struct Ctx {
  std::string origin;
  std::string dir;

  Status Err(const toml::node* n, const std::string& key, const std::string& msg) const {
    uint32_t line = n != nullptr ? n->source().begin.line : 0;
    return Status::InvalidArgument(origin + ":" + std::to_string(line) + ": " + key + ": " + msg);
  }
};

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

Status CheckKeys(const Ctx& c, const toml::table& t, const std::string& path,
                 const std::vector<std::string>& known) {
  for (auto&& [k, n] : t) {
    std::string name(k.str());
    if (std::find(known.begin(), known.end(), name) == known.end())
      return c.Err(&n, path.empty() ? name : path + "." + name,
                   "unknown key (known here: " + Join(known) + ")");
  }
  return Status::Ok();
}

std::string Sub(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

Result<double> Number(const Ctx& c, const toml::node& n, const std::string& key) {
  if (auto v = n.value<double>(); v && (n.is_integer() || n.is_floating_point())) {
    if (!std::isfinite(*v)) return c.Err(&n, key, "must be a finite number");
    return *v;
  }
  return c.Err(&n, key, "must be a number");
}

Result<double> NonNegative(const Ctx& c, const toml::node& n, const std::string& key) {
  MLAHUB_ASSIGN_OR_RETURN(double v, Number(c, n, key));
  if (v < 0) return c.Err(&n, key, "must not be negative");
  return v;
}

Result<double> Probability(const Ctx& c, const toml::node& n, const std::string& key) {
  MLAHUB_ASSIGN_OR_RETURN(double v, Number(c, n, key));
  if (v < 0 || v > 1) return c.Err(&n, key, "must be a probability between 0 and 1");
  return v;
}

Result<std::string> String(const Ctx& c, const toml::node& n, const std::string& key) {
  if (!n.is_string()) return c.Err(&n, key, "must be a string (in double quotes)");
  return std::string(*n.value<std::string_view>());
}

Result<int64_t> Duration(const Ctx& c, const toml::node& n, const std::string& key) {
  MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, n, key));
  auto d = ParseSimDuration(s);
  if (!d.ok()) return c.Err(&n, key, d.status().message());
  return *d;
}

Result<std::vector<std::string>> Strings(const Ctx& c, const toml::node& n, const std::string& key) {
  const toml::array* a = n.as_array();
  if (a == nullptr) return c.Err(&n, key, "must be a list of strings, e.g. [\"a\", \"b\"]");
  std::vector<std::string> out;
  for (size_t i = 0; i < a->size(); ++i) {
    MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, *a->get(i), key + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  return out;
}

const toml::table* Table(const toml::node& n) { return n.as_table(); }

Result<K> Kind(const Ctx& c, const toml::node& n, const std::string& key) {
  MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, n, key));
  for (int v = 1; v <= 10; ++v)
    if (s == wire::EnumNameMessageKind(static_cast<K>(v))) return static_cast<K>(v);
  std::vector<std::string> names;
  for (int v = 1; v <= 10; ++v) names.push_back(wire::EnumNameMessageKind(static_cast<K>(v)));
  return c.Err(&n, key, "unknown request kind '" + s + "' (kinds: " + Join(names) + ")");
}

Result<B> Basis(const Ctx& c, const toml::node& n, const std::string& key) {
  MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, n, key));
  for (int v = 1; v <= 10; ++v)
    if (s == wire::EnumNameLegalBasis(static_cast<B>(v))) return static_cast<B>(v);
  std::vector<std::string> names;
  for (int v = 1; v <= 10; ++v) names.push_back(wire::EnumNameLegalBasis(static_cast<B>(v)));
  return c.Err(&n, key, "unknown legal basis '" + s + "' (bases: " + Join(names) + ")");
}

// { dist = "lognormal", median = "2d", sigma = 0.8 } and friends; `size` reads
// sizes ("20MB") instead of durations. A bare string is a fixed value.
Result<Distribution> Dist(const Ctx& c, const toml::node& n, const std::string& key, bool size) {
  auto value = [&](const toml::node& v, const std::string& k) -> Result<double> {
    if (size) {
      MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, v, k));
      auto b = ParseSize(s);
      if (!b.ok()) return c.Err(&v, k, b.status().message());
      return *b;
    }
    MLAHUB_ASSIGN_OR_RETURN(int64_t ms, Duration(c, v, k));
    return static_cast<double>(ms);
  };
  Distribution d;
  if (n.is_string()) {
    d.kind = Distribution::Kind::kFixed;
    MLAHUB_ASSIGN_OR_RETURN(d.a, value(n, key));
    return d;
  }
  const toml::table* t = Table(n);
  if (t == nullptr)
    return c.Err(&n, key,
                 "must be a distribution: { dist = \"lognormal\", median = ..., sigma = ... }, "
                 "{ dist = \"exponential\", mean = ... }, { dist = \"uniform\", min = ..., max = ... } "
                 "or { dist = \"fixed\", value = ... }");
  const toml::node* dn = t->get("dist");
  if (dn == nullptr) return c.Err(&n, key, "missing 'dist' (fixed, exponential, lognormal, uniform)");
  MLAHUB_ASSIGN_OR_RETURN(std::string dist, String(c, *dn, key + ".dist"));
  auto need = [&](const char* f) -> Result<const toml::node*> {
    const toml::node* v = t->get(f);
    if (v == nullptr) return c.Err(&n, key, "a " + dist + " distribution needs '" + f + "'");
    return v;
  };
  if (dist == "fixed") {
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"dist", "value"}));
    MLAHUB_ASSIGN_OR_RETURN(auto v, need("value"));
    d.kind = Distribution::Kind::kFixed;
    MLAHUB_ASSIGN_OR_RETURN(d.a, value(*v, key + ".value"));
  } else if (dist == "exponential") {
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"dist", "mean"}));
    MLAHUB_ASSIGN_OR_RETURN(auto v, need("mean"));
    d.kind = Distribution::Kind::kExponential;
    MLAHUB_ASSIGN_OR_RETURN(d.a, value(*v, key + ".mean"));
  } else if (dist == "lognormal") {
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"dist", "median", "sigma"}));
    MLAHUB_ASSIGN_OR_RETURN(auto v, need("median"));
    MLAHUB_ASSIGN_OR_RETURN(auto s, need("sigma"));
    d.kind = Distribution::Kind::kLognormal;
    MLAHUB_ASSIGN_OR_RETURN(d.a, value(*v, key + ".median"));
    MLAHUB_ASSIGN_OR_RETURN(d.b, NonNegative(c, *s, key + ".sigma"));
    if (d.b > 5) return c.Err(s, key + ".sigma", "must be at most 5");
  } else if (dist == "uniform") {
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"dist", "min", "max"}));
    MLAHUB_ASSIGN_OR_RETURN(auto lo, need("min"));
    MLAHUB_ASSIGN_OR_RETURN(auto hi, need("max"));
    d.kind = Distribution::Kind::kUniform;
    MLAHUB_ASSIGN_OR_RETURN(d.a, value(*lo, key + ".min"));
    MLAHUB_ASSIGN_OR_RETURN(d.b, value(*hi, key + ".max"));
    if (d.b < d.a) return c.Err(hi, key + ".max", "must not be less than min");
  } else {
    return c.Err(dn, key + ".dist",
                 "unknown distribution '" + dist + "' (fixed, exponential, lognormal, uniform)");
  }
  return d;
}

Result<int64_t> ClockTime(const Ctx& c, const toml::node& n, const std::string& key) {
  MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, n, key));
  auto colon = s.find(':');
  int h = -1, m = -1;
  if (colon != std::string::npos && s.size() - colon == 3) {
    try {
      h = std::stoi(s.substr(0, colon));
      m = std::stoi(s.substr(colon + 1));
    } catch (...) {
      h = -1;
    }
  }
  if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0))
    return c.Err(&n, key, "must be a time of day \"HH:MM\", e.g. \"08:30\"");
  return (h * 60 + m) * 60 * 1000LL;
}

Result<WorkingHours> Hours(const Ctx& c, const toml::node& n, const std::string& key) {
  WorkingHours w;
  if (n.is_string() && *n.value<std::string_view>() == "always") return w;
  const toml::table* t = Table(n);
  if (t == nullptr)
    return c.Err(&n, key, "must be \"always\" or { days = \"Mon-Fri\", start = \"08:00\", end = \"17:00\" }");
  MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"days", "start", "end"}));
  w.always = false;
  static const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  auto day = [&](std::string_view s) {
    for (int i = 0; i < 7; ++i)
      if (s == kDays[i]) return i;
    return -1;
  };
  std::string days = "Mon-Fri";
  if (auto* d = t->get("days")) {
    MLAHUB_ASSIGN_OR_RETURN(days, String(c, *d, key + ".days"));
  }
  // "Mon-Fri", "Sun-Thu", "Mon,Wed,Fri"
  size_t pos = 0;
  bool any = false;
  while (pos <= days.size()) {
    size_t comma = days.find(',', pos);
    std::string part = days.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = part.find('-');
    int a = day(part.substr(0, dash));
    int b = dash == std::string::npos ? a : day(part.substr(dash + 1));
    if (a < 0 || b < 0)
      return c.Err(t->get("days"), key + ".days",
                   "'" + days + "' is not a list of days like \"Mon-Fri\" or \"Sun-Thu\" or \"Mon,Wed\"");
    for (int i = a;; i = (i + 1) % 7) {
      w.days[i] = true;
      any = true;
      if (i == b) break;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (!any) return c.Err(&n, key + ".days", "no working day");
  w.start_ms = 8 * 3600 * 1000LL;
  w.end_ms = 17 * 3600 * 1000LL;
  if (auto* s = t->get("start")) {
    MLAHUB_ASSIGN_OR_RETURN(w.start_ms, ClockTime(c, *s, key + ".start"));
  }
  if (auto* e = t->get("end")) {
    MLAHUB_ASSIGN_OR_RETURN(w.end_ms, ClockTime(c, *e, key + ".end"));
  }
  if (w.end_ms <= w.start_ms) return c.Err(&n, key, "end must be later than start");
  return w;
}

Result<std::vector<double>> Weights(const Ctx& c, const toml::node& n, const std::string& key,
                                    size_t count) {
  const toml::array* a = n.as_array();
  if (a == nullptr || a->size() != count)
    return c.Err(&n, key, "must be a list of " + std::to_string(count) + " numbers");
  std::vector<double> w;
  double sum = 0;
  for (size_t i = 0; i < count; ++i) {
    MLAHUB_ASSIGN_OR_RETURN(double v, NonNegative(c, *a->get(i), key + "[" + std::to_string(i) + "]"));
    w.push_back(v);
    sum += v;
  }
  if (sum <= 0) return c.Err(&n, key, "needs at least one weight above 0");
  for (double& v : w) v = v * count / sum;
  return w;
}

Result<Profile> ParseProfile(const Ctx& c, const toml::table& t, const std::string& key,
                             const std::string& name) {
  MLAHUB_RETURN_IF_ERROR(CheckKeys(c, t, key,
                                   {"acknowledge", "decide", "execute", "verify", "surrender", "reply",
                                    "refusal_rate", "further_information_rate", "extension_rate", "working_hours"}));
  Profile p;
  p.name = name;
  struct D {
    const char* k;
    Distribution* d;
    double def_ms;
  } ds[] = {{"acknowledge", &p.acknowledge, 2.0 * workflow::kDayMs},
            {"decide", &p.decide, 20.0 * workflow::kDayMs},
            {"execute", &p.execute, 60.0 * workflow::kDayMs},
            {"verify", &p.verify, 10.0 * workflow::kDayMs},
            {"surrender", &p.surrender, 7.0 * workflow::kDayMs},
            {"reply", &p.reply, 10.0 * workflow::kDayMs}};
  for (auto& d : ds) {
    d.d->kind = Distribution::Kind::kFixed;
    d.d->a = d.def_ms;
    if (auto* n = t.get(d.k)) {
      MLAHUB_ASSIGN_OR_RETURN(*d.d, Dist(c, *n, Sub(key, d.k), false));
    }
  }
  if (auto* n = t.get("refusal_rate")) {
    MLAHUB_ASSIGN_OR_RETURN(p.refusal_rate, Probability(c, *n, Sub(key, "refusal_rate")));
  }
  if (auto* n = t.get("further_information_rate")) {
    MLAHUB_ASSIGN_OR_RETURN(p.further_information_rate,
                            Probability(c, *n, Sub(key, "further_information_rate")));
  }
  if (auto* n = t.get("extension_rate")) {
    MLAHUB_ASSIGN_OR_RETURN(p.extension_rate, Probability(c, *n, Sub(key, "extension_rate")));
  }
  if (auto* n = t.get("working_hours")) {
    MLAHUB_ASSIGN_OR_RETURN(p.hours, Hours(c, *n, Sub(key, "working_hours")));
  }
  return p;
}

Result<MixEntry> ParseMixEntry(const Ctx& c, const toml::node& n, const std::string& key, bool scripted) {
  const toml::table* t = Table(n);
  if (t == nullptr) return c.Err(&n, key, "must be a table { kind = ..., basis = ..., share = ... }");
  std::vector<std::string> known = {"kind", "basis", "urgent", "provisional_measures", "requested_deadline"};
  if (scripted) {
    for (const char* k : {"at", "from", "to"}) known.push_back(k);
  } else {
    known.push_back("share");
  }
  MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, known));
  MixEntry e;
  const toml::node* kn = t->get("kind");
  if (kn == nullptr) return c.Err(&n, key, "missing 'kind'");
  MLAHUB_ASSIGN_OR_RETURN(e.kind, Kind(c, *kn, key + ".kind"));
  const toml::node* bn = t->get("basis");
  if (bn == nullptr) return c.Err(&n, key, "missing 'basis' (the legal basis, e.g. \"Untoc\")");
  MLAHUB_ASSIGN_OR_RETURN(e.basis, Basis(c, *bn, key + ".basis"));
  if (!scripted) {
    const toml::node* sn = t->get("share");
    if (sn == nullptr) return c.Err(&n, key, "missing 'share'");
    MLAHUB_ASSIGN_OR_RETURN(e.share, NonNegative(c, *sn, key + ".share"));
  }
  if (auto* u = t->get("urgent")) {
    if (scripted && u->is_boolean()) {
      e.urgent = *u->value<bool>() ? 1 : 0;
    } else {
      MLAHUB_ASSIGN_OR_RETURN(e.urgent, Probability(c, *u, key + ".urgent"));
    }
  }
  if (auto* u = t->get("provisional_measures")) {
    if (scripted && u->is_boolean()) {
      e.provisional_measures = *u->value<bool>() ? 1 : 0;
    } else {
      MLAHUB_ASSIGN_OR_RETURN(e.provisional_measures, Probability(c, *u, key + ".provisional_measures"));
    }
  }
  if (auto* u = t->get("requested_deadline")) {
    MLAHUB_ASSIGN_OR_RETURN(e.requested_deadline_ms, Duration(c, *u, key + ".requested_deadline"));
  }
  return e;
}

// Every key of the top level and of the sections, for CheckKeys.
const std::vector<std::string> kTop = {"name",    "seed",     "start",          "duration", "drain",
                                       "policy",  "network",  "evidence",       "arrivals", "defaults",
                                       "profiles", "mixes",   "states",         "pairs",    "outages",
                                       "broker_crashes", "requests", "live"};

Result<Scenario> Parse(const Ctx& c, const toml::table& doc) {
  Scenario sc;
  sc.file = c.origin;
  MLAHUB_RETURN_IF_ERROR(CheckKeys(c, doc, "", kTop));
  auto top = [&](const char* k) { return doc.get(k); };

  sc.name = fs::path(c.origin).stem().string();
  if (auto* n = top("name")) {
    MLAHUB_ASSIGN_OR_RETURN(sc.name, String(c, *n, "name"));
  }
  if (auto* n = top("seed")) {
    if (!n->is_integer() || *n->value<int64_t>() < 0)
      return c.Err(n, "seed", "must be a non-negative integer");
    sc.seed = static_cast<uint64_t>(*n->value<int64_t>());
  }
  sc.start_ms = 1767571200000LL;  // 2026-01-05T00:00:00Z, a Monday
  if (auto* n = top("start")) {
    const auto* dt = n->as_date_time();
    if (dt == nullptr || !dt->get().offset)
      return c.Err(n, "start", "must be a TOML date-time with offset, e.g. 2026-01-05T00:00:00Z");
    const toml::date_time& v = dt->get();
    // days from civil (Howard Hinnant's algorithm)
    int y = v.date.year, m = v.date.month, d = v.date.day;
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = static_cast<unsigned>(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097LL + doe - 719468;
    sc.start_ms = ((days * 24 + v.time.hour) * 60 + v.time.minute) * 60000LL + v.time.second * 1000LL -
                  v.offset->minutes * 60000LL;
  }
  const toml::node* dn = top("duration");
  if (dn == nullptr) return c.Err(&doc, "duration", "missing (how long requests arrive, e.g. \"365d\")");
  MLAHUB_ASSIGN_OR_RETURN(sc.duration_ms, Duration(c, *dn, "duration"));
  if (sc.duration_ms <= 0) return c.Err(dn, "duration", "must be longer than 0");
  if (sc.duration_ms > 20 * 365 * workflow::kDayMs) return c.Err(dn, "duration", "must be at most 20 years");
  if (auto* n = top("drain")) {
    MLAHUB_ASSIGN_OR_RETURN(sc.drain_ms, Duration(c, *n, "drain"));
  }

  sc.policy = workflow::DefaultPolicy();
  if (auto* n = top("policy")) {
    MLAHUB_ASSIGN_OR_RETURN(std::string p, String(c, *n, "policy"));
    fs::path path(p);
    if (path.is_relative()) path = fs::path(c.dir) / path;
    sc.policy_file = path.string();
    auto bytes = ReadFile(sc.policy_file, 1 << 20);
    if (!bytes.ok()) return c.Err(n, "policy", "cannot read " + sc.policy_file + ": " + bytes.status().message());
    auto pol = workflow::ParsePolicy(AsString(*bytes), sc.policy_file, workflow::DefaultPolicy());
    if (!pol.ok()) return c.Err(n, "policy", pol.status().message());
    sc.policy = std::move(*pol);
  }

  if (auto* n = top("live")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "live", "must be a section [live]");
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, "live", {"clock_rate", "drain_timeout", "network"}));
    if (auto* v = t->get("network")) {
      MLAHUB_ASSIGN_OR_RETURN(std::string mode, String(c, *v, "live.network"));
      if (mode != "scaled" && mode != "real")
        return c.Err(v, "live.network", "must be \"scaled\" (network delay in simulated time) or \"real\" (in real time)");
      sc.live_network_real = mode == "real";
    }
    if (auto* v = t->get("clock_rate")) {
      MLAHUB_ASSIGN_OR_RETURN(sc.live_clock_rate, Number(c, *v, "live.clock_rate"));
      if (!(sc.live_clock_rate >= 1) || sc.live_clock_rate > 1e8)
        return c.Err(v, "live.clock_rate", "must be between 1 and 1e8 (simulated ms per real ms)");
    }
    if (auto* v = t->get("drain_timeout")) {
      MLAHUB_ASSIGN_OR_RETURN(sc.live_drain_timeout_ms, Duration(c, *v, "live.drain_timeout"));
      if (sc.live_drain_timeout_ms <= 0) return c.Err(v, "live.drain_timeout", "must be longer than 0");
    }
  }

  if (auto* n = top("network")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "network", "must be a section [network]");
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, "network", {"delay", "jitter", "bandwidth_mbps", "request_size", "message_size"}));
    if (auto* v = t->get("delay")) {
      MLAHUB_ASSIGN_OR_RETURN(sc.delay_ms, Duration(c, *v, "network.delay"));
    }
    if (auto* v = t->get("jitter")) {
      MLAHUB_ASSIGN_OR_RETURN(sc.jitter_ms, Duration(c, *v, "network.jitter"));
    }
    if (auto* v = t->get("bandwidth_mbps")) {
      MLAHUB_ASSIGN_OR_RETURN(double mbps, NonNegative(c, *v, "network.bandwidth_mbps"));
      sc.bandwidth_bps = mbps * 1e6 / 8;
    }
    for (auto [k, dst] : {std::pair<const char*, int64_t*>{"request_size", &sc.request_size},
                          {"message_size", &sc.message_size}}) {
      if (auto* v = t->get(k)) {
        MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, *v, std::string("network.") + k));
        auto b = ParseSize(s);
        if (!b.ok()) return c.Err(v, std::string("network.") + k, b.status().message());
        *dst = static_cast<int64_t>(*b);
      }
    }
  }
  sc.evidence_size = {Distribution::Kind::kLognormal, 20e6, 1.0};
  if (auto* n = top("evidence")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "evidence", "must be a section [evidence]");
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, "evidence", {"size"}));
    if (auto* v = t->get("size")) {
      MLAHUB_ASSIGN_OR_RETURN(sc.evidence_size, Dist(c, *v, "evidence.size", true));
    }
  }

  std::fill(std::begin(sc.daily), std::end(sc.daily), 1.0);
  std::fill(std::begin(sc.weekly), std::end(sc.weekly), 1.0);
  if (auto* n = top("arrivals")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "arrivals", "must be a section [arrivals]");
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, "arrivals", {"daily", "weekly", "bursts"}));
    if (auto* v = t->get("daily")) {
      MLAHUB_ASSIGN_OR_RETURN(auto w, Weights(c, *v, "arrivals.daily", 24));
      std::copy(w.begin(), w.end(), sc.daily);
    }
    if (auto* v = t->get("weekly")) {
      MLAHUB_ASSIGN_OR_RETURN(auto w, Weights(c, *v, "arrivals.weekly", 7));
      std::copy(w.begin(), w.end(), sc.weekly);
    }
    if (auto* v = t->get("bursts")) {
      const toml::array* a = v->as_array();
      if (a == nullptr) return c.Err(v, "arrivals.bursts", "must be a list of tables ([[arrivals.bursts]])");
      for (size_t i = 0; i < a->size(); ++i) {
        std::string key = "arrivals.bursts[" + std::to_string(i) + "]";
        const toml::table* bt = a->get(i)->as_table();
        if (bt == nullptr) return c.Err(a->get(i), key, "must be a table");
        MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *bt, key, {"states", "at", "for", "factor", "name"}));
        Burst b;
        for (const char* req : {"at", "for", "factor"})
          if (bt->get(req) == nullptr) return c.Err(a->get(i), key, std::string("missing '") + req + "'");
        MLAHUB_ASSIGN_OR_RETURN(b.at_ms, Duration(c, *bt->get("at"), key + ".at"));
        MLAHUB_ASSIGN_OR_RETURN(b.for_ms, Duration(c, *bt->get("for"), key + ".for"));
        MLAHUB_ASSIGN_OR_RETURN(b.factor, NonNegative(c, *bt->get("factor"), key + ".factor"));
        if (b.factor > 1000) return c.Err(bt->get("factor"), key + ".factor", "must be at most 1000");
        if (auto* s = bt->get("states")) {
          MLAHUB_ASSIGN_OR_RETURN(b.states, Strings(c, *s, key + ".states"));
        }
        sc.bursts.push_back(std::move(b));
      }
    }
  }

  // profiles and mixes: named tables
  std::vector<const toml::node*> profile_nodes, mix_nodes;
  if (auto* n = top("profiles")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "profiles", "must be tables [profiles.NAME]");
    for (auto&& [k, v] : *t) {
      std::string key = "profiles." + std::string(k.str());
      const toml::table* pt = v.as_table();
      if (pt == nullptr) return c.Err(&v, key, "must be a table [" + key + "]");
      MLAHUB_ASSIGN_OR_RETURN(Profile p, ParseProfile(c, *pt, key, std::string(k.str())));
      sc.profiles.push_back(std::move(p));
    }
  }
  if (sc.profiles.empty()) {
    Profile p;
    p.name = "default";
    auto fixed = [](double ms) { return Distribution{Distribution::Kind::kFixed, ms, 0}; };
    p.acknowledge = fixed(2.0 * workflow::kDayMs);
    p.decide = fixed(20.0 * workflow::kDayMs);
    p.execute = fixed(60.0 * workflow::kDayMs);
    p.verify = fixed(10.0 * workflow::kDayMs);
    p.surrender = fixed(7.0 * workflow::kDayMs);
    p.reply = fixed(10.0 * workflow::kDayMs);
    sc.profiles.push_back(p);
  }
  if (auto* n = top("mixes")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "mixes", "must be lists [[mixes.NAME]]");
    for (auto&& [k, v] : *t) {
      std::string key = "mixes." + std::string(k.str());
      const toml::array* a = v.as_array();
      if (a == nullptr || a->empty())
        return c.Err(&v, key, "must be a non-empty list of { kind, basis, share } ([[" + key + "]])");
      Mix m;
      m.name = std::string(k.str());
      double sum = 0;
      for (size_t i = 0; i < a->size(); ++i) {
        MLAHUB_ASSIGN_OR_RETURN(MixEntry e, ParseMixEntry(c, *a->get(i), key + "[" + std::to_string(i) + "]", false));
        sum += e.share;
        m.entries.push_back(e);
      }
      if (sum <= 0) return c.Err(&v, key, "the shares sum to 0");
      sc.mixes.push_back(std::move(m));
    }
  }
  if (sc.mixes.empty()) sc.mixes.push_back({"default", {MixEntry{}}});
  auto find_profile = [&](const toml::node& n, const std::string& key) -> Result<int> {
    MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, n, key));
    std::vector<std::string> names;
    for (size_t i = 0; i < sc.profiles.size(); ++i) {
      if (sc.profiles[i].name == s) return static_cast<int>(i);
      names.push_back(sc.profiles[i].name);
    }
    return c.Err(&n, key, "unknown profile '" + s + "' (profiles: " + Join(names) + ")");
  };
  auto find_mix = [&](const toml::node& n, const std::string& key) -> Result<int> {
    MLAHUB_ASSIGN_OR_RETURN(std::string s, String(c, n, key));
    std::vector<std::string> names;
    for (size_t i = 0; i < sc.mixes.size(); ++i) {
      if (sc.mixes[i].name == s) return static_cast<int>(i);
      names.push_back(sc.mixes[i].name);
    }
    return c.Err(&n, key, "unknown mix '" + s + "' (mixes: " + Join(names) + ")");
  };

  // defaults for states
  State def;
  def.requests_per_day = 0;
  if (auto* n = top("defaults")) {
    const toml::table* t = Table(*n);
    if (t == nullptr) return c.Err(n, "defaults", "must be a section [defaults]");
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, "defaults", {"profile", "mix", "requests_per_day", "weight", "utc_offset"}));
    if (auto* v = t->get("profile")) {
      MLAHUB_ASSIGN_OR_RETURN(def.profile, find_profile(*v, "defaults.profile"));
    }
    if (auto* v = t->get("mix")) {
      MLAHUB_ASSIGN_OR_RETURN(def.mix, find_mix(*v, "defaults.mix"));
    }
    if (auto* v = t->get("requests_per_day")) {
      MLAHUB_ASSIGN_OR_RETURN(def.requests_per_day, NonNegative(c, *v, "defaults.requests_per_day"));
      if (def.requests_per_day > kMaxRate) return c.Err(v, "defaults.requests_per_day", kRateTooHigh);
    }
    if (auto* v = t->get("weight")) {
      MLAHUB_ASSIGN_OR_RETURN(def.weight, NonNegative(c, *v, "defaults.weight"));
    }
    if (auto* v = t->get("utc_offset")) {
      MLAHUB_ASSIGN_OR_RETURN(double h, Number(c, *v, "defaults.utc_offset"));
      if (h < -12 || h > 14) return c.Err(v, "defaults.utc_offset", "must be hours between -12 and +14");
      def.utc_offset_ms = static_cast<int64_t>(std::llround(h * 3600000.0));
    }
  }

  const toml::node* sn = top("states");
  if (sn == nullptr || sn->as_array() == nullptr || sn->as_array()->size() < 2)
    return c.Err(sn != nullptr ? sn : &doc, "states", "needs at least two states ([[states]] id = \"IT\" ...)");
  std::set<std::string> state_ids, agent_ids, groups;
  const toml::array& sa = *sn->as_array();
  for (size_t i = 0; i < sa.size(); ++i) {
    std::string key = "states[" + std::to_string(i) + "]";
    const toml::table* t = sa.get(i)->as_table();
    if (t == nullptr) return c.Err(sa.get(i), key, "must be a table");
    MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"id", "authorities", "groups", "profile", "mix", "requests_per_day",
                                                  "weight", "utc_offset"}));
    State s = def;
    const toml::node* id = t->get("id");
    if (id == nullptr) return c.Err(sa.get(i), key, "missing 'id'");
    MLAHUB_ASSIGN_OR_RETURN(s.id, String(c, *id, key + ".id"));
    if (s.id.empty() || s.id.find(':') != std::string::npos || s.id == "*")
      return c.Err(id, key + ".id", "must be a non-empty name without ':'");
    if (!state_ids.insert(s.id).second) return c.Err(id, key + ".id", "duplicate state '" + s.id + "'");
    key = "states[" + std::to_string(i) + "] (" + s.id + ")";
    if (auto* v = t->get("authorities")) {
      const toml::array* a = v->as_array();
      if (a == nullptr || a->empty())
        return c.Err(v, key + ".authorities", "must be a non-empty list of ids or { id, kinds } tables");
      for (size_t j = 0; j < a->size(); ++j) {
        std::string ak = key + ".authorities[" + std::to_string(j) + "]";
        const toml::node* an = a->get(j);
        Authority au;
        if (an->is_string()) {
          au.id = *an->value<std::string>();
        } else if (const toml::table* at = an->as_table()) {
          MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *at, ak, {"id", "kinds"}));
          if (at->get("id") == nullptr) return c.Err(an, ak, "missing 'id'");
          MLAHUB_ASSIGN_OR_RETURN(au.id, String(c, *at->get("id"), ak + ".id"));
          if (auto* kv = at->get("kinds")) {
            const toml::array* ka = kv->as_array();
            if (ka == nullptr) return c.Err(kv, ak + ".kinds", "must be a list of request kinds");
            for (size_t x = 0; x < ka->size(); ++x) {
              MLAHUB_ASSIGN_OR_RETURN(K k, Kind(c, *ka->get(x), ak + ".kinds[" + std::to_string(x) + "]"));
              au.kinds.push_back(k);
            }
          }
        } else {
          return c.Err(an, ak, "must be an id or { id = ..., kinds = [...] }");
        }
        if (au.id.empty()) return c.Err(an, ak, "empty id");
        if (!agent_ids.insert(au.id).second) return c.Err(an, ak, "duplicate authority '" + au.id + "'");
        s.authorities.push_back(std::move(au));
      }
    } else {
      Authority au;
      au.id = s.id + "-CA";
      if (!agent_ids.insert(au.id).second) return c.Err(id, key, "duplicate authority '" + au.id + "'");
      s.authorities.push_back(au);
    }
    if (auto* v = t->get("groups")) {
      MLAHUB_ASSIGN_OR_RETURN(s.groups, Strings(c, *v, key + ".groups"));
      groups.insert(s.groups.begin(), s.groups.end());
    }
    if (auto* v = t->get("profile")) {
      MLAHUB_ASSIGN_OR_RETURN(s.profile, find_profile(*v, key + ".profile"));
    }
    if (auto* v = t->get("mix")) {
      MLAHUB_ASSIGN_OR_RETURN(s.mix, find_mix(*v, key + ".mix"));
    }
    if (auto* v = t->get("requests_per_day")) {
      MLAHUB_ASSIGN_OR_RETURN(s.requests_per_day, NonNegative(c, *v, key + ".requests_per_day"));
      if (s.requests_per_day > kMaxRate) return c.Err(v, key + ".requests_per_day", kRateTooHigh);
    }
    if (auto* v = t->get("weight")) {
      MLAHUB_ASSIGN_OR_RETURN(s.weight, NonNegative(c, *v, key + ".weight"));
    }
    if (auto* v = t->get("utc_offset")) {
      MLAHUB_ASSIGN_OR_RETURN(double h, Number(c, *v, key + ".utc_offset"));
      if (h < -12 || h > 14) return c.Err(v, key + ".utc_offset", "must be hours between -12 and +14");
      s.utc_offset_ms = static_cast<int64_t>(std::llround(h * 3600000.0));
    }
    sc.states.push_back(std::move(s));
  }
  // A selector: a state id, "group:NAME" or "*".
  auto check_selectors = [&](const toml::node& n, const std::string& key) -> Result<std::vector<std::string>> {
    std::vector<std::string> v;
    if (n.is_string()) {
      v.push_back(*n.value<std::string>());
    } else {
      MLAHUB_ASSIGN_OR_RETURN(v, Strings(c, n, key));
    }
    for (const auto& s : v) {
      if (s == "*") continue;
      if (s.rfind("group:", 0) == 0) {
        if (!groups.count(s.substr(6)))
          return c.Err(&n, key, "no state is in group '" + s.substr(6) + "'");
        continue;
      }
      if (!state_ids.count(s)) return c.Err(&n, key, "unknown state '" + s + "'");
    }
    return v;
  };
  if (auto* n = top("pairs")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return c.Err(n, "pairs", "must be a list of tables ([[pairs]])");
    for (size_t i = 0; i < a->size(); ++i) {
      std::string key = "pairs[" + std::to_string(i) + "]";
      const toml::table* t = a->get(i)->as_table();
      if (t == nullptr) return c.Err(a->get(i), key, "must be a table");
      MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"from", "to", "mix", "rate_factor", "rate_per_day"}));
      PairRule r;
      for (const char* req : {"from", "to"})
        if (t->get(req) == nullptr) return c.Err(a->get(i), key, std::string("missing '") + req + "'");
      MLAHUB_ASSIGN_OR_RETURN(r.from, check_selectors(*t->get("from"), key + ".from"));
      MLAHUB_ASSIGN_OR_RETURN(r.to, check_selectors(*t->get("to"), key + ".to"));
      if (auto* v = t->get("mix")) {
        MLAHUB_ASSIGN_OR_RETURN(r.mix, find_mix(*v, key + ".mix"));
      }
      if (auto* v = t->get("rate_factor")) {
        MLAHUB_ASSIGN_OR_RETURN(r.rate_factor, NonNegative(c, *v, key + ".rate_factor"));
      }
      if (auto* v = t->get("rate_per_day")) {
        MLAHUB_ASSIGN_OR_RETURN(r.rate_per_day, NonNegative(c, *v, key + ".rate_per_day"));
        if (r.rate_per_day > kMaxRate) return c.Err(v, key + ".rate_per_day", kRateTooHigh);
      }
      if (r.rate_factor > kMaxRate) return c.Err(t->get("rate_factor"), key + ".rate_factor", kRateTooHigh);
      sc.pairs.push_back(std::move(r));
    }
  }
  if (auto* n = top("arrivals")) {  // burst selectors, now that states are known
    if (auto* v = n->as_table()->get("bursts")) {
      const toml::array* a = v->as_array();
      for (size_t i = 0; i < a->size(); ++i)
        if (auto* s = a->get(i)->as_table()->get("states")) {
          MLAHUB_RETURN_IF_ERROR(check_selectors(*s, "arrivals.bursts[" + std::to_string(i) + "].states").status());
        }
    }
  }
  if (auto* n = top("outages")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return c.Err(n, "outages", "must be a list of tables ([[outages]])");
    for (size_t i = 0; i < a->size(); ++i) {
      std::string key = "outages[" + std::to_string(i) + "]";
      const toml::table* t = a->get(i)->as_table();
      if (t == nullptr) return c.Err(a->get(i), key, "must be a table");
      MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"agent", "at", "for"}));
      for (const char* req : {"agent", "at", "for"})
        if (t->get(req) == nullptr) return c.Err(a->get(i), key, std::string("missing '") + req + "'");
      Outage o;
      MLAHUB_ASSIGN_OR_RETURN(o.agent, String(c, *t->get("agent"), key + ".agent"));
      if (!agent_ids.count(o.agent))
        return c.Err(t->get("agent"), key + ".agent", "unknown authority '" + o.agent + "'");
      MLAHUB_ASSIGN_OR_RETURN(o.at_ms, Duration(c, *t->get("at"), key + ".at"));
      MLAHUB_ASSIGN_OR_RETURN(o.for_ms, Duration(c, *t->get("for"), key + ".for"));
      if (o.for_ms <= 0) return c.Err(t->get("for"), key + ".for", "must be longer than 0");
      for (const auto& p : sc.outages)
        if (p.agent == o.agent && o.at_ms < p.at_ms + p.for_ms && p.at_ms < o.at_ms + o.for_ms)
          return c.Err(a->get(i), key, "overlaps an earlier outage of " + o.agent);
      sc.outages.push_back(o);
    }
  }
  if (auto* n = top("broker_crashes")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return c.Err(n, "broker_crashes", "must be a list of tables ([[broker_crashes]])");
    for (size_t i = 0; i < a->size(); ++i) {
      std::string key = "broker_crashes[" + std::to_string(i) + "]";
      const toml::table* t = a->get(i)->as_table();
      if (t == nullptr) return c.Err(a->get(i), key, "must be a table");
      MLAHUB_RETURN_IF_ERROR(CheckKeys(c, *t, key, {"at", "down"}));
      for (const char* req : {"at", "down"})
        if (t->get(req) == nullptr) return c.Err(a->get(i), key, std::string("missing '") + req + "'");
      BrokerCrash b;
      MLAHUB_ASSIGN_OR_RETURN(b.at_ms, Duration(c, *t->get("at"), key + ".at"));
      MLAHUB_ASSIGN_OR_RETURN(b.down_ms, Duration(c, *t->get("down"), key + ".down"));
      if (b.down_ms <= 0) return c.Err(t->get("down"), key + ".down", "must be longer than 0");
      for (const auto& p : sc.broker_crashes)
        if (b.at_ms < p.at_ms + p.down_ms && p.at_ms < b.at_ms + b.down_ms)
          return c.Err(a->get(i), key, "overlaps an earlier broker crash");
      sc.broker_crashes.push_back(b);
    }
  }
  if (auto* n = top("requests")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return c.Err(n, "requests", "must be a list of tables ([[requests]])");
    for (size_t i = 0; i < a->size(); ++i) {
      std::string key = "requests[" + std::to_string(i) + "]";
      MLAHUB_ASSIGN_OR_RETURN(MixEntry e, ParseMixEntry(c, *a->get(i), key, true));
      const toml::table* t = a->get(i)->as_table();
      for (const char* req : {"at", "from", "to"})
        if (t->get(req) == nullptr) return c.Err(a->get(i), key, std::string("missing '") + req + "'");
      ScriptedRequest r;
      r.what = e;
      r.urgent = e.urgent >= 1;
      MLAHUB_ASSIGN_OR_RETURN(r.at_ms, Duration(c, *t->get("at"), key + ".at"));
      MLAHUB_ASSIGN_OR_RETURN(r.from, String(c, *t->get("from"), key + ".from"));
      MLAHUB_ASSIGN_OR_RETURN(r.to, String(c, *t->get("to"), key + ".to"));
      for (auto [k, v] : {std::pair<const char*, std::string*>{"from", &r.from}, {"to", &r.to}})
        if (!state_ids.count(*v)) return c.Err(t->get(k), key + "." + k, "unknown state '" + *v + "'");
      if (r.from == r.to) return c.Err(t->get("to"), key + ".to", "a state does not send requests to itself");
      sc.requests.push_back(std::move(r));
    }
  }
  return sc;
}

}  // namespace

size_t Scenario::AgentCount() const {
  size_t n = 0;
  for (const auto& s : states) n += s.authorities.size();
  return n;
}

Result<Scenario> ParseScenario(std::string_view text, const std::string& origin) {
  Ctx c;
  c.origin = origin;
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(origin), ec);
  c.dir = ec ? std::string(".") : abs.lexically_normal().parent_path().string();
  toml::table doc;
  try {
    doc = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Status::InvalidArgument(origin + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                                   ": TOML syntax error: " + std::string(e.description()));
  }
  return Parse(c, doc);
}

Result<Scenario> LoadScenario(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("scenario file " + path + " does not exist");
  auto bytes = ReadFile(path, kMaxScenarioBytes);
  if (!bytes.ok()) return bytes.status().Annotate("scenario file");
  return ParseScenario(AsString(*bytes), path);
}

Result<int64_t> ParseSimDuration(std::string_view text) {
  auto bad = [&] {
    std::string msg = "'";
    msg.append(text);
    msg += "' is not a duration (a number and a unit ms, s, m, h, d, w, combined as \"1d12h\")";
    return Status::InvalidArgument(msg);
  };
  if (text.empty()) return bad();
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return bad();
    double v;
    try {
      v = std::stod(std::string(text.substr(i, j - i)));
    } catch (...) {
      return bad();
    }
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    std::string_view unit = text.substr(j, k - j);
    double mul;
    if (unit == "ms") mul = 1;
    else if (unit == "s") mul = 1000;
    else if (unit == "m") mul = 60000;
    else if (unit == "h") mul = 3600000;
    else if (unit == "d") mul = 86400000;
    else if (unit == "w") mul = 7 * 86400000.0;
    else return bad();
    total += v * mul;
    i = k;
  }
  if (total > 100.0 * 365 * 86400000) return bad();
  return static_cast<int64_t>(std::llround(total));
}

Result<double> ParseSize(std::string_view text) {
  auto bad = [&] {
    std::string msg = "'";
    msg.append(text);
    msg += "' is not a size (a number and B, KB, MB, GB, KiB, MiB or GiB)";
    return Status::InvalidArgument(msg);
  };
  size_t j = 0;
  while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
  if (j == 0) return bad();
  double v;
  try {
    v = std::stod(std::string(text.substr(0, j)));
  } catch (...) {
    return bad();
  }
  std::string_view unit = text.substr(j);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  double mul;
  if (unit == "B") mul = 1;
  else if (unit == "KB") mul = 1e3;
  else if (unit == "MB") mul = 1e6;
  else if (unit == "GB") mul = 1e9;
  else if (unit == "KiB") mul = 1024;
  else if (unit == "MiB") mul = 1024.0 * 1024;
  else if (unit == "GiB") mul = 1024.0 * 1024 * 1024;
  else return bad();
  return v * mul;
}

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  std::string out;
  int64_t d = ms / 86400000, h = ms / 3600000 % 24, m = ms / 60000 % 60, s = ms / 1000 % 60;
  if (d) out += std::to_string(d) + "d";
  if (h) out += std::to_string(h) + "h";
  if (m && d == 0) out += std::to_string(m) + "m";
  if (s && d == 0 && h == 0) out += std::to_string(s) + "s";
  if (out.empty()) out = std::to_string(m) + "m";
  return sign + out;
}

}  // namespace mlahub::sim
