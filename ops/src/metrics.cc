// Metrics registry, Prometheus text exposition (format 0.0.4) and the HTTP
// endpoint (cpp-httplib, used only here).
//
// Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
// Histograms expose <name>_bucket{...,le="<bound>"} (cumulative, ending
// with le="+Inf"), <name>_sum and <name>_count.
#include "mlahub/ops/metrics.h"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <thread>


namespace mlahub::ops {

// ---- metrics ---------------------------------------------------------------

void Gauge::Add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  MLAHUB_CHECK_MSG(!bounds_.empty(), "a histogram needs at least one bucket bound");
  for (size_t i = 0; i < bounds_.size(); ++i) {
    MLAHUB_CHECK_MSG(std::isfinite(bounds_[i]), "histogram bounds must be finite (+Inf is implicit)");
    MLAHUB_CHECK_MSG(i == 0 || bounds_[i - 1] < bounds_[i], "histogram bounds must be strictly ascending");
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;  // would poison the sum; not a measurement
  // First bound >= v: Prometheus buckets are "less than or equal".
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // The count is taken from the buckets so that _count always equals the
  // +Inf bucket, even while observations race with the snapshot.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,    10};
}

std::vector<double> SizeBuckets() {
  std::vector<double> out;
  for (double b = 1; b <= 65536; b *= 2) out.push_back(b);
  return out;
}

// ---- registry ----------------------------------------------------------------

namespace {

enum class Type { kCounter, kGauge, kHistogram };

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

bool ValidMetricName(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(const std::string& n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;  // "__" is reserved
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Labels sorted by name, so {a,b} and {b,a} are the same series.
Labels Canonical(const Labels& labels, bool histogram) {
  Labels out = labels;
  std::sort(out.begin(), out.end());
  for (size_t i = 0; i < out.size(); ++i) {
    MLAHUB_CHECK_MSG(ValidLabelName(out[i].first), "invalid Prometheus label name: " + out[i].first);
    MLAHUB_CHECK_MSG(i == 0 || out[i - 1].first != out[i].first, "duplicate label name: " + out[i].first);
    MLAHUB_CHECK_MSG(!histogram || out[i].first != "le", "'le' is reserved for histogram buckets");
  }
  return out;
}

}  // namespace

struct Registry::Family {
  Type type;
  std::string help;
  std::vector<double> bounds;  // histograms
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

namespace {

Registry::Family& GetFamily(std::map<std::string, std::unique_ptr<Registry::Family>>& families,
                            const std::string& name, const std::string& help, Type type) {
  MLAHUB_CHECK_MSG(ValidMetricName(name), "invalid Prometheus metric name: " + name);
  auto& slot = families[name];
  if (!slot) {
    slot = std::make_unique<Registry::Family>();
    slot->type = type;
    slot->help = help;
  }
  MLAHUB_CHECK_MSG(slot->type == type, "metric " + name + " registered with two types");
  return *slot;
}

}  // namespace

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = GetFamily(families_, name, help, Type::kCounter);
  auto& slot = f.counters[Canonical(labels, false)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = GetFamily(families_, name, help, Type::kGauge);
  auto& slot = f.gauges[Canonical(labels, false)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                               const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = GetFamily(families_, name, help, Type::kHistogram);
  if (f.histograms.empty()) f.bounds = bounds;
  MLAHUB_CHECK_MSG(f.bounds == bounds, "histogram " + name + " registered with two sets of bounds");
  auto& slot = f.histograms[Canonical(labels, true)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

namespace internal {  // formatting helpers, file-local in spirit

std::string EscapeHelp(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeLabelValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Whole numbers as integers ("1000000", not "1e+06"); others in the
  // shortest form that reads back exactly, like Go's FormatFloat('g', -1).
  if (v == std::trunc(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, ec == std::errc() ? end : buf);
}

}  // namespace internal

namespace {

// {a="x",b="y"} with an optional extra label (le) last; "" when empty.
std::string LabelText(const Labels& labels, const char* extra_name = nullptr, const std::string& extra_value = "") {
  if (labels.empty() && extra_name == nullptr) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + internal::EscapeLabelValue(v) + "\"";
  }
  if (extra_name != nullptr) {
    if (!first) out += ",";
    out += std::string(extra_name) + "=\"" + extra_value + "\"";
  }
  return out + "}";
}

}  // namespace

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + internal::EscapeHelp(f->help) + "\n";
    out += "# TYPE " + name + " " + TypeName(f->type) + "\n";
    switch (f->type) {
      case Type::kCounter:
        for (const auto& [labels, c] : f->counters)
          out += name + LabelText(labels) + " " + std::to_string(c->value()) + "\n";
        break;
      case Type::kGauge:
        for (const auto& [labels, g] : f->gauges)
          out += name + LabelText(labels) + " " + internal::FormatValue(g->value()) + "\n";
        break;
      case Type::kHistogram:
        for (const auto& [labels, h] : f->histograms) {
          Histogram::Snapshot s = h->snapshot();
          for (size_t i = 0; i < s.bounds.size(); ++i)
            out += name + "_bucket" + LabelText(labels, "le", internal::FormatValue(s.bounds[i])) + " " +
                   std::to_string(s.cumulative[i]) + "\n";
          out += name + "_bucket" + LabelText(labels, "le", "+Inf") + " " + std::to_string(s.count) + "\n";
          out += name + "_sum" + LabelText(labels) + " " + internal::FormatValue(s.sum) + "\n";
          out += name + "_count" + LabelText(labels) + " " + std::to_string(s.count) + "\n";
        }
        break;
    }
  }
  return out;
}

// ---- HTTP endpoint -------------------------------------------------------------

Result<std::pair<std::string, uint16_t>> ParseLoopbackListen(const std::string& listen) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("metrics/API listen address '" + listen + "' " + why);
  };
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return bad("is not [IPV6]:PORT");
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return bad("is not HOST:PORT (e.g. 127.0.0.1:9100)");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("has an IPv6 host without brackets: write [::1]:PORT");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return bad("has no valid port (0-65535)");
  bool loopback = host == "localhost" || host == "::1";
  if (!loopback) {
    unsigned a, b, c, d;
    char tail;
    if (std::sscanf(host.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b <= 255 &&
        c <= 255 && d <= 255)
      loopback = true;
  }
  if (!loopback) return bad("is not a loopback address: use 127.0.0.1, [::1] or localhost");
  // "localhost" is bound as 127.0.0.1: the same loopback, without depending
  // on the resolver (a minimal root without /etc/hosts cannot resolve it).
  if (host == "localhost") host = "127.0.0.1";
  return std::pair<std::string, uint16_t>{host, static_cast<uint16_t>(value)};
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> exited{false};
  uint16_t port = 0;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const Registry& registry, const std::string& listen) {
  MLAHUB_ASSIGN_OR_RETURN(auto host_port, ParseLoopbackListen(listen));
  auto impl = std::make_unique<Impl>();
  httplib::Server& srv = impl->server;
  // Two workers are plenty for a scrape endpoint (the default is >= 8).
  srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let
  // a second daemon silently share a configured port.
  srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  srv.set_read_timeout(5, 0);
  srv.set_write_timeout(5, 0);
  const Registry* reg = &registry;
  srv.Get("/metrics", [reg](const httplib::Request&, httplib::Response& res) {
    res.set_content(reg->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("not found: metrics are at GET /metrics\n", "text/plain");
  });

  const std::string& host = host_port.first;
  int port = host_port.second;
  if (port == 0) {
    port = srv.bind_to_any_port(host);
    if (port < 0) return Status::IoError("cannot bind the metrics endpoint to " + listen);
  } else if (!srv.bind_to_port(host, port)) {
    return Status::IoError("cannot bind the metrics endpoint to " + listen + " (port in use?)");
  }
  impl->port = static_cast<uint16_t>(port);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->exited.store(true);
  });
  // The socket already listens (connections queue in its backlog); wait until
  // the accept loop runs so that a prompt stop() cannot be missed.
  for (int i = 0; i < 10000 && !srv.is_running() && !raw->exited.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (raw->exited.load()) {
    raw->thread.join();
    return Status::IoError("the metrics endpoint on " + listen + " stopped at once");
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint16_t MetricsServer::port() const { return impl_->port; }

}  // namespace mlahub::ops
