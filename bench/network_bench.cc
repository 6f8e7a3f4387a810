// mlahub-bench broker: the hub under load, as real processes.
//
// Makes a network with `mlahub network init`, starts the real mlahub-broker
// from its config (a fresh data directory for every run), and drives it
// through the documented protocol with CURVE clients in this process:
// producers submit pre-sealed ~1 KB envelopes with at most W unconfirmed
// each, a consumer (the recipient's node) receives every Deliver and answers
// with a signed receipt. Figures, each beside its bound from the same run:
//  - ingest: envelopes/s acknowledged durable, vs 0.6 x cores x the Ed25519
//    verify rate measured here (the hub's dominant cost);
//  - end to end: request, delivery, signed receipt, per second;
//  - latency (ack and publish-to-delivery) p50/p99/p99.9 under an open-loop
//    schedule at fixed rates;
//  - the peers' shape (BENCHMARKING.md): broker pinned to one core, P x W of
//    1x1, 1x16, 1x256, 50x1, full flow with the receipt; and the same with
//    the two signature checks per message (envelope, receipt) set aside by
//    subtracting their cost measured on its own;
//  - memory of the broker with the recipient offline and N envelopes queued.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "mlahub/core/clock.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/identity/keys.h"
#include "mlahub/transport/client.h"
#include "mlahub/transport/command.h"
#include "process.h"

namespace mlahub::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kProducer = "IT-MOJ";
constexpr const char* kConsumer = "NG-AGF";

struct BrokerArgs {
  std::string dir;
  double seconds = 5;
  int runs = 3;
  std::vector<std::string> shapes = {"1x1", "1x16", "1x256", "50x1"};
  std::vector<double> rates = {1000, 5000};
  std::vector<double> fractions = {0.25, 0.5, 0.75};
  double max_rate = 0;  // > 0: the fractions are of this rate, not of the measured ingest
  uint64_t offline = 1000000;
  int ingest_producers = 4;
  int ingest_window = 256;
  bool skip_peers = false;
  bool skip_latency = false;
  bool json = false;
  std::string broker_bin;
  std::string mlahub_bin;
};

std::string BinDir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("build/bin") : exe.parent_path().string();
}

// ---- the network and the broker process ----

struct Network {
  std::string dir;
  uint16_t base = 0;
  std::string endpoint;
  crypto::X25519PublicKey hub_curve{};
  std::unique_ptr<identity::NodeKeys> producer, consumer;
  identity::PublicIdentity consumer_pub;
};

Result<Network> MakeNetwork(const BrokerArgs& a) {
  Network n;
  n.dir = a.dir + "/net";
  std::error_code ec;
  fs::remove_all(n.dir, ec);
  MLAHUB_ASSIGN_OR_RETURN(n.base, support::FreePortRange(20));
  MLAHUB_ASSIGN_OR_RETURN(auto init, support::Process::Spawn(
                                         {a.mlahub_bin, "network", "init", "--dir", n.dir, "--nodes",
                                          std::string(kProducer) + "," + kConsumer + ",TH-OAG", "--base-port",
                                          std::to_string(n.base)},
                                         {.log_file = a.dir + "/network-init.log"}));
  auto rc = init.Wait(120s);
  if (rc != 0) return Status::Internal("mlahub network init failed; see " + a.dir + "/network-init.log");
  n.endpoint = "tcp://127.0.0.1:" + std::to_string(n.base);
  MLAHUB_ASSIGN_OR_RETURN(auto hub, identity::LoadIdentity(n.dir + "/hub/keys"));
  n.hub_curve = hub.curve_key;
  MLAHUB_ASSIGN_OR_RETURN(auto p, identity::LoadKeyDir(n.dir + "/nodes/" + kProducer + "/keys", ""));
  MLAHUB_ASSIGN_OR_RETURN(auto c, identity::LoadKeyDir(n.dir + "/nodes/" + kConsumer + "/keys", ""));
  n.consumer_pub = c.Public();
  n.producer = std::make_unique<identity::NodeKeys>(std::move(p));
  n.consumer = std::make_unique<identity::NodeKeys>(std::move(c));
  return n;
}

struct Broker {
  support::Process process;
  pid_t pid() const { return process.pid(); }
};

Result<Broker> StartBroker(const BrokerArgs& a, const Network& n, const std::vector<int>& cpus) {
  std::error_code ec;
  fs::remove_all(n.dir + "/hub/data", ec);  // a fresh ledger and queues for every run
  Broker b;
  MLAHUB_ASSIGN_OR_RETURN(b.process,
                          support::Process::Spawn({a.broker_bin, "--config", n.dir + "/hub/broker.toml"},
                                                  {.cpus = cpus, .log_file = a.dir + "/broker.log"}));
  MLAHUB_RETURN_IF_ERROR(support::WaitForReadyFile(n.dir + "/hub/data/ready.json", b.process, 60s).status());
  return b;
}

