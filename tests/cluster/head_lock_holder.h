// head_lock_holder.h — another node's append transaction that holds the shared log's head lock
// until released: what a node's commit waits behind (the cluster suites' group-commit tests).
#pragma once

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/log_test_events.h"
#include "cluster/pg_event_log.h"
#include "matchers/status_matchers.h"

namespace callrec::cluster {

class HeadLockHolder {
 public:
  // Starts the other node's group commit on its own session and returns once it holds the lock;
  // nullptr (the failure reported) when it cannot connect. It appends Webhook("other") once
  // released.
  static std::unique_ptr<HeadLockHolder> Start(const std::string& url, core::Clock& clock) {
    auto log = PgEventLog::Connect(url, clock);
    EXPECT_OK(log);
    if (!log.ok()) return nullptr;
    std::unique_ptr<HeadLockHolder> h(new HeadLockHolder(std::move(*log)));
    h->thread_ = std::thread([raw = h.get()] {
      // take() runs once whatever happens, so Start never waits forever.
      EXPECT_OK(raw->log_->AppendCollected([raw] {
        raw->held_.set_value();
        raw->release_.get_future().wait();
        return std::vector<core::Event>{Webhook("other")};
      }));
    });
    h->held_.get_future().wait();
    return h;
  }
  ~HeadLockHolder() { Release(); }
  // Lets the other node commit and waits until it has.
  void Release() {
    if (!thread_.joinable()) return;
    release_.set_value();
    thread_.join();
  }

 private:
  explicit HeadLockHolder(std::unique_ptr<PgEventLog> log) : log_(std::move(log)) {}
  std::unique_ptr<PgEventLog> log_;
  std::promise<void> held_, release_;
  std::thread thread_;
};

}  // namespace callrec::cluster
