// mlahub-bench ledger: durable appends, proofs and verify of the ledger, each
// beside its bound measured in the same run (docs/BENCHMARKS.md, "Ledger"):
//   appends  vs raw synced RocksDB WriteBatches of the same entries and the
//            same batch size (a separate DB in DIR/raw-baseline, removed after)
//   proofs   vs the 50 us goal (median), at 1M and 10M entries
//   verify   vs the bare hashing it must do (SHA-256 of every entry and node)
// The ledger is left in DIR for `mlahub ledger ... --ledger DIR`.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "bench.h"
// Private to storage/, included on purpose: the bounds use the ledger's own
// SHA-256 (verify's bound) and memtable (the second raw bound).
#include "../storage/src/append_memtable.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/random.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"

extern char** environ;

namespace mlahub::bench {
namespace {

using storage::Ledger;

struct LedgerArgs {
  uint64_t entries = 1000000;
  std::string dir;
  std::string origin = "hub.mlahub.example/ledger";
  int producers = 1;
  uint64_t raw_entries = 2000000;
  int proof_samples = 2000;
  std::vector<uint64_t> proof_sizes = {1000000, 10000000};
  bool skip_verify = false;
  bool skip_raw = false;
  bool no_index = false;
  bool thread_cpu = false;
};

// CPU seconds of each thread of this process, summed by thread name
// (/proc/self/task/*/stat), for --thread-cpu.
std::map<std::string, double> ThreadCpu() {
  std::map<std::string, double> out;
  for (const auto& d : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string name;
    double cpu = 0;
    if (ReadProcStat((d.path() / "stat").string(), &name, &cpu)) out[name] += cpu;
  }
  return out;
}

constexpr const char* kKeyFile = "hub-ledger.key";

// Entries like the broker's: accepted / delivered / receipt events with ids,
// hashes and signatures (about 300-400 bytes). Encoded once per event type;
// each entry is a copy with its own message id and envelope hash patched in,
// so that the producer thread costs little beside the ledger it measures.
class EntryMaker {
 public:
  explicit EntryMaker(uint64_t seed) : rng_(seed) {
    for (int ev = 0; ev < 3; ++ev) {
      Template t;
      t.bytes = storage::EncodeLedgerEntry(Fields(ev));
      t.id_at = Find(t.bytes, Bytes(32, 'x'));
      t.hash_at = Find(t.bytes, Bytes(32, 0xEE));
      templates_.push_back(std::move(t));
    }
  }
  // Entry n, with its message id (32 hex characters) in *id.
  Bytes Make(uint64_t n, std::string* id) {
    const Template& t = templates_[n % 3];
    Bytes e = t.bytes;
    char hex[32];
    const uint64_t halves[2] = {rng_(), n};
    for (int h = 0; h < 2; ++h)
      for (int d = 0; d < 16; ++d) hex[h * 16 + d] = "0123456789abcdef"[(halves[h] >> (60 - 4 * d)) & 0xf];
    std::copy(hex, hex + 32, e.begin() + static_cast<long>(t.id_at));
    uint64_t h = rng_();
    for (int i = 0; i < 8; ++i) e[t.hash_at + static_cast<size_t>(i)] = static_cast<uint8_t>(h >> (8 * i));
    if (id != nullptr) id->assign(hex, 32);
    return e;
  }