Status StopBroker(Broker& b) {
  b.process.Signal(SIGTERM);
  auto rc = b.process.Wait(120s);
  if (!rc) {
    b.process.Kill();
    return Status::Unavailable("broker did not stop within 120 s of SIGTERM");
  }
  if (*rc != 0) return Status::Internal("broker exited with " + std::to_string(*rc) + " after SIGTERM");
  return Status::Ok();
}

// ---- envelopes ----

struct Pool {
  std::vector<Bytes> envelopes;
  // The recipient's signed receipt for each envelope, signed with the pool
  // (received_ms = signing time), so that the recipient in the same process
  // does not take CPU from the broker on the shared cores to sign them during
  // the run; the broker verifies them as any other. Empty: sign at delivery.
  std::vector<Bytes> receipts;
  std::unordered_map<std::string, size_t> index;  // message id -> position
  size_t envelope_bytes = 0;
};

// The recipient's signed receipt for the envelope `frame` (parsed as `p`), received now.
Bytes SignedReceipt(const Network& n, ByteView frame, const envelope::Parsed& p) {
  envelope::ReceiptInfo r;
  r.message_id = std::string(p.message_id());
  r.envelope_hash = envelope::EnvelopeHash(frame);
  r.sender = std::string(p.sender());
  r.recipient = n.consumer->id.str();
  r.received_ms = SystemClock::Instance().NowMillis();
  return envelope::SignReceipt(r, n.consumer->sign);
}

Result<Pool> SealPool(const Network& n, size_t count, bool with_receipts) {
  MLAHUB_ASSIGN_OR_RETURN(auto kind, envelope::ParseKind("InformationExchange"));
  nlohmann::json body;
  body["content"] = std::string(560, 'x');
  MLAHUB_ASSIGN_OR_RETURN(auto payload, envelope::BuildPayloadFromJson(kind, body.dump()));
  Pool pool;
  pool.envelopes.resize(count);
  if (with_receipts) pool.receipts.resize(count);
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  double t0 = NowSeconds();
  std::atomic<size_t> done{0};
  for (unsigned t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      envelope::SealParams params;
      params.kind = kind;
      params.case_ref = "BENCH";
      for (size_t i = next++; i < count; i = next++) {
        auto e = envelope::Seal(params, *n.producer, n.consumer_pub, payload);
        if (!e.ok()) {
          failed = true;
          return;
        }
        pool.envelopes[i] = std::move(e).value();
        if (with_receipts) {
          auto p = envelope::Parse(pool.envelopes[i]);
          if (!p.ok()) {
            failed = true;
            return;
          }
          pool.receipts[i] = SignedReceipt(n, pool.envelopes[i], *p);
        }
        ++done;
      }
    });
  }
  while (done < count && !failed) {
    std::this_thread::sleep_for(200ms);
    if (isatty(2) && count > 20000)
      std::fprintf(stderr, "\r  sealing envelopes: %zu / %zu", done.load(), count);
  }
  for (auto& t : ts) t.join();
  if (isatty(2) && count > 20000) std::fprintf(stderr, "\r  sealed %zu envelopes in %.1f s\n", count, NowSeconds() - t0);
  if (failed) return Status::Internal("sealing the benchmark envelopes failed");
  for (size_t i = 0; i < count; ++i) {
    auto p = envelope::Parse(pool.envelopes[i]);
    if (!p.ok()) return p.status();
    pool.index.emplace(std::string(p->message_id()), i);
  }
  pool.envelope_bytes = pool.envelopes.empty() ? 0 : pool.envelopes[0].size();
  return pool;
}

// Ed25519 verifications per second on one thread, over the signed part of an
// envelope (what the broker checks).
double MeasureVerifyRate(const Network& n, const Bytes& sample) {
  auto parsed = envelope::Parse(sample);
  if (!parsed.ok()) return 0;
  const crypto::SignPublicKey pk = n.producer->Public().sign_key;
  int iters = 0;
  double t0 = NowSeconds(), t = t0;
  while (t - t0 < 1.5) {
    for (int i = 0; i < 200; ++i) {
      if (!envelope::VerifyOrigin(*parsed, pk).ok()) return 0;
    }
    iters += 200;
    t = NowSeconds();
  }
  return iters / (t - t0);
}

// ---- clients ----

