// Prometheus metrics for the daemons: counters, gauges and histograms in a
// registry, rendered in the Prometheus text exposition format (0.0.4) and
// served over HTTP (GET /metrics) on a loopback port.
//
// No Debian 12 package provides a Prometheus client for C++ (prometheus-cpp
// is not packaged), so this is a small one; the HTTP side is cpp-httplib.
//
// Thread-safety: metrics are updated lock-free (atomics) from any thread;
// registering takes a lock; the returned references stay valid for the
// registry's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mlahub/core/status.h"

namespace mlahub::ops {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // upper bounds, ascending
  void Observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 50 us .. 10 s.
std::vector<double> LatencyBuckets();
// Size buckets (1, 2, 4, ... 65536), e.g. fsync batch sizes.
std::vector<double> SizeBuckets();

class Registry {
 public:
  // Out of line: Family is defined in metrics.cc.
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Same name and labels return the same metric. Names follow Prometheus
  // rules ("mlahub_broker_accepted_total"); `help` is the HELP line.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const Labels& labels = {});
  // The text exposition format.
  std::string Render() const;

  struct Family;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

// Serves GET /metrics from `registry` on its own thread.
class MetricsServer {
 public:
  // `listen` is "host:port" and must be a loopback address (127.0.0.1, ::1,
  // localhost); port 0 picks a free one. kInvalidArgument otherwise, kIoError
  // if it cannot bind.
  static Result<std::unique_ptr<MetricsServer>> Start(const Registry& registry, const std::string& listen);
  ~MetricsServer();  // stops
  uint16_t port() const;

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "127.0.0.1:9100" -> {"127.0.0.1", 9100}; checks the host is loopback.
Result<std::pair<std::string, uint16_t>> ParseLoopbackListen(const std::string& listen);

}  // namespace mlahub::ops
