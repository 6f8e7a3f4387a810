// mlahub-bench host: the properties of the machine that bound the hub at low
// load, measured with the raw system calls (no mlahub code), so that a run's
// figures can be read against the host they came from:
//   - a small append + fdatasync, against an overwrite + fdatasync of the same
//     bytes in a file already written (an append also writes the inode: the
//     file's size changed);
//   - a thread wake-up: two threads passing a token through two eventfds, on
//     one core and across two;
//   - Ed25519 verify on one thread, and on one thread per core at once (is
//     "cores x verify" a fair bound, or are the cores hyperthreads?).
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"

namespace mlahub::bench {
namespace {

struct HostArgs {
  std::string dir = "/tmp/mlahub-bench-host";
  int syncs = 3000;
  int round_trips = 20000;
  double verify_seconds = 2.0;
  bool json = false;
};

// Microseconds per write + fdatasync of `record` bytes, `n` times, to a new
// file (append) or over a file of the final size already written and synced.
// The file must not exist (it is made and removed here). -1 on failure, with
// `*err` the errno of the call that failed.
double SyncedWrites(const std::string& path, size_t record, int n, bool overwrite, int* err) {
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  std::vector<char> buf(record, 'x');
  bool ok = true;
  auto fail = [&] {
    if (ok) *err = errno != 0 ? errno : EIO;  // a short write leaves errno as it was
    ok = false;
  };
  if (overwrite) {
    std::vector<char> zeros(record * static_cast<size_t>(n) + 4096, 0);
    errno = 0;
    if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size()) ||
        ::fsync(fd) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
      fail();
  }
  double t0 = NowSeconds();
  for (int i = 0; i < n && ok; ++i) {
    errno = 0;
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) ||
        ::fdatasync(fd) != 0)
      fail();
  }
  double dt = NowSeconds() - t0;
  ::close(fd);
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return ok ? dt / n * 1e6 : -1;
}

// Microseconds per round trip of a token between two threads, one pinned to
// `cpu_a`, the other to `cpu_b` (two wake-ups per round trip). The calling
// thread is never pinned. -1 on failure.
double RoundTrip(int cpu_a, int cpu_b, int n) {
  // Semaphore eventfds: each read takes one token, so a failing side can
  // always release the other with one write.
  int to = ::eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE),
      back = ::eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
  if (to < 0 || back < 0) {
    if (to >= 0) ::close(to);
    if (back >= 0) ::close(back);
    return -1;
  }
  std::atomic<bool> failed{false};
  auto release = [&] {
    failed = true;
    uint64_t one = 1;
    (void)!::write(to, &one, 8);
    (void)!::write(back, &one, 8);
  };
  auto pin = [](int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
  };
  double seconds = 0;
  std::thread peer([&] {
    if (!pin(cpu_b)) return release();
    uint64_t v = 0;
    for (int i = 0; i < n && !failed; ++i) {
      if (::read(to, &v, 8) != 8) return release();
      if (failed) return;  // released by the other side
      v = 1;
      if (::write(back, &v, 8) != 8) return release();
    }
  });
  std::thread driver([&] {
    if (!pin(cpu_a)) return release();
    double t0 = NowSeconds();
    uint64_t v = 1;
    for (int i = 0; i < n && !failed; ++i) {
      v = 1;
      if (::write(to, &v, 8) != 8) return release();
      if (::read(back, &v, 8) != 8) return release();
      if (failed) return;  // released by the other side
    }
    seconds = NowSeconds() - t0;
  });
  driver.join();
  if (failed) release();  // the peer may still wait for a token
  peer.join();
  ::close(to);
  ::close(back);
  return failed ? -1 : seconds / n * 1e6;
}

// Verifications per second on each of `threads` threads running at once.
std::vector<double> VerifyRates(int threads, double seconds) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES],
      sig[crypto_sign_BYTES];
  std::vector<unsigned char> msg(1100, 0x5a);
  crypto_sign_keypair(pk, sk);
  crypto_sign_detached(sig, nullptr, msg.data(), msg.size(), sk);
  sodium_memzero(sk, sizeof sk);
  std::vector<double> rates(static_cast<size_t>(threads), 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      double t0 = NowSeconds(), dt = 0;
      uint64_t n = 0;
      do {
        for (int i = 0; i < 100; ++i)
          n += crypto_sign_verify_detached(sig, msg.data(), msg.size(), pk) == 0;
        dt = NowSeconds() - t0;
      } while (dt < seconds);
      rates[static_cast<size_t>(t)] = static_cast<double>(n) / dt;
    });
  }
  for (auto& t : ts) t.join();
  return rates;
}