Result<std::unique_ptr<transport::Client>> Connect(std::shared_ptr<transport::Context> ctx, const Network& n,
                                                   const identity::NodeKeys& keys, uint64_t last_seq = 0) {
  transport::ClientOptions o;
  o.endpoint = n.endpoint;
  o.server_key = n.hub_curve;
  o.send_hwm = 100000;
  MLAHUB_ASSIGN_OR_RETURN(auto c, transport::Client::Connect(ctx, keys.curve, o));
  MLAHUB_RETURN_IF_ERROR(c->WaitForHandshake(30s));
  transport::Hello h;
  h.node_id = keys.id.str();
  h.last_delivery_seq = last_seq;
  MLAHUB_ASSIGN_OR_RETURN(auto frames, transport::EncodeCommand(h));
  MLAHUB_RETURN_IF_ERROR(c->Send(frames));
  return c;
}

Status SendRetrying(transport::Client& c, const transport::Frames& f) {
  for (int i = 0; i < 100000; ++i) {
    Status s = c.Send(f);
    if (s.code() != Code::kUnavailable) return s;
    std::this_thread::sleep_for(100us);
  }
  return Status::Unavailable("the broker connection stayed full");
}

// Shared between the producer and consumer threads of one run.
struct RunState {
  const Pool* pool = nullptr;
  std::vector<Clock::time_point> sent;       // per pool index: scheduled or actual send time
  std::vector<double> ack_us;                // per pool index; -1 = none
  std::vector<double> deliver_us;            // per pool index; -1 = none
  std::atomic<uint64_t> acked{0}, refused{0}, delivered{0}, receipted{0};
  std::atomic<bool> stop{false};
  std::atomic<int> exhausted{0};  // producers that ran out of envelopes before stop
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex mu;
  void Error(const std::string& e) {
    std::lock_guard<std::mutex> l(mu);
    if (errors++ == 0) first_error = e;
  }
};

// The recipient: receipts every delivery (sign + send), counts deliveries and
// accepted receipts.
void ConsumerLoop(std::shared_ptr<transport::Context> ctx, const Network& n, RunState& st) {
  auto c = Connect(ctx, n, *n.consumer);
  if (!c.ok()) return st.Error("consumer: " + c.status().ToString());
  uint64_t corr = 0;
  while (!st.stop) {
    auto m = (*c)->Receive(20ms);
    if (!m.ok()) {
      st.Error("consumer receive: " + m.status().ToString());
      continue;
    }
    if (!m->has_value()) continue;
    auto cmd = transport::DecodeCommand(**m);
    if (!cmd.ok()) {
      st.Error("consumer decode: " + cmd.status().ToString());
      continue;
    }
    if (auto* d = std::get_if<transport::Deliver>(&*cmd)) {
      auto now = Clock::now();
      auto p = envelope::Parse(d->envelope);
      if (!p.ok()) {
        st.Error("consumer: delivered envelope does not parse");
        continue;
      }
      auto it = st.pool->index.find(std::string(p->message_id()));
      if (it != st.pool->index.end() && st.deliver_us[it->second] < 0) {
        st.deliver_us[it->second] = std::chrono::duration<double, std::micro>(now - st.sent[it->second]).count();
        ++st.delivered;
      }
      const bool presigned = it != st.pool->index.end() && it->second < st.pool->receipts.size();
      transport::SubmitReceipt sr{++corr, d->delivery_seq,
                                  presigned ? st.pool->receipts[it->second] : SignedReceipt(n, d->envelope, *p)};
      auto f = transport::EncodeCommand(sr);
      if (!f.ok() || !SendRetrying(**c, *f).ok()) st.Error("consumer: cannot send a receipt");
    } else if (auto* rr = std::get_if<transport::ReceiptResult>(&*cmd)) {
      if (rr->accepted) {
        ++st.receipted;
      } else {
        st.Error("receipt refused: " + rr->message);
      }
    }
  }
}

// Closed loop: submits pool[begin, end) with at most `window` unconfirmed.
void ProducerLoop(std::shared_ptr<transport::Context> ctx, const Network& n, RunState& st, size_t begin, size_t end,
                  int window) {
  auto c = Connect(ctx, n, *n.producer);
  if (!c.ok()) return st.Error("producer: " + c.status().ToString());
  std::unordered_map<uint64_t, size_t> inflight;
  size_t next = begin;
  while (!st.stop && (next < end || !inflight.empty())) {
    while (!st.stop && next < end && inflight.size() < static_cast<size_t>(window)) {
      auto f = transport::EncodeCommand(transport::Submit{next + 1, st.pool->envelopes[next]});
      st.sent[next] = Clock::now();
      if (!f.ok() || !SendRetrying(**c, *f).ok()) return st.Error("producer: cannot send");
      inflight.emplace(next + 1, next);
      ++next;
    }
    auto m = (*c)->Receive(inflight.size() >= static_cast<size_t>(window) || next >= end ? 20ms : 0ms);
    if (!m.ok() || !m->has_value()) continue;
    auto cmd = transport::DecodeCommand(**m);
    if (!cmd.ok()) continue;
    if (auto* r = std::get_if<transport::SubmitResult>(&*cmd)) {
      auto it = inflight.find(r->correlation);
      if (it == inflight.end()) continue;
      size_t i = it->second;
      inflight.erase(it);
      st.ack_us[i] = std::chrono::duration<double, std::micro>(Clock::now() - st.sent[i]).count();
      if (r->accepted) {
        ++st.acked;
      } else {
        ++st.refused;
        st.Error("submit refused: " + std::string(CodeName(r->error)) + ": " + r->message);
      }
    }
  }
  if (!st.stop) ++st.exhausted;
}