 private:
  struct Template {
    Bytes bytes;
    size_t id_at = 0;
    size_t hash_at = 0;
  };
  static size_t Find(const Bytes& hay, const Bytes& needle) {
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
    MLAHUB_CHECK(it != hay.end());
    return static_cast<size_t>(it - hay.begin());
  }
  static storage::LedgerEntryFields Fields(int ev) {
    storage::LedgerEntryFields f;
    f.event = ev == 0 ? wire::LedgerEvent::Accepted : ev == 1 ? wire::LedgerEvent::Delivered : wire::LedgerEvent::Receipt;
    f.ledger_ms = 1764344940000;
    f.message_id = std::string(32, 'x');
    f.sender = "IT-MOJ";
    f.recipient = "NG-AGF";
    f.kind = wire::MessageKind::MlaRequest;
    f.created_ms = f.ledger_ms - 1200;
    f.expires_ms = f.ledger_ms + 7 * 86400000LL;
    f.legal_basis = wire::LegalBasis::Untoc;
    f.envelope_size = 6144;
    f.envelope_hash = Bytes(32, 0xEE);
    f.sender_key_id = crypto::RandomBytes(8);
    f.origin_signature = crypto::RandomBytes(64);
    if (f.event == wire::LedgerEvent::Receipt) {
      f.receipt_signature = crypto::RandomBytes(64);
      f.receipt_hash = crypto::RandomBytes(32);
      f.received_ms = f.ledger_ms - 5;
      f.state = wire::MessageState::Receipted;
    } else if (f.event == wire::LedgerEvent::Delivered) {
      f.attempt = 1;
      f.state = wire::MessageState::Delivered;
    } else {
      f.state = wire::MessageState::Queued;
    }
    return f;
  }
  std::mt19937_64 rng_;
  std::vector<Template> templates_;
};

Result<std::shared_ptr<const storage::NoteSigner>> LoadOrCreateSigner(const std::string& dir,
                                                                      const std::string& name) {
  std::string path = dir + "/" + kKeyFile;
  crypto::SigningKey key = crypto::SigningKey::Generate();
  if (FileExists(path)) {
    MLAHUB_ASSIGN_OR_RETURN(Bytes sk, ReadFile(path, 1024));
    MLAHUB_ASSIGN_OR_RETURN(key, crypto::SigningKey::FromBytes(sk));
    crypto::Wipe(sk.data(), sk.size());
  } else {
    MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0700));
    MLAHUB_RETURN_IF_ERROR(
        WriteFileAtomic(path, ByteView(key.secret().data(), key.secret().size()), 0600));
  }
  MLAHUB_ASSIGN_OR_RETURN(auto signer, storage::Ed25519NoteSigner::Create(name, std::move(key)));
  return std::shared_ptr<const storage::NoteSigner>(std::move(signer));
}

struct AppendResult {
  double seconds = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
  storage::LedgerStats stats;
  double p50_ack_us = 0;
};

