// Mailbox: the eventfd the socket thread polls with its socket is readable
// exactly while something may be queued, across threads. WorkerPool: Idle
// is false while a job is queued or running; PostAll runs every job, those
// posted `first` ahead of the others.
#include <poll.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "worker_pool.h"

namespace mlahub::broker {
namespace {

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST(MailboxTest, EventfdIsSignalledWhileItemsWaitAndClearedByDrain) {
  Mailbox<int> box;
  ASSERT_GE(box.wake_fd(), 0);
  EXPECT_FALSE(Readable(box.wake_fd()));
  box.Push(1);
  EXPECT_TRUE(Readable(box.wake_fd()));
  box.Push(2);  // not empty before: no second write needed, still readable
  EXPECT_TRUE(Readable(box.wake_fd()));
  std::vector<int> got;
  EXPECT_EQ(box.Drain(&got), 2u);
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_FALSE(Readable(box.wake_fd()));
  // Empty again: the next push signals again.
  box.Push(3);
  EXPECT_TRUE(Readable(box.wake_fd()));
  EXPECT_EQ(box.Drain(&got), 1u);
  EXPECT_FALSE(Readable(box.wake_fd()));
  EXPECT_EQ(box.Drain(&got), 0u);
}

// A consumer that sleeps only in poll() on the fd (as the socket thread does)
// receives every item pushed by several threads: no wake-up is lost.
TEST(MailboxTest, ConsumerSleepingOnTheFdMissesNothing) {
  Mailbox<int> box;
  ASSERT_GE(box.wake_fd(), 0);
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t)
    producers.emplace_back([&box, t] {
      for (int i = 0; i < kEach; ++i) box.Push(t * kEach + i);
    });
  std::vector<int> got;
  int idle_polls = 0;
  while (got.size() < static_cast<size_t>(kThreads * kEach)) {
    if (box.Drain(&got) > 0) continue;
    pollfd p{box.wake_fd(), POLLIN, 0};
    // A lost wake-up would leave items queued with the fd clear: this poll
    // would then time out with work waiting, which the check below catches.
    if (::poll(&p, 1, 10000) == 0) {
      ++idle_polls;
      break;
    }
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(idle_polls, 0);
  EXPECT_EQ(got.size(), static_cast<size_t>(kThreads * kEach));
}

TEST(WorkerPoolTest, IdleOnlyWhenNothingIsQueuedOrRunning) {
  WorkerPool pool(2);
  EXPECT_TRUE(pool.Idle());
  std::atomic<bool> release{false}, started{false};
  pool.Post([&] {
    started = true;
    while (!release) std::this_thread::yield();
  });
  while (!started) std::this_thread::yield();
  EXPECT_FALSE(pool.Idle());  // running
  release = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pool.Idle() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_TRUE(pool.Idle());
}

TEST(WorkerPoolTest, PostAllWakesWorkersForEveryJob) {
  std::atomic<int> ran{0};
  WorkerPool pool(2);
  int want = 0;
  for (int round = 0; round < 50; ++round) {
    std::vector<std::function<void()>> jobs;
    for (int i = 0; i < 1 + round % 5; ++i) jobs.push_back([&] { ++ran; });
    want += static_cast<int>(jobs.size());
    pool.PostAll(jobs);
    EXPECT_TRUE(jobs.empty());
    // The workers run them without Stop (which would drain the queue itself).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ran.load() < want && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    ASSERT_EQ(ran.load(), want) << "round " << round;
  }
}

TEST(WorkerPoolTest, JobsPostedFirstRunAheadOfTheOthersInTheirOwnOrder) {
  WorkerPool pool(1);
  std::atomic<bool> release{false}, started{false};
  pool.Post([&] {  // holds the only worker while the queue fills
    started = true;
    while (!release) std::this_thread::yield();
  });
  while (!started) std::this_thread::yield();
  std::mutex mu;
  std::vector<int> order;
  auto job = [&](int n) -> std::function<void()> {
    return [&, n] {
      std::lock_guard<std::mutex> lk(mu);
      order.push_back(n);
    };
  };
  std::vector<std::function<void()>> later{job(1), job(2)};
  pool.PostAll(later);
  std::vector<std::function<void()>> first{job(10), job(11)};
  pool.PostAll(first, /*first=*/true);
  pool.Post(job(3));
  std::vector<std::function<void()>> more_first{job(12)};
  pool.PostAll(more_first, /*first=*/true);
  release = true;
  pool.Stop();
  EXPECT_EQ(order, (std::vector<int>{10, 11, 12, 1, 2, 3}));
}

}  // namespace
}  // namespace mlahub::broker