int RunHost(const HostArgs& a) {
  if (sodium_init() < 0) {
    std::fprintf(stderr, "mlahub-bench host: libsodium failed to initialise\n");
    return 1;
  }
  std::error_code ec;
  const bool created = std::filesystem::create_directories(a.dir, ec);
  if (ec) {
    std::fprintf(stderr, "mlahub-bench host: cannot create %s: %s\n", a.dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  // The CPUs this process may use (taskset, cgroups), not all the machine's.
  cpu_set_t mask;
  CPU_ZERO(&mask);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &mask)) cpus.push_back(c);
  }
  if (cpus.empty()) {
    std::fprintf(stderr,
                 "mlahub-bench host: cannot read this process's CPUs (sched_getaffinity)\n");
    return 1;
  }
  const unsigned cores = static_cast<unsigned>(cpus.size());
  nlohmann::json out;
  out["cores"] = cores;
  std::fprintf(stderr, "mlahub-bench host: synced writes in %s...\n", a.dir.c_str());
  const std::string file = a.dir + "/mlahub-bench-host-sync-test";
  int err = 0;
  double append_us = SyncedWrites(file, 1400, a.syncs, false, &err);
  double overwrite_us = append_us < 0 ? -1 : SyncedWrites(file, 1400, a.syncs, true, &err);
  if (append_us < 0 || overwrite_us < 0) {
    std::fprintf(stderr, "mlahub-bench host: synced writes to %s failed: %s%s\n", file.c_str(),
                 std::strerror(err),
                 err == EEXIST ? " (left from an interrupted run? remove it)" : "");
    if (created) std::filesystem::remove(a.dir, ec);
    return 1;
  }
  std::printf("%-62s %10s\n", "figure", "value");
  std::printf("%-62s %10.1f\n", "append 1,400 B + fdatasync (new file: data and inode), us",
              append_us);
  std::printf("%-62s %10.1f\n", "overwrite 1,400 B + fdatasync (file already written), us",
              overwrite_us);
  out["append_fdatasync_us"] = append_us;
  out["overwrite_fdatasync_us"] = overwrite_us;

  double one_core = RoundTrip(cpus[0], cpus[0], a.round_trips);
  double two_cores = cores >= 2 ? RoundTrip(cpus[0], cpus[1], a.round_trips) : -1;
  if (one_core < 0 || (cores >= 2 && two_cores < 0)) {
    std::fprintf(stderr,
                 "mlahub-bench host: the wake-up test failed (pinning a thread or eventfd)\n");
    if (created) std::filesystem::remove(a.dir, ec);
    return 1;
  }
  std::printf("%-62s %10.1f\n", "thread wake-up round trip (eventfd), both on one core, us",
              one_core);
  out["wake_round_trip_one_core_us"] = one_core;
  if (two_cores >= 0) {
    std::printf("%-62s %10.1f\n", "thread wake-up round trip (eventfd), on two cores, us",
                two_cores);
    out["wake_round_trip_two_cores_us"] = two_cores;
  }

  double alone = VerifyRates(1, a.verify_seconds).at(0);
  auto together = VerifyRates(static_cast<int>(cores), a.verify_seconds);
  double sum = 0;
  for (double r : together) sum += r;
  std::printf("%-62s %10.0f\n", "Ed25519 verify, one thread, /s", alone);
  std::printf("%-62s %10.0f\n",
              ("Ed25519 verify, " + std::to_string(cores) + " threads at once, /s in all").c_str(),
              sum);
  std::printf("%-62s %10.2f\n", "  each of them, as a fraction of one alone", sum / cores / alone);
  std::printf(
      "  (well below 1: the cores share execution units, or the clock or other load on the host "
      "slows them\n"
      "   when all are busy; cores x verify then overstates the bound)\n");
  out["verify_one_thread_per_s"] = alone;
  out["verify_all_threads_per_s"] = sum;
  if (a.json) std::printf("%s\n", out.dump().c_str());
  if (created) std::filesystem::remove(a.dir, ec);  // only what this run made, and only if empty
  return 0;
}

}  // namespace

void RegisterHostBench(CLI::App& app, int& rc) {
  auto args = std::make_shared<HostArgs>();
  auto* c = app.add_subcommand("host",
                               "The machine's own bounds at low load: synced append vs overwrite, "
                               "thread wake-ups on one core and "
                               "across cores, Ed25519 verify on one and on all cores");
  c->add_option("--dir", args->dir,
                "Directory for the synced-write test (on the disk the ledger uses)")
      ->capture_default_str();
  c->add_option("--syncs", args->syncs, "Synced writes per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  c->add_option("--round-trips", args->round_trips, "Wake-up round trips per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  c->add_option("--verify-seconds", args->verify_seconds, "Seconds per verify figure")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 60.0));
  c->add_flag("--json", args->json, "Also print the figures as JSON");
  c->callback([args, &rc] { rc = RunHost(*args); });
}

}  // namespace mlahub::bench
