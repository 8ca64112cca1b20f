#include "core/metrics.h"

#include <cstdio>

namespace callrec::core {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(uint64_t(seconds * 1e6), std::memory_order_relaxed);
}

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

Metrics::Family& Metrics::FamilyFor(const std::string& name, const std::string& help,
                                    const char* type) {
  Family& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter* Metrics::GetCounter(const std::string& name, const std::string& help,
                             const Labels& labels) {
  MutexLock lock(mu_);
  auto& slot = FamilyFor(name, help, "counter").counters[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Metrics::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  MutexLock lock(mu_);
  auto& slot = FamilyFor(name, help, "gauge").gauges[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Gauge* Metrics::GetMillisGauge(const std::string& name, const std::string& help,
                               const Labels& labels) {
  MutexLock lock(mu_);
  Family& f = FamilyFor(name, help, "gauge");
  f.millis_as_seconds = true;
  auto& slot = f.gauges[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Metrics::GetHistogram(const std::string& name, const std::string& help,
                                 const Labels& labels, std::vector<double> bounds) {
  if (bounds.empty())
    bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  MutexLock lock(mu_);
  auto& slot = FamilyFor(name, help, "histogram").histograms[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return slot.get();
}

std::string Metrics::Render() const {
  MutexLock lock(mu_);
  std::string out;
  char buf[64];
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters)
      out += name + labels + " " + std::to_string(c->value()) + "\n";
    for (const auto& [labels, g] : f.gauges) {
      if (!f.millis_as_seconds) {
        out += name + labels + " " + std::to_string(g->value()) + "\n";
        continue;
      }
      std::snprintf(buf, sizeof buf, "%.3f", double(g->value()) / 1000.0);
      out += name + labels + " " + buf + "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      // Bucket lines need "le" merged into the existing label set.
      std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2) + ",";
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h->bounds().size(); ++i) {
        cumulative += h->BucketCount(i);
        std::string le = "+Inf";
        if (i < h->bounds().size()) {
          std::snprintf(buf, sizeof buf, "%g", h->bounds()[i]);
          le = buf;
        }
        out += name + "_bucket{" + inner + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
      }
      std::snprintf(buf, sizeof buf, "%.6f", h->sum());
      out += name + "_sum" + labels + " " + buf + "\n";
      out += name + "_count" + labels + " " + std::to_string(h->count()) + "\n";
    }
  }
  return out;
}

}  // namespace callrec::core
