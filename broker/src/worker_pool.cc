#include "worker_pool.h"

#include <pthread.h>

namespace mlahub::broker {

WorkerPool::WorkerPool(int threads) {
  if (threads < 1) threads = 1;
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "broker-worker");
      Run();
    });
  }
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void WorkerPool::PostAll(std::vector<std::function<void()>>& jobs, bool first) {
  if (jobs.empty()) return;
  const size_t n = jobs.size();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (first) {
      jobs_.insert(jobs_.begin() + static_cast<std::ptrdiff_t>(first_), std::make_move_iterator(jobs.begin()),
                   std::make_move_iterator(jobs.end()));
      first_ += n;
    } else {
      for (auto& j : jobs) jobs_.push_back(std::move(j));
    }
  }
  jobs.clear();
  // One waiter per job, at most all of them.
  if (n >= threads_.size()) {
    cv_.notify_all();
  } else {
    for (size_t i = 0; i < n; ++i) cv_.notify_one();
  }
}

bool WorkerPool::Idle() {
  std::lock_guard<std::mutex> lk(mu_);
  return jobs_.empty() && running_ == 0;
}

void WorkerPool::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void WorkerPool::Run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping and drained
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    if (first_ > 0) --first_;
    ++running_;
    lk.unlock();
    job();
    job = nullptr;  // release what it captured before counting it done
    lk.lock();
    --running_;
  }
}

}  // namespace mlahub::broker