Result<AppendResult> RunAppends(Ledger& ledger, const LedgerArgs& a) {
  AppendResult r;
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> producer_cpu_ns{0};
  std::mutex mu;
  std::condition_variable done_cv;
  uint64_t per = a.entries / static_cast<uint64_t>(a.producers);
  uint64_t total = per * static_cast<uint64_t>(a.producers);
  // What every callback needs, behind one pointer, so that the callback fits
  // in std::function's inline storage (no allocation per append).
  struct Shared {
    std::atomic<uint64_t>& acked;
    std::atomic<bool>& failed;
    std::mutex& mu;
    std::condition_variable& done_cv;
    uint64_t total;
  } shared{acked, failed, mu, done_cv, total};
  const Shared* sp = &shared;
  double start = NowSeconds();
  std::vector<std::thread> threads;
  for (int t = 0; t < a.producers; ++t) {
    threads.emplace_back([&, t] {
      EntryMaker maker(static_cast<uint64_t>(t) * 7919 + 1);
      for (uint64_t i = 0; i < per; ++i) {
        uint64_t n = static_cast<uint64_t>(t) * per + i;
        std::string key;
        Bytes e = maker.Make(n, &key);
        if (a.no_index) key.clear();
        bytes.fetch_add(e.size(), std::memory_order_relaxed);
        ledger.AppendAsync(std::move(e), std::move(key), [sp](const Status& s, uint64_t) {
          if (!s.ok()) sp->failed = true;
          if (sp->acked.fetch_add(1) + 1 == sp->total) {
            std::lock_guard<std::mutex> lk(sp->mu);
            sp->done_cv.notify_all();
          }
        });
      }
      timespec ts;
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      producer_cpu_ns += static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock<std::mutex> lk(mu);
    done_cv.wait(lk, [&] { return acked.load() == total; });
  }
  r.seconds = NowSeconds() - start;
  if (a.thread_cpu) {
    auto threads_cpu = ThreadCpu();
    threads_cpu["(producers)"] = static_cast<double>(producer_cpu_ns.load()) / 1e9;
    for (const auto& [name, secs] : threads_cpu)
      std::fprintf(stderr, "thread-cpu %-16s %7.2f s  %6.2f us/entry\n", name.c_str(), secs,
                   secs * 1e6 / static_cast<double>(total));
    struct rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    double proc = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::fprintf(stderr, "thread-cpu %-16s %7.2f s  %6.2f us/entry (wall %.2f s)\n", "process", proc,
                 proc * 1e6 / static_cast<double>(total), r.seconds);
  }
  if (failed) return Status::IoError("some appends failed");
  r.entries = total;
  r.bytes = bytes.load();
  r.stats = ledger.Stats();
  return r;
}

// Raw bound: the same entries in synced WriteBatches of `batch` puts, one
// 8-byte key each, stock RocksDB options (skiplist memtable). With
// `append_memtable`, the memtable the ledger uses for its ascending keys
// (storage/src/append_memtable.h): what that choice alone is worth.
Result<double> RunRaw(const std::string& path, uint64_t n, uint64_t batch, bool append_memtable) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  rocksdb::Options o;
  o.create_if_missing = true;
  o.compression = rocksdb::kNoCompression;
  o.write_buffer_size = size_t{128} << 20;
  o.max_background_jobs = 2;
  if (append_memtable) {
    o.allow_concurrent_memtable_write = false;
    o.memtable_factory = std::make_shared<storage::AppendMemTableRepFactory>();
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, path, &db);
  if (!s.ok()) return Status::IoError("raw baseline: " + s.ToString());
  EntryMaker maker(99);
  std::vector<Bytes> pool;
  for (int i = 0; i < 4096; ++i) pool.push_back(maker.Make(static_cast<uint64_t>(i), nullptr));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  double start = NowSeconds();
  for (uint64_t i = 0; i < n;) {
    rocksdb::WriteBatch wb;
    uint64_t k = std::min(batch, n - i);
    for (uint64_t j = 0; j < k; ++j, ++i) {
      char key[8];
      for (int b = 0; b < 8; ++b) key[b] = static_cast<char>(i >> (56 - 8 * b));
      const Bytes& v = pool[i % pool.size()];
      wb.Put(rocksdb::Slice(key, 8), rocksdb::Slice(reinterpret_cast<const char*>(v.data()), v.size()));
    }
    s = db->Write(wo, &wb);
    if (!s.ok()) break;
  }
  double secs = NowSeconds() - start;
  delete db;
  std::filesystem::remove_all(path, ec);
  if (!s.ok()) return Status::IoError("raw baseline: " + s.ToString());
  return static_cast<double>(n) / secs;
}

struct ProofTimes {
  uint64_t size = 0;
  double inclusion_p50 = 0, inclusion_p99 = 0, consistency_p50 = 0, consistency_p99 = 0;
};

Result<ProofTimes> TimeProofs(const Ledger& l, uint64_t size, int samples) {
  ProofTimes t;
  t.size = size;
  std::mt19937_64 rng(size);
  // Warm up as a serving process would be (upper tree levels in the block
  // cache); the timed proofs use other random indices.
  for (int i = 0; i < samples; ++i) {
    if (!l.ProveInclusion(rng() % size, size).ok()) return Status::Internal("proof failed");
  }
  std::vector<double> inc, con;
  for (int i = 0; i < samples; ++i) {
    uint64_t index = rng() % size;
    double s = NowSeconds();
    auto p = l.ProveInclusion(index, size);
    inc.push_back((NowSeconds() - s) * 1e6);
    if (!p.ok()) return p.status();
    uint64_t old = 1 + rng() % (size - 1 == 0 ? 1 : size - 1);
    s = NowSeconds();
    auto c = l.ProveConsistency(std::min(old, size), size);
    con.push_back((NowSeconds() - s) * 1e6);
    if (!c.ok()) return c.status();
  }
  t.inclusion_p50 = Percentile(inc, 0.5);
  t.inclusion_p99 = Percentile(inc, 0.99);
  t.consistency_p50 = Percentile(con, 0.5);
  t.consistency_p99 = Percentile(con, 0.99);
  return t;
}

// Bare hashing cost per entry: one leaf hash of an entry of the mean size
// plus one interior node hash (a tree has n-1 interior nodes).
double HashBoundPerSecond(size_t entry_bytes) {
  Bytes e(entry_bytes, 0x5a);
  storage::Hash h{};
  const int n = 200000;
  double start = NowSeconds();
  for (int i = 0; i < n; ++i) {
    e[static_cast<size_t>(i) % e.size()] ^= 1;
    storage::Hash leaf = storage::HashLeaf(e);
    h = storage::HashChildren(h, leaf);
  }
  double secs = NowSeconds() - start;
  if (h[0] == 0x42 && h[1] == 0x42) std::fprintf(stderr, " ");  // keep h alive
  return n / secs;
}

struct VerifyResult {
  uint64_t entries = 0;
  double seconds = 0;
  uint64_t peak_rss = 0;
  bool ok = false;
};

// Verify runs in a child process of this program so that its peak memory is
// its own, as `mlahub ledger verify` would see it.
Result<VerifyResult> RunVerifyChild(const std::string& dir) {
  int fds[2];
  if (::pipe(fds) != 0) return Status::IoError("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string self = "/proc/self/exe";
  std::string sub = "ledger-verify-child";
  std::string d = dir;
  std::vector<char*> argv = {self.data(), sub.data(), d.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status::IoError("cannot start the verify child");
  }
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  VerifyResult r;
  int ok = 0;
  std::istringstream in(out);
  in >> r.entries >> r.seconds >> r.peak_rss >> ok;
  r.ok = ok == 1;
  if (!in) return Status::Internal("verify child printed '" + out + "'");
  return r;
}

std::string Num(double v) {
  char buf[64];
  if (v >= 1000) {
    std::string s = std::to_string(static_cast<uint64_t>(v + 0.5));
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
      if (i > 0 && (s.size() - i) % 3 == 0) o += ',';
      o += s[i];
    }
    return o;
  }
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void Row(const std::string& figure, const std::string& value, const std::string& bound, double ratio) {
  char r[32];
  if (ratio > 0)
    std::snprintf(r, sizeof r, "%.2f", ratio);
  else
    std::snprintf(r, sizeof r, "-");
  std::printf("| %-44s | %-22s | %-40s | %-5s |\n", figure.c_str(), value.c_str(), bound.c_str(), r);
}

int RunLedger(const LedgerArgs& a) {
  auto signer = LoadOrCreateSigner(a.dir, a.origin);
  if (!signer.ok()) {
    std::fprintf(stderr, "mlahub-bench: %s\n", signer.status().ToString().c_str());
    return 1;
  }
  storage::LedgerOptions o;
  o.create_if_missing = true;
  o.origin = a.origin;
  o.signer = *signer;
  auto ledger = Ledger::Open(a.dir, o);
  if (!ledger.ok()) {
    std::fprintf(stderr, "mlahub-bench: %s\n", ledger.status().ToString().c_str());
    return 1;
  }
  uint64_t before = (*ledger)->Size();
  // Each timed phase starts with no dirty pages of an earlier one to write
  // back (the ledger leaves gigabytes for the raw run otherwise).
  ::sync();
  std::fprintf(stderr, "ledger: appending %llu entries to %s (had %llu)...\n",
               static_cast<unsigned long long>(a.entries), a.dir.c_str(), static_cast<unsigned long long>(before));
  auto app = RunAppends(**ledger, a);
  if (!app.ok()) {
    std::fprintf(stderr, "mlahub-bench: %s\n", app.status().ToString().c_str());
    return 1;
  }
  Status closed = (*ledger)->Close();
  if (!closed.ok()) {
    std::fprintf(stderr, "mlahub-bench: %s\n", closed.ToString().c_str());
    return 1;
  }
  ledger->reset();
  double rate = static_cast<double>(app->entries) / app->seconds;
  double mean_batch = app->stats.batches ? static_cast<double>(app->stats.entries) / static_cast<double>(app->stats.batches) : 0;
  double mean_entry = static_cast<double>(app->bytes) / static_cast<double>(std::max<uint64_t>(app->entries, 1));
  std::fprintf(stderr, "ledger: %.0f entries/s, %llu batches (mean %.0f, max %llu), mean entry %.0f bytes\n", rate,
               static_cast<unsigned long long>(app->stats.batches), mean_batch,
               static_cast<unsigned long long>(app->stats.max_batch), mean_entry);

  double raw_rate = 0, raw_append_rate = 0;
  uint64_t raw_batch = static_cast<uint64_t>(mean_batch + 0.5);
  if (!a.skip_raw && raw_batch > 0) {
    uint64_t n = std::min(a.raw_entries, a.entries);
    for (bool append : {false, true}) {
      std::fprintf(stderr, "raw%s: %llu entries in synced WriteBatches of %llu...\n",
                   append ? " (append memtable)" : "", static_cast<unsigned long long>(n),
                   static_cast<unsigned long long>(raw_batch));
      ::sync();
      auto raw = RunRaw(a.dir + "/raw-baseline", n, raw_batch, append);
      if (!raw.ok()) {
        std::fprintf(stderr, "mlahub-bench: %s\n", raw.status().ToString().c_str());
        return 1;
      }
      (append ? raw_append_rate : raw_rate) = *raw;
      std::fprintf(stderr, "raw%s: %.0f entries/s\n", append ? " (append memtable)" : "", *raw);
    }
  }

  auto view = Ledger::OpenReadOnly(a.dir);
  if (!view.ok()) {
    std::fprintf(stderr, "mlahub-bench: %s\n", view.status().ToString().c_str());
    return 1;
  }
  uint64_t size = (*view)->Size();
  std::vector<uint64_t> sizes;
  for (uint64_t s : a.proof_sizes)
    if (s <= size && s > 1) sizes.push_back(s);
  if (sizes.empty() && size > 1) sizes.push_back(size);
  std::vector<ProofTimes> proofs;
  for (uint64_t s : sizes) {
    std::fprintf(stderr, "proofs at size %llu...\n", static_cast<unsigned long long>(s));
    auto t = TimeProofs(**view, s, a.proof_samples);
    if (!t.ok()) {
      std::fprintf(stderr, "mlahub-bench: %s\n", t.status().ToString().c_str());
      return 1;
    }
    proofs.push_back(*t);
  }
  view->reset();

  VerifyResult ver;
  // With --entries 0 (proofs or verify of an existing ledger) hash entries of
  // the size this benchmark writes.
  double hash_bound = HashBoundPerSecond(mean_entry >= 1 ? static_cast<size_t>(mean_entry) : 363);
  if (!a.skip_verify) {
    std::fprintf(stderr, "verify of %llu entries...\n", static_cast<unsigned long long>(size));
    auto v = RunVerifyChild(a.dir);
    if (!v.ok()) {
      std::fprintf(stderr, "mlahub-bench: %s\n", v.status().ToString().c_str());
      return 1;
    }
    ver = *v;
    if (!ver.ok) {
      std::fprintf(stderr, "mlahub-bench: verify FAILED\n");
      return 1;
    }
  }

  std::printf("\nmlahub-bench ledger: %llu entries appended (ledger now %llu), mean entry %.0f bytes, "
              "%d producer thread(s)\n\n",
              static_cast<unsigned long long>(app->entries), static_cast<unsigned long long>(size), mean_entry,
              a.producers);
  std::printf("| %-44s | %-22s | %-40s | %-5s |\n", "figure", "value", "bound (same run)", "ratio");
  std::printf("|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(24, '-').c_str(),
              std::string(42, '-').c_str(), std::string(7, '-').c_str());
  if (app->entries > 0) {
    Row("durable appends, entries/s (goal >= 250k)", Num(rate),
        raw_rate > 0 ? "raw synced WriteBatch " + Num(raw_rate) + "/s" : "(raw skipped)",
        raw_rate > 0 ? rate / raw_rate : 0);
    if (raw_append_rate > 0)
      Row("  same, vs raw with the ledger's memtable", Num(rate), "raw, append memtable " + Num(raw_append_rate) + "/s",
          rate / raw_append_rate);
    Row("  batches: count / mean / max entries",
        Num(static_cast<double>(app->stats.batches)) + " / " + Num(mean_batch) + " / " +
            Num(static_cast<double>(app->stats.max_batch)),
        "raw baseline batch = " + Num(static_cast<double>(raw_batch)), 0);
  }
  for (const auto& p : proofs) {
    Row("inclusion proof at " + Num(static_cast<double>(p.size)) + ", p50 / p99 us",
        Num(p.inclusion_p50) + " / " + Num(p.inclusion_p99), "goal: median 50 us", p.inclusion_p50 / 50.0);
    Row("consistency proof at " + Num(static_cast<double>(p.size)) + ", p50 / p99 us",
        Num(p.consistency_p50) + " / " + Num(p.consistency_p99), "goal: median 50 us", p.consistency_p50 / 50.0);
  }
  if (!a.skip_verify) {
    double vrate = static_cast<double>(ver.entries) / ver.seconds;
    Row("verify, entries/s", Num(vrate),
        std::string("bare SHA-256, libsodium (leaf + node) ") +
            Num(hash_bound) + "/s",
        vrate / hash_bound);
    Row("verify of " + Num(static_cast<double>(ver.entries)) + " entries, s", Num(ver.seconds),
        "goal: 10M in 60 s -> " + Num(static_cast<double>(ver.entries) / 1e7 * 60) + " s",
        ver.seconds / (static_cast<double>(ver.entries) / 1e7 * 60));
    Row("verify peak memory (RSS), MiB", Num(static_cast<double>(ver.peak_rss) / (1 << 20)), "streams: O(log n)", 0);
  }
  std::printf("\n");
  std::fflush(stdout);
  return 0;
}

int RunVerifyChildMain(const std::string& dir) {
  auto l = Ledger::OpenReadOnly(dir);
  if (!l.ok()) {
    std::fprintf(stderr, "verify child: %s\n", l.status().ToString().c_str());
    return 1;
  }
  double start = NowSeconds();
  storage::VerifyReport r = (*l)->Verify();
  double secs = NowSeconds() - start;
  if (!r.status.ok()) std::fprintf(stderr, "verify child: %s\n", r.status.ToString().c_str());
  std::printf("%llu %.6f %llu %d\n", static_cast<unsigned long long>(r.entries), secs,
              static_cast<unsigned long long>(PeakRssBytes()), r.status.ok() ? 1 : 0);
  return r.status.ok() ? 0 : 6;
}

}  // namespace

void RegisterLedgerBench(CLI::App& app, int& rc) {
  auto a = std::make_shared<LedgerArgs>();
  CLI::App* c = app.add_subcommand(
      "ledger",
      "Durable ledger appends vs raw synced RocksDB WriteBatches, proof times at 1M/10M entries, verify "
      "throughput and memory. Appends to the ledger in DIR (created with a hub key in DIR/hub-ledger.key if "
      "missing) and leaves it there.");
  c->add_option("--entries", a->entries, "Entries to append (about 300 bytes each)")->capture_default_str();
  c->add_option("--dir", a->dir, "Ledger directory")->required();
  c->add_option("--origin", a->origin, "Checkpoint origin and key name when creating")->capture_default_str();
  c->add_option("--producers", a->producers, "Threads calling AppendAsync")->capture_default_str();
  c->add_option("--raw-entries", a->raw_entries, "Entries in the raw RocksDB baseline (at most --entries)")
      ->capture_default_str();
  c->add_option("--proof-samples", a->proof_samples, "Random proofs timed per size")->capture_default_str();
  c->add_option("--proof-sizes", a->proof_sizes, "Tree sizes to time proofs at (those <= the ledger size)")
      ->delimiter(',')
      ->capture_default_str();
  c->add_flag("--skip-verify", a->skip_verify, "Do not run verify");
  c->add_flag("--skip-raw", a->skip_raw, "Do not run the raw RocksDB baseline");
  c->add_flag("--no-index", a->no_index, "Append without message-id index keys (to see what the index costs)");
  c->add_flag("--thread-cpu", a->thread_cpu, "Print the CPU time of each thread after the appends (stderr)");
  c->callback([a, &rc] { rc = RunLedger(*a); });

  auto dir = std::make_shared<std::string>();
  CLI::App* v = app.add_subcommand("ledger-verify-child", "(internal) verify DIR, print entries, seconds, peak RSS");
  v->group("");
  v->add_option("dir", *dir)->required();
  v->callback([dir, &rc] { rc = RunVerifyChildMain(*dir); });
}

}  // namespace mlahub::bench
