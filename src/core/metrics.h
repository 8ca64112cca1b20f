// metrics.h — Prometheus counters, gauges and histograms without a library.
//
// A Metrics registry owns named families; callers keep the returned pointers (stable for the
// registry's life) and update them lock-free on hot paths. Render() writes the Prometheus text
// exposition format (version 0.0.4) for GET /metrics.
//
//   Metrics m;
//   Counter* dup = m.GetCounter("callrec_webhook_duplicates_total", "Redelivered webhooks");
//   dup->Inc();
//   Counter* ok = m.GetCounter("callrec_http_requests_total", "Requests",
//                              {{"route", "/api/webhooks/telnyx/call-events"}, {"status", "200"}});
//
// Thread-safety: Get* take a mutex (call them once, at setup, or on rare paths); Inc/Set/Observe
// are atomic and safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/thread_annotations.h"

namespace callrec::core {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Fixed buckets (upper bounds in seconds), chosen at creation.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double seconds);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t BucketCount(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return double(sum_micros_.load(std::memory_order_relaxed)) / 1e6; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // non-cumulative; Render() accumulates
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

class Metrics {
 public:
  Counter* GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // A gauge set in milliseconds and rendered in seconds (Prometheus' base unit), e.g. an age.
  Gauge* GetMillisGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // Default bounds: 0.5 ms … 10 s, roughly x2.5 apart.
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {}, std::vector<double> bounds = {});
  std::string Render() const;

 private:
  struct Family {
    std::string help;
    std::string type;  // counter | gauge | histogram
    bool millis_as_seconds = false;  // gauges hold ms, rendered as seconds
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, const char* type) REQUIRES(mu_);
  mutable Mutex mu_;
  std::map<std::string, Family> families_ GUARDED_BY(mu_);
};

// {route="/x",status="200"} with Prometheus escaping; "" for no labels.
std::string RenderLabels(const Labels& labels);

}  // namespace callrec::core