// Open loop: submits pool[0, count) at `rate` per second on a fixed schedule
// (latency counts from the scheduled time, so queueing is not hidden).
void ScheduledProducer(std::shared_ptr<transport::Context> ctx, const Network& n, RunState& st, size_t count,
                       double rate) {
  auto c = Connect(ctx, n, *n.producer);
  if (!c.ok()) return st.Error("producer: " + c.status().ToString());
  auto t0 = Clock::now() + 50ms;
  size_t next = 0;
  std::unordered_map<uint64_t, size_t> inflight;
  while (!st.stop && (next < count || !inflight.empty())) {
    auto now = Clock::now();
    while (next < count) {
      auto due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(next / rate));
      if (due > now) break;
      st.sent[next] = due;
      auto f = transport::EncodeCommand(transport::Submit{next + 1, st.pool->envelopes[next]});
      if (!f.ok() || !SendRetrying(**c, *f).ok()) return st.Error("producer: cannot send");
      inflight.emplace(next + 1, next);
      ++next;
    }
    // Sleep until the next send is due or an answer arrives, whichever is
    // first (not on a short timer: frequent wake-ups made this VM's host
    // throttle it every 100 ms, which showed as latency of the broker).
    auto wake = next < count ? t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(next / rate))
                             : Clock::now() + 20ms;
    auto m = (*c)->ReceiveUntil(wake);
    if (!m.ok() || !m->has_value()) continue;
    auto cmd = transport::DecodeCommand(**m);
    if (!cmd.ok()) continue;
    if (auto* r = std::get_if<transport::SubmitResult>(&*cmd)) {
      auto it = inflight.find(r->correlation);
      if (it == inflight.end()) continue;
      st.ack_us[it->second] = std::chrono::duration<double, std::micro>(Clock::now() - st.sent[it->second]).count();
      inflight.erase(it);
      if (r->accepted) ++st.acked; else ++st.refused;
    }
  }
}

struct RunResult {
  double acked_per_s = 0;
  double receipted_per_s = 0;
  std::vector<double> ack_us, deliver_us;
  // Open loop, after the first second: CPU per acknowledged message of the
  // broker and of this process (producer, consumer, their CURVE), and the
  // broker's context switches per message.
  double broker_cpu_us = 0, bench_cpu_us = 0, broker_switches = 0;
  uint64_t refused = 0;
  int errors = 0;
  std::string first_error;
};

void SetCpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// One closed-loop run of `seconds` with P x W producers and a consumer.
Result<RunResult> ClosedRun(const BrokerArgs& a, const Network& n, const Pool& pool, int producers, int window,
                            bool with_consumer, const std::vector<int>& broker_cpus, int client_cpu) {
  MLAHUB_ASSIGN_OR_RETURN(auto broker, StartBroker(a, n, broker_cpus));
  MLAHUB_ASSIGN_OR_RETURN(auto ctx, transport::Context::Create(1));
  RunState st;
  st.pool = &pool;
  st.sent.assign(pool.envelopes.size(), Clock::time_point{});
  st.ack_us.assign(pool.envelopes.size(), -1);
  st.deliver_us.assign(pool.envelopes.size(), -1);
  std::vector<std::thread> ts;
  if (with_consumer) ts.emplace_back([&] { SetCpu(client_cpu); ConsumerLoop(ctx, n, st); });
  size_t per = pool.envelopes.size() / producers;
  for (int p = 0; p < producers; ++p)
    ts.emplace_back([&, p] { SetCpu(client_cpu); ProducerLoop(ctx, n, st, p * per, (p + 1) * per, window); });
  // Warm up 1 s, then count over the measured window.
  std::this_thread::sleep_for(1s);
  uint64_t a0 = st.acked, r0 = st.receipted;
  double t0 = NowSeconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  uint64_t a1 = st.acked, r1 = st.receipted;
  double t1 = NowSeconds();
  st.stop = true;
  for (auto& t : ts) t.join();
  Status stopped = StopBroker(broker);
  RunResult r;
  r.acked_per_s = (a1 - a0) / (t1 - t0);
  r.receipted_per_s = (r1 - r0) / (t1 - t0);
  r.refused = st.refused;
  r.errors = st.errors;
  r.first_error = st.first_error;
  if (a1 == 0) return Status::Internal("no envelope was acknowledged: " + st.first_error);
  if (st.exhausted > 0) return Status::Internal("the envelope pool ran out during the run; raise its size");
  if (!stopped.ok()) return stopped;
  return r;
}

