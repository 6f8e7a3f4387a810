// A fixed pool of worker threads running jobs from one FIFO queue (the
// broker's origin-signature and receipt checks, status and proof reads), and
// the mailbox through which workers and the ledger's committer thread hand
// results back to the socket thread.
//
// Thread-safety: Post and Push may be called from any thread; Drain only from
// the owner (the socket thread). Stop() finishes the jobs already queued.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mlahub::broker {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Post(std::function<void()> job);
  // Runs what is queued, then joins the threads. Idempotent.
  void Stop();
  size_t threads() const { return threads_.size(); }

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// A multi-producer, single-consumer mailbox of T.
template <typename T>
class Mailbox {
 public:
  void Push(T item) {
    std::lock_guard<std::mutex> lk(mu_);
    items_.push_back(std::move(item));
    cv_.notify_one();
  }
  // Moves everything queued into *out (appending). Returns the number moved.
  size_t Drain(std::vector<T>* out) {
    std::lock_guard<std::mutex> lk(mu_);
    size_t n = items_.size();
    for (auto& i : items_) out->push_back(std::move(i));
    items_.clear();
    return n;
  }
  // Waits until something is queued or the timeout passes.
  template <typename Duration>
  void WaitFor(Duration d) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, d, [&] { return !items_.empty(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

}  // namespace mlahub::broker
