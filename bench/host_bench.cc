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

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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
double SyncedWrites(const std::string& path, size_t record, int n, bool overwrite) {
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  std::vector<char> buf(record, 'x');
  bool ok = true;
  if (overwrite) {
    std::vector<char> zeros(record * static_cast<size_t>(n) + 4096, 0);
    ok = ::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size()) && ::fsync(fd) == 0 &&
         ::lseek(fd, 0, SEEK_SET) == 0;
  }
  double t0 = NowSeconds();
  for (int i = 0; i < n && ok; ++i)
    ok = ::write(fd, buf.data(), buf.size()) == static_cast<ssize_t>(buf.size()) && ::fdatasync(fd) == 0;
  double dt = NowSeconds() - t0;
  ::close(fd);
  std::filesystem::remove(path);
  return ok ? dt / n * 1e6 : -1;
}

bool Pin(pthread_t t, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(t, sizeof set, &set) == 0;
}

// Microseconds per round trip of a token between two threads, pinned to
// `cpu_a` and `cpu_b` (two wake-ups per round trip).
double RoundTrip(int cpu_a, int cpu_b, int n) {
  int to = ::eventfd(0, EFD_CLOEXEC), back = ::eventfd(0, EFD_CLOEXEC);
  if (to < 0 || back < 0) return -1;
  std::atomic<bool> failed{false};
  std::thread peer([&] {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      if (::read(to, &v, 8) != 8 || ::write(back, &v, 8) != 8) {
        failed = true;
        return;
      }
    }
  });
  bool pinned = Pin(pthread_self(), cpu_a) && Pin(peer.native_handle(), cpu_b);
  double t0 = NowSeconds();
  uint64_t v = 1;
  for (int i = 0; i < n && !failed; ++i) {
    if (::write(to, &v, 8) != 8 || ::read(back, &v, 8) != 8) failed = true;
  }
  double dt = NowSeconds() - t0;
  if (failed) {  // unblock the peer
    v = 1;
    for (int i = 0; i < n; ++i) (void)::write(to, &v, 8);
  }
  peer.join();
  ::close(to);
  ::close(back);
  cpu_set_t all;
  CPU_ZERO(&all);
  for (unsigned c = 0; c < std::thread::hardware_concurrency(); ++c) CPU_SET(c, &all);
  pthread_setaffinity_np(pthread_self(), sizeof all, &all);
  return pinned && !failed ? dt / n * 1e6 : -1;
}

// Verifications per second on each of `threads` threads running at once.
std::vector<double> VerifyRates(int threads, double seconds) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
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
        for (int i = 0; i < 100; ++i) n += crypto_sign_verify_detached(sig, msg.data(), msg.size(), pk) == 0;
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
    std::fprintf(stderr, "mlahub-bench host: cannot create %s: %s\n", a.dir.c_str(), ec.message().c_str());
    return 1;
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  nlohmann::json out;
  out["cores"] = cores;
  std::fprintf(stderr, "mlahub-bench host: synced writes in %s...\n", a.dir.c_str());
  const std::string file = a.dir + "/sync-test";
  double append_us = SyncedWrites(file, 1400, a.syncs, false);
  double overwrite_us = SyncedWrites(file, 1400, a.syncs, true);
  if (append_us < 0 || overwrite_us < 0) {
    std::fprintf(stderr, "mlahub-bench host: synced writes in %s failed: %s\n", a.dir.c_str(), std::strerror(errno));
    return 1;
  }
  std::printf("%-62s %10s\n", "figure", "value");
  std::printf("%-62s %10.1f\n", "append 1,400 B + fdatasync (new file: data and inode), us", append_us);
  std::printf("%-62s %10.1f\n", "overwrite 1,400 B + fdatasync (file already written), us", overwrite_us);
  out["append_fdatasync_us"] = append_us;
  out["overwrite_fdatasync_us"] = overwrite_us;

  double one_core = RoundTrip(0, 0, a.round_trips);
  double two_cores = cores >= 2 ? RoundTrip(0, 1, a.round_trips) : -1;
  if (one_core < 0) {
    std::fprintf(stderr, "mlahub-bench host: the wake-up test failed (pinning or eventfd)\n");
    return 1;
  }
  std::printf("%-62s %10.1f\n", "thread wake-up round trip (eventfd), both on one core, us", one_core);
  out["wake_round_trip_one_core_us"] = one_core;
  if (two_cores >= 0) {
    std::printf("%-62s %10.1f\n", "thread wake-up round trip (eventfd), on two cores, us", two_cores);
    out["wake_round_trip_two_cores_us"] = two_cores;
  }

  double alone = VerifyRates(1, a.verify_seconds).at(0);
  auto together = VerifyRates(static_cast<int>(cores), a.verify_seconds);
  double sum = 0;
  for (double r : together) sum += r;
  std::printf("%-62s %10.0f\n", "Ed25519 verify, one thread, /s", alone);
  std::printf("%-62s %10.0f\n", ("Ed25519 verify, " + std::to_string(cores) + " threads at once, /s in all").c_str(),
              sum);
  std::printf("%-62s %10.2f\n", "  each of them, as a fraction of one alone", sum / cores / alone);
  std::printf("  (a fraction well below 1 means the cores share execution units: cores x verify overstates the bound)\n");
  out["verify_one_thread_per_s"] = alone;
  out["verify_all_threads_per_s"] = sum;
  if (a.json) std::printf("%s\n", out.dump().c_str());
  if (created) std::filesystem::remove(a.dir, ec);  // only what this run made, and only if empty
  return 0;
}

}  // namespace

void RegisterHostBench(CLI::App& app, int& rc) {
  auto args = std::make_shared<HostArgs>();
  auto* c = app.add_subcommand(
      "host", "The machine's own bounds at low load: synced append vs overwrite, thread wake-ups on one core and "
              "across cores, Ed25519 verify on one and on all cores");
  c->add_option("--dir", args->dir, "Directory for the synced-write test (on the disk the ledger uses)")
      ->capture_default_str();
  c->add_option("--syncs", args->syncs, "Synced writes per figure")->capture_default_str()->check(CLI::Range(1, 1000000));
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