Result<RunResult> OpenRun(const BrokerArgs& a, const Network& n, const Pool& pool, double rate, double seconds,
                          const std::vector<int>& broker_cpus, int client_cpu) {
  MLAHUB_ASSIGN_OR_RETURN(auto broker, StartBroker(a, n, broker_cpus));
  MLAHUB_ASSIGN_OR_RETURN(auto ctx, transport::Context::Create(1));
  RunState st;
  st.pool = &pool;
  size_t count = std::min(pool.envelopes.size(), static_cast<size_t>(rate * seconds));
  st.sent.assign(pool.envelopes.size(), Clock::time_point{});
  st.ack_us.assign(pool.envelopes.size(), -1);
  st.deliver_us.assign(pool.envelopes.size(), -1);
  std::thread consumer([&] { SetCpu(client_cpu); ConsumerLoop(ctx, n, st); });
  std::this_thread::sleep_for(300ms);
  std::thread producer([&] { SetCpu(client_cpu); ScheduledProducer(ctx, n, st, count, rate); });
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds + 30);
  // Usage from the end of the first second (as the latencies) to the end.
  auto usage_from = Clock::now() + 1050ms;
  ProcUsage b0, s0;
  uint64_t acked0 = 0;
  bool have0 = false;
  while ((st.acked + st.refused < count || st.delivered < st.acked) && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    if (!have0 && Clock::now() >= usage_from) {
      b0 = ReadProcUsage(broker.pid());
      s0 = ReadProcUsage(0);
      acked0 = st.acked;
      have0 = true;
    }
  }
  ProcUsage b1 = ReadProcUsage(broker.pid()), s1 = ReadProcUsage(0);
  const uint64_t acked1 = st.acked;
  st.stop = true;
  producer.join();
  consumer.join();
  MLAHUB_RETURN_IF_ERROR(StopBroker(broker));
  RunResult r;
  if (have0 && acked1 > acked0) {
    const double n = static_cast<double>(acked1 - acked0);
    r.broker_cpu_us = (b1.cpu_s - b0.cpu_s) * 1e6 / n;
    r.bench_cpu_us = (s1.cpu_s - s0.cpu_s) * 1e6 / n;
    // Summed over live threads: one that ended in between would make it shrink.
    r.broker_switches = b1.switches >= b0.switches ? static_cast<double>(b1.switches - b0.switches) / n : 0;
  }
  // Skip the first second (connection set-up, cold caches).
  size_t skip = std::min(count, static_cast<size_t>(rate));
  for (size_t i = skip; i < count; ++i) {
    if (st.ack_us[i] >= 0) r.ack_us.push_back(st.ack_us[i]);
    if (st.deliver_us[i] >= 0) r.deliver_us.push_back(st.deliver_us[i]);
  }
  r.acked_per_s = st.acked / seconds;
  // For looking at when the slow ones happened: MLAHUB_BENCH_DUMP=FILE
  // appends "rate,index,scheduled_s,ack_us,deliver_us" per message.
  if (const char* dump = std::getenv("MLAHUB_BENCH_DUMP"); dump != nullptr && *dump != '\0') {
    if (FILE* f = std::fopen(dump, "a")) {
      for (size_t i = 0; i < count; ++i)
        std::fprintf(f, "%.0f,%zu,%.6f,%.1f,%.1f\n", rate, i, static_cast<double>(i) / rate, st.ack_us[i],
                     st.deliver_us[i]);
      std::fclose(f);
    }
  }
  r.refused = st.refused;
  r.errors = st.errors;
  r.first_error = st.first_error;
  if (st.acked < count) return Status::Internal("only " + std::to_string(st.acked.load()) + " of " +
                                                std::to_string(count) + " acknowledged: " + st.first_error);
  return r;
}

std::pair<int, int> ParseShape(const std::string& s) {
  auto x = s.find('x');
  if (x == std::string::npos) return {0, 0};
  return {std::atoi(s.substr(0, x).c_str()), std::atoi(s.substr(x + 1).c_str())};
}

