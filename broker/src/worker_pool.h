// A fixed pool of worker threads running jobs from one FIFO queue (the
// broker's origin-signature and receipt checks, status and proof reads; jobs
// posted `first` go ahead of the others), and
// the mailbox through which workers and the ledger's committing thread hand
// results back to the socket thread.
//
// Thread-safety: Post, PostAll, Idle and Push may be called from any thread;
// Drain only from the owner (the socket thread). Stop() finishes the jobs already queued.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "mlahub/transport/wake_fd.h"

namespace mlahub::broker {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Post(std::function<void()> job);
  // Queues all of `jobs` under one lock and clears it. `first`: ahead of
  // every job queued without it (behind the other `first` ones), e.g. the
  // checks that finish work already accepted before those that admit more.
  void PostAll(std::vector<std::function<void()>>& jobs, bool first = false);
  // True when no job is queued or running (a snapshot: a Post from another
  // thread may change it at once; the broker posts only from its socket
  // thread, which is the caller).
  bool Idle();
  // Runs what is queued, then joins the threads. Idempotent.
  void Stop();
  size_t threads() const { return threads_.size(); }

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  size_t first_ = 0;  // jobs at the front of jobs_ posted with `first`
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// A multi-producer, single-consumer mailbox of T. It also signals an eventfd
// when it goes from empty to not empty, so that the consumer can sleep in one
// poll on its socket and this fd together (transport::Server::set_wake_fd)
// instead of waking on a short timer to look (each such wake-up costs CPU,
// and on a virtual machine the host's time too).
template <typename T>
class Mailbox {
 public:
  // Readable while something may be queued; -1 if no eventfd could be made
  // (then the consumer must poll with WaitFor).
  int wake_fd() const { return wake_.fd(); }

  void Push(T item) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lk(mu_);
      was_empty = items_.empty();
      items_.push_back(std::move(item));
      cv_.notify_one();
    }
    if (was_empty) wake_.Signal();
  }
  // Moves everything queued into *out (appending). Returns the number moved.
  // The eventfd is cleared first: a Push after that signals it again.
  size_t Drain(std::vector<T>* out) {
    wake_.Clear();
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
  transport::WakeFd wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

}  // namespace mlahub::broker