// The peers' figures from BENCHMARKING.md (measured there, not here).
struct Peer {
  const char* name;
  double shapes[4];
  const char* latency;
};
constexpr Peer kPeers[] = {
    {"Redis 7.0 stream, appendfsync always", {3368, 34193, 55973, 52790}, "527 / 1,101 us"},
    {"RabbitMQ 3.10 quorum queue", {1949, 11717, 29030, 12844}, "984 / 1,616 us"},
    {"RabbitMQ 3.10 classic v1 durable", {2552, 13087, 25569, 12548}, "383 / 837 us"},
};

int RunBroker(const BrokerArgs& args_in) {
  BrokerArgs a = args_in;
  std::string bin = BinDir();
  if (a.broker_bin.empty()) a.broker_bin = bin + "/mlahub-broker";
  if (a.mlahub_bin.empty()) a.mlahub_bin = bin + "/mlahub";
  if (a.dir.empty()) a.dir = "/tmp/mlahub-bench-broker";
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  auto net = MakeNetwork(a);
  if (!net.ok()) {
    std::fprintf(stderr, "mlahub-bench broker: %s\n", net.status().ToString().c_str());
    return 1;
  }
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  nlohmann::json out;
  out["cores"] = cores;
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0) out["load_average_start"] = load[0];

  // The envelope pool: enough for the fastest closed-loop run.
  std::fprintf(stderr, "mlahub-bench broker: sealing the envelope pool and signing its receipts...\n");
  auto pool = SealPool(*net, 400000, true);
  if (!pool.ok()) {
    std::fprintf(stderr, "mlahub-bench broker: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  double verify = MeasureVerifyRate(*net, pool->envelopes[0]);
  double verify_us = 1e6 / verify;
  out["envelope_bytes"] = pool->envelope_bytes;
  out["verify_per_s_per_core"] = verify;
  std::printf("mlahub-bench broker: %u cores, envelopes of %zu bytes, Ed25519 verify %.0f/s per core (%.1f us)\n",
              cores, pool->envelope_bytes, verify, verify_us);
  std::fflush(stdout);

  // 1. Ingest and end to end, broker unpinned (the whole machine).
  std::vector<double> ingest, e2e;
  for (int r = 0; r < a.runs; ++r) {
    auto res = ClosedRun(a, *net, *pool, a.ingest_producers, a.ingest_window, true, {}, -1);
    if (!res.ok()) {
      std::fprintf(stderr, "ingest run failed: %s\n", res.status().ToString().c_str());
      return 1;
    }
    ingest.push_back(res->acked_per_s);
    e2e.push_back(res->receipted_per_s);
    std::fprintf(stderr, "  ingest run %d: %.0f acked/s, %.0f receipted/s\n", r + 1, res->acked_per_s,
                 res->receipted_per_s);
  }
  double ingest_bound = 0.6 * cores * verify;
  std::printf("\n%-58s %12s %14s %8s\n", "figure (median of runs)", "value", "bound", "ratio");
  std::printf("%-58s %12.0f %14.0f %8.2f\n",
              ("ingest, " + std::to_string(a.ingest_producers) + "x" + std::to_string(a.ingest_window) +
               ", durable acks/s (goal >= 20k and >= 0.6 x cores x verify)")
                  .c_str(),
              Median(ingest), ingest_bound, Median(ingest) / ingest_bound);
  std::printf("%-58s %12.0f %14.0f %8.2f\n", "end to end: request, delivery, signed receipt /s", Median(e2e),
              cores * verify / 2, Median(e2e) / (cores * verify / 2));
  std::printf("  (end-to-end bound: cores x verify / 2, since the broker verifies the envelope and the receipt)\n");
  out["ingest_per_s"] = Median(ingest);
  out["ingest_bound"] = ingest_bound;
  out["end_to_end_per_s"] = Median(e2e);

  // 2. Latency under open-loop load at 25/50/75% of the measured maximum.
  if (!a.skip_latency) {
    std::printf("\n%-40s %10s %10s %10s %12s %12s %10s %10s %9s\n", "open-loop load (unpinned)", "ack p50", "ack p99",
                "ack p99.9", "deliver p50", "deliver p99", "broker cpu", "bench cpu", "switches");
    const double max_rate = a.max_rate > 0 ? a.max_rate : Median(ingest);
    for (double f : a.fractions) {
      double rate = std::max(100.0, f * max_rate);
      auto res = OpenRun(a, *net, *pool, rate, a.seconds, {}, -1);
      if (!res.ok()) {
        std::fprintf(stderr, "latency run failed: %s\n", res.status().ToString().c_str());
        return 1;
      }
      char label[64];
      std::snprintf(label, sizeof label, "%.0f%% of max = %.0f msg/s, us", f * 100, rate);
      double a50 = Percentile(res->ack_us, 0.5), a99 = Percentile(res->ack_us, 0.99),
             a999 = Percentile(res->ack_us, 0.999);
      double d50 = Percentile(res->deliver_us, 0.5), d99 = Percentile(res->deliver_us, 0.99);
      std::printf("%-40s %10.0f %10.0f %10.0f %12.0f %12.0f %10.0f %10.0f %9.1f\n", label, a50, a99, a999, d50, d99,
                  res->broker_cpu_us, res->bench_cpu_us, res->broker_switches);
      out["latency"].push_back({{"fraction", f}, {"rate", rate}, {"ack_p50_us", a50}, {"ack_p99_us", a99},
                                {"ack_p999_us", a999}, {"deliver_p50_us", d50}, {"deliver_p99_us", d99},
                                {"broker_cpu_us_per_msg", res->broker_cpu_us},
                                {"bench_cpu_us_per_msg", res->bench_cpu_us},
                                {"broker_switches_per_msg", res->broker_switches}});
    }
    std::printf("  (goal: ack p99 under 10 ms at 50%%; cpu: us of CPU per message, broker and this load generator;\n"
                "   switches: the broker's context switches per message, each a thread going to sleep or preempted)\n");
  }

  // 3. The peers' shape: broker on core 0, clients on core 1.
  if (!a.skip_peers && cores >= 2) {
    std::printf("\nPeers' shape: broker pinned to one core, clients on the other, ~1 KB, full flow with the receipt\n");
    std::printf("%-46s", "confirmed msg/s");
    for (const auto& s : a.shapes) std::printf(" %9s", s.c_str());
    std::printf("   p50/p99 publish-to-delivery\n");
    std::vector<double> full;
    for (const auto& s : a.shapes) {
      auto [p, w] = ParseShape(s);
      std::vector<double> v;
      for (int r = 0; r < a.runs; ++r) {
        auto res = ClosedRun(a, *net, *pool, p, w, true, {0}, 1);
        if (!res.ok()) {
          std::fprintf(stderr, "shape %s failed: %s\n", s.c_str(), res.status().ToString().c_str());
          return 1;
        }
        v.push_back(res->receipted_per_s);
      }
      full.push_back(Median(v));
      out["peers_shape"][s] = Median(v);
    }
    std::string lat;
    for (double rate : a.rates) {
      auto res = OpenRun(a, *net, *pool, rate, a.seconds, {0}, 1);
      if (!res.ok()) {
        std::fprintf(stderr, "latency at %.0f failed: %s\n", rate, res.status().ToString().c_str());
        return 1;
      }
      char b[96];
      std::snprintf(b, sizeof b, "%s%.0f/s: %.0f / %.0f us", lat.empty() ? "" : "; ", rate,
                    Percentile(res->deliver_us, 0.5), Percentile(res->deliver_us, 0.99));
      lat += b;
      out["peers_latency"].push_back({{"rate", rate},
                                      {"deliver_p50_us", Percentile(res->deliver_us, 0.5)},
                                      {"deliver_p99_us", Percentile(res->deliver_us, 0.99)}});
    }
    std::printf("%-46s", "mlahub, full security (measured)");
    for (double v : full) std::printf(" %9.0f", v);
    std::printf("   %s\n", lat.c_str());
    // Two Ed25519 verifications per message on the broker's one core.
    std::printf("%-46s", "mlahub, signature checks set aside (derived)");
    for (double v : full) {
      double per = 1e6 / v - 2 * verify_us;
      std::printf(" %9.0f", per > 0 ? 1e6 / per : 0.0);
    }
    std::printf("\n");
    for (const auto& peer : kPeers) {
      std::printf("%-46s", peer.name);
      for (size_t i = 0; i < a.shapes.size() && i < 4; ++i) std::printf(" %9.0f", peer.shapes[i]);
      std::printf("   5k/s: %s\n", peer.latency);
    }
    std::printf("  (peers: BENCHMARKING.md figures for 1x1, 1x16, 1x256, 50x1 on this kind of machine, not re-measured\n"
                "   here; 'set aside' subtracts 2 x %.1f us of verify, measured above, from each message's time)\n",
                verify_us);
  }

  // 4. Memory with the recipient offline and N envelopes queued.
  if (a.offline > 0) {
    std::fprintf(stderr, "mlahub-bench broker: sealing %llu envelopes for the offline recipient...\n",
                 static_cast<unsigned long long>(a.offline));
    auto big = SealPool(*net, a.offline, false);
    if (!big.ok()) {
      std::fprintf(stderr, "%s\n", big.status().ToString().c_str());
      return 1;
    }
    auto broker = StartBroker(a, *net, {});
    if (!broker.ok()) {
      std::fprintf(stderr, "%s\n", broker.status().ToString().c_str());
      return 1;
    }
    auto m0 = support::ReadMemory(broker->pid());
    auto ctx = transport::Context::Create(1);
    RunState st;
    st.pool = &*big;
    st.sent.assign(big->envelopes.size(), Clock::time_point{});
    st.ack_us.assign(big->envelopes.size(), -1);
    st.deliver_us.assign(big->envelopes.size(), -1);
    double t0 = NowSeconds();
    std::thread prod([&] { ProducerLoop(*ctx, *net, st, 0, big->envelopes.size(), 256); });
    uint64_t peak_rss = 0;
    while (st.acked + st.refused < big->envelopes.size() && st.errors == 0) {
      std::this_thread::sleep_for(500ms);
      auto m = support::ReadMemory(broker->pid());
      if (m.ok()) peak_rss = std::max(peak_rss, m->rss);
      if (isatty(2))
        std::fprintf(stderr, "\r  queued %llu / %zu, broker RSS %.0f MiB", static_cast<unsigned long long>(st.acked.load()),
                     big->envelopes.size(), m.ok() ? m->rss / 1048576.0 : 0.0);
    }
    if (isatty(2)) std::fprintf(stderr, "\n");
    st.stop = true;
    prod.join();
    double fill_s = NowSeconds() - t0;
    auto m1 = support::ReadMemory(broker->pid());
    std::printf("\nBroker memory, recipient offline with %llu envelopes (%.1f GiB) queued for it\n",
                static_cast<unsigned long long>(st.acked.load()),
                st.acked.load() * static_cast<double>(big->envelope_bytes) / (1u << 30));
    std::printf("  RSS at start %.0f MiB, peak while queueing %.0f MiB, at the end %.0f MiB (VmHWM %.0f MiB); "
                "queued in %.0f s\n",
                m0.ok() ? m0->rss / 1048576.0 : 0.0, peak_rss / 1048576.0, m1.ok() ? m1->rss / 1048576.0 : 0.0,
                m1.ok() ? m1->peak / 1048576.0 : 0.0, fill_s);
    out["offline"] = {{"queued", st.acked.load()},
                      {"rss_start_mib", m0.ok() ? m0->rss / 1048576.0 : 0},
                      {"rss_peak_mib", peak_rss / 1048576.0},
                      {"vmhwm_mib", m1.ok() ? m1->peak / 1048576.0 : 0},
                      {"fill_s", fill_s}};
    Status s = StopBroker(*broker);
    if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
  }
  if (getloadavg(load, 3) > 0) out["load_average_end"] = load[0];
  if (a.json) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

void RegisterBrokerBench(CLI::App& app, int& rc) {
  auto args = std::make_shared<BrokerArgs>();
  CLI::App* c = app.add_subcommand(
      "broker",
      "The real mlahub-broker under load: ingest, end to end with receipts, open-loop latency, the peers' "
      "shape (one broker core, P x W), memory with an offline recipient");
  c->add_option("--dir", args->dir, "Working directory (network, logs); default /tmp/mlahub-bench-broker");
  c->add_option("--seconds", args->seconds, "Measured seconds per run (after 1 s of warm-up)")->capture_default_str();
  c->add_option("--runs", args->runs, "Runs per figure (the median is printed)")->capture_default_str();
  c->add_option("--shapes", args->shapes, "P x W shapes for the peers' table")->delimiter(',')->capture_default_str();
  c->add_option("--rates", args->rates, "Fixed rates (msg/s) for the peers' latency column")->delimiter(',');
  c->add_option("--max-rate", args->max_rate,
                 "Take the fractions of this rate (msg/s) instead of the measured ingest (for same-load A/B runs)");
  c->add_option("--fractions", args->fractions, "Open-loop loads as fractions of the measured maximum")
      ->delimiter(',');
  c->add_option("--offline", args->offline, "Envelopes queued for an offline recipient (0: skip)")
      ->capture_default_str();
  c->add_option("--producers", args->ingest_producers, "Producer connections for the ingest figure")
      ->capture_default_str();
  c->add_option("--window", args->ingest_window, "Unconfirmed envelopes per producer for the ingest figure")
      ->capture_default_str();
  c->add_flag("--skip-peers", args->skip_peers, "Skip the peers' shape table");
  c->add_flag("--skip-latency", args->skip_latency, "Skip the open-loop latency table");
  c->add_option("--broker-bin", args->broker_bin, "mlahub-broker to run (default: beside this program)");
  c->add_option("--mlahub-bin", args->mlahub_bin, "mlahub to run for network init (default: beside this program)");
  c->add_flag("--json", args->json, "Also print the figures as JSON");
  c->callback([args, &rc] { rc = RunBroker(*args); });
}

}  // namespace mlahub::bench
