// mlahub-bench evidence: a large file through the hub, beside the raw parts.
//
// Figures, all measured in the same run at the same chunk size:
//  - raw secretstream: libsodium's crypto_secretstream_xchacha20poly1305
//    push and pull over the file's size in chunks (each chunk of a transfer
//    is pushed once by the sender and pulled once by the receiver);
//  - raw ZeroMQ: a DEALER sending chunk-size frames to a ROUTER over TCP on
//    loopback, with and without CURVE, at most `window` frames unacknowledged
//    (the hub's transfers are windowed the same way, 8 by default);
//  - through the hub: `mlahub network init`, the real mlahub-broker and two
//    real mlahub-agent processes; `mlahub send --evidence FILE` at IT-MOJ,
//    then NG-AGF's `GET /v1/evidence/{id}` polled until the file is complete
//    (stored durably, chunk by chunk, at the broker and at the receiver).
//    The three processes' peak memory (VmHWM) is read from /proc;
//  - urgent requests sent during the transfer: their end-to-end time
//    (submitted -> signed receipt back, from the sender's timeline), to show
//    whether envelopes wait behind chunks.
// Raw secretstream and raw ZeroMQ call libsodium and libzmq directly, on
// purpose: they are the bounds the hub is measured against.
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bench.h"
#include "process.h"
#include "test_bodies.h"

namespace mlahub::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

struct EvidenceArgs {
  std::string dir;
  uint64_t size_mib = 1024;
  uint32_t chunk_kib = 256;
  int window = 8;
  int urgent = 10;
  bool skip_hub = false;
  bool keep = false;
  bool json_out = false;
  std::string bin_dir;
};

double Mbs(uint64_t bytes, double seconds) { return seconds > 0 ? bytes / 1e6 / seconds : 0; }

// ---- raw secretstream ----

struct StreamFigures {
  double push_mbs = 0, pull_mbs = 0, both_mbs = 0;
};

StreamFigures RawSecretstream(uint64_t total, size_t chunk) {
  std::vector<unsigned char> plain(chunk), cipher(chunk + crypto_secretstream_xchacha20poly1305_ABYTES),
      out(chunk);
  randombytes_buf(plain.data(), plain.size());
  unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
  crypto_secretstream_xchacha20poly1305_keygen(key);
  unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  const uint64_t n = (total + chunk - 1) / chunk;
  // Push: every chunk, timed as a whole (memory stays one chunk). Pull: a
  // second stream pushed chunk by chunk untimed, each chunk's pull timed.
  crypto_secretstream_xchacha20poly1305_state push, push2, pull;
  crypto_secretstream_xchacha20poly1305_init_push(&push, header, key);
  double t0 = NowSeconds();
  for (uint64_t i = 0; i < n; ++i) {
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&push, cipher.data(), &clen, plain.data(), chunk, nullptr, 0,
                                               i + 1 == n ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
  }
  double t_push = NowSeconds() - t0;
  crypto_secretstream_xchacha20poly1305_init_push(&push2, header, key);
  crypto_secretstream_xchacha20poly1305_init_pull(&pull, header, key);
  double t_pull = 0;
  for (uint64_t i = 0; i < n; ++i) {
    unsigned long long clen = 0, mlen = 0;
    unsigned char tag = 0;
    crypto_secretstream_xchacha20poly1305_push(&push2, cipher.data(), &clen, plain.data(), chunk, nullptr, 0,
                                               i + 1 == n ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    double t1 = NowSeconds();
    int bad = crypto_secretstream_xchacha20poly1305_pull(&pull, out.data(), &mlen, &tag, cipher.data(), clen,
                                                         nullptr, 0);
    t_pull += NowSeconds() - t1;
    if (bad != 0) {
      std::cerr << "mlahub-bench: raw secretstream pull failed (a bug)\n";
      return {};
    }
  }
  sodium_memzero(key, sizeof key);
  StreamFigures f;
  f.push_mbs = Mbs(total, t_push);
  f.pull_mbs = Mbs(total, t_pull);
  f.both_mbs = Mbs(total, t_push + t_pull);
  return f;
}

// ---- raw ZeroMQ ----

// DEALER -> ROUTER over TCP loopback, `window` frames unacknowledged at most;
// the ROUTER answers each frame with 8 bytes. Returns MB/s of payload.
Result<double> RawZmq(uint64_t total, size_t chunk, int window, bool curve) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router), dealer(ctx, zmq::socket_type::dealer);
  char spk[41], ssk[41], cpk[41], csk[41];
  if (curve) {
    if (zmq_curve_keypair(spk, ssk) != 0 || zmq_curve_keypair(cpk, csk) != 0) {
      return Status::Unavailable("libzmq built without CURVE");
    }
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, std::string(ssk));
    dealer.set(zmq::sockopt::curve_serverkey, std::string(spk));
    dealer.set(zmq::sockopt::curve_publickey, std::string(cpk));
    dealer.set(zmq::sockopt::curve_secretkey, std::string(csk));
  }
  router.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  dealer.connect(endpoint);
  const uint64_t n = (total + chunk - 1) / chunk;
  std::thread server([&] {
    zmq::message_t id, frame;
    for (uint64_t i = 0; i < n; ++i) {
      if (!router.recv(id) || !router.recv(frame)) return;
      router.send(id, zmq::send_flags::sndmore);
      router.send(zmq::buffer(&i, sizeof i), zmq::send_flags::none);
    }
  });
  std::vector<unsigned char> data(chunk);
  randombytes_buf(data.data(), data.size());
  double t0 = NowSeconds();
  uint64_t sent = 0, acked = 0;
  zmq::message_t ack;
  while (acked < n) {
    while (sent < n && sent - acked < static_cast<uint64_t>(window)) {
      dealer.send(zmq::buffer(data), zmq::send_flags::none);
      ++sent;
    }
    if (!dealer.recv(ack)) break;
    ++acked;
  }
  double t = NowSeconds() - t0;
  server.join();
  return Mbs(total, t);
}

// ---- through the hub ----

// Runs a command, returns (exit code, stdout).
std::pair<int, std::string> Capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {127, ""};
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, out};
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

struct HubFigures {
  double seconds = 0, mbs = 0;
  std::map<std::string, double> peak_mib;
  std::vector<double> urgent_ms;  // submitted -> receipt
  int urgent_lost = 0;
  bool complete = false;
  std::string error;
};

Status WriteGeneratedFile(const std::string& path, uint64_t bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::Unavailable("cannot write " + path);
  std::vector<unsigned char> block(1 << 20);
  randombytes_buf(block.data(), block.size());
  for (uint64_t done = 0; done < bytes;) {
    uint64_t n = std::min<uint64_t>(block.size(), bytes - done);
    std::memcpy(block.data(), &done, sizeof done);  // every MiB differs
    f.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    done += n;
  }
  f.close();
  return f ? Status::Ok() : Status::Unavailable("short write to " + path);
}

HubFigures ThroughTheHub(const EvidenceArgs& a) {
  HubFigures h;
  const std::string net = a.dir + "/net", mlahub = a.bin_dir + "/mlahub";
  std::error_code ec;
  fs::remove_all(net, ec);
  auto base = support::FreePortRange(20);
  if (!base.ok()) return h.error = base.status().ToString(), h;
  auto [rc, out] = Capture(Q(mlahub) + " network init --dir " + Q(net) + " --nodes IT-MOJ,NG-AGF --base-port " +
                           std::to_string(*base) + " --json 2>&1");
  if (rc != 0) return h.error = "mlahub network init failed: " + out, h;

  auto broker = support::Process::Spawn({a.bin_dir + "/mlahub-broker", "--config", net + "/hub/broker.toml"},
                                        {.log_file = a.dir + "/broker.log"});
  if (!broker.ok()) return h.error = broker.status().ToString(), h;
  if (auto r = support::WaitForReadyFile(net + "/hub/data/ready.json", *broker, 60s); !r.ok()) {
    return h.error = "broker: " + r.status().ToString() + " (see " + a.dir + "/broker.log)", h;
  }
  std::map<std::string, support::Process> agents;
  for (const char* id : {"IT-MOJ", "NG-AGF"}) {
    std::string cfg = net + "/nodes/" + id + "/agent.toml";
    auto p = support::Process::Spawn({a.bin_dir + "/mlahub-agent", "--config", cfg},
                                     {.log_file = a.dir + "/" + id + ".log"});
    if (!p.ok()) return h.error = p.status().ToString(), h;
    if (auto r = support::WaitForReadyFile(net + "/nodes/" + id + "/data/ready.json", *p, 60s); !r.ok()) {
      return h.error = std::string(id) + ": " + r.status().ToString(), h;
    }
    agents.emplace(id, std::move(*p));
  }
  const std::string from = " --agent " + Q(net + "/nodes/IT-MOJ/agent.toml");
  const std::string to = " --agent " + Q(net + "/nodes/NG-AGF/agent.toml");
  for (int i = 0; i < 600; ++i) {  // both agents connected (up to 60 s)
    auto [r1, o1] = Capture(Q(mlahub) + " agent health --json" + from);
    auto [r2, o2] = Capture(Q(mlahub) + " agent health --json" + to);
    if (r1 == 0 && r2 == 0 && o1.find("\"connected\"") != std::string::npos &&
        o2.find("\"connected\"") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }

  const std::string file = a.dir + "/evidence.bin", body = a.dir + "/body.json";
  if (Status s = WriteGeneratedFile(file, a.size_mib << 20); !s.ok()) return h.error = s.ToString(), h;
  std::ofstream(body) << workflow::testing::CompleteBody("InformationExchange").dump();  // a complete request
  const uint64_t total = a.size_mib << 20;

  std::map<std::string, pid_t> pids = {{"broker", broker->pid()},
                                       {"sender agent", agents.at("IT-MOJ").pid()},
                                       {"receiver agent", agents.at("NG-AGF").pid()}};
  auto sample_memory = [&] {
    for (auto& [what, pid] : pids) {
      if (auto m = support::ReadMemory(pid); m.ok()) {
        h.peak_mib[what] = std::max(h.peak_mib[what], m->peak / 1048576.0);
      }
    }
  };

  double t0 = NowSeconds();
  auto [src, sout] = Capture(Q(mlahub) + " send --to NG-AGF --kind InformationExchange --legal-basis PalermoProtocol --body " + Q(body) +
                             " --evidence " + Q(file) + " --custody 'generated benchmark data' --json" + from +
                             " 2>&1");
  json sent = json::parse(sout, nullptr, false);
  if (src != 0 || !sent.is_object() || !sent.contains("message_id")) {
    return h.error = "mlahub send --evidence failed: " + sout, h;
  }
  const std::string mid = sent.value("message_id", "");
  std::cerr << "mlahub-bench: evidence " << a.size_mib << " MiB sent as message " << mid << "\n";

  // Urgent requests during the transfer, one per second, from the same sender.
  std::vector<std::string> urgent_ids;
  double next_urgent = NowSeconds() + 1;
  double last_progress = 0;
  const double deadline = t0 + 3600;
  while (NowSeconds() < deadline) {
    sample_memory();
    auto [lr, lout] = Capture(Q(mlahub) + " evidence list " + mid + " --json" + to + " 2>/dev/null");
    json l = json::parse(lout, nullptr, false);
    uint64_t done = 0;
    bool all = false;
    if (lr == 0 && l.is_object() && l.contains("files") && !l["files"].empty()) {
      all = true;
      for (const json& f : l["files"]) {
        done += f.value("bytes_done", uint64_t{0});
        all = all && f.value("state", "") == "complete";
      }
    }
    if (all) {
      h.seconds = NowSeconds() - t0;
      h.complete = true;
      break;
    }
    double now = NowSeconds();
    if (now - last_progress >= 5) {
      std::cerr << "mlahub-bench: " << done / 1048576 << " / " << a.size_mib << " MiB received, "
                << static_cast<int>(now - t0) << " s\n";
      last_progress = now;
    }
    if (static_cast<int>(urgent_ids.size()) < a.urgent && now >= next_urgent) {
      auto [ur, uout] = Capture(Q(mlahub) + " send --to NG-AGF --kind InformationExchange --legal-basis PalermoProtocol --priority Urgent --body " +
                                Q(body) + " --json" + from + " 2>/dev/null");
      json u = json::parse(uout, nullptr, false);
      if (ur == 0 && u.is_object()) urgent_ids.push_back(u.value("message_id", ""));
      next_urgent = now + 1;
    }
    std::this_thread::sleep_for(200ms);
  }
  sample_memory();
  if (!h.complete) h.error = "the transfer did not complete within an hour";
  h.mbs = Mbs(total, h.seconds);

  // Urgent messages: submitted -> receipt, from the sender's timeline.
  for (const std::string& id : urgent_ids) {
    double ms = -1;
    for (int i = 0; i < 300 && ms < 0; ++i) {
      auto [sr, sout2] = Capture(Q(mlahub) + " status " + id + " --json" + from + " 2>/dev/null");
      json s = json::parse(sout2, nullptr, false);
      if (sr == 0 && s.is_object() && s.contains("timeline")) {
        int64_t submitted = -1, receipt = -1;
        for (const json& e : s["timeline"]) {
          std::string ev = e.value("event", "");
          if (submitted < 0 && (ev == "submitted" || ev == "queued")) submitted = e.value("at_ms", int64_t{-1});
          if (ev == "receipt") receipt = e.value("at_ms", int64_t{-1});
        }
        if (submitted >= 0 && receipt >= 0) ms = static_cast<double>(receipt - submitted);
      }
      if (ms < 0) std::this_thread::sleep_for(100ms);
    }
    if (ms >= 0) {
      h.urgent_ms.push_back(ms);
    } else {
      ++h.urgent_lost;
    }
  }

  for (auto& [id, p] : agents) p.Signal(SIGTERM);
  broker->Signal(SIGTERM);
  for (auto& [id, p] : agents) {
    if (!p.Wait(60s)) p.Kill();
  }
  if (!broker->Wait(60s)) broker->Kill();
  if (!a.keep) fs::remove(file, ec);
  return h;
}

int RunEvidence(const EvidenceArgs& a) {
  if (a.size_mib == 0 || a.chunk_kib == 0 || a.window <= 0) {
    std::cerr << "mlahub-bench evidence: --size-mib, --chunk-kib and --window must be > 0\n";
    return 2;
  }
  if (sodium_init() < 0) return 1;
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec) {
    std::cerr << "mlahub-bench evidence: cannot create " << a.dir << ": " << ec.message() << "\n";
    return 5;
  }
  const uint64_t total = a.size_mib << 20;
  const size_t chunk = static_cast<size_t>(a.chunk_kib) << 10;
  std::cerr << "mlahub-bench: raw secretstream over " << a.size_mib << " MiB...\n";
  StreamFigures ss = RawSecretstream(total, chunk);
  std::cerr << "mlahub-bench: raw ZeroMQ...\n";
  auto zplain = RawZmq(total, chunk, a.window, false);
  auto zcurve = RawZmq(total, chunk, a.window, true);
  HubFigures hub;
  if (!a.skip_hub) hub = ThroughTheHub(a);

  json j = {{"size_mib", a.size_mib},
            {"chunk_kib", a.chunk_kib},
            {"window", a.window},
            {"raw_secretstream", {{"push_mbs", ss.push_mbs}, {"pull_mbs", ss.pull_mbs}, {"push_and_pull_mbs", ss.both_mbs}}},
            {"raw_zmq_mbs", zplain.ok() ? json(*zplain) : json(nullptr)},
            {"raw_zmq_curve_mbs", zcurve.ok() ? json(*zcurve) : json(nullptr)}};
  // The hub's bound: each byte is pushed at the sender and pulled at the
  // receiver (on different processes, but this machine's cores are shared),
  // and crosses CURVE twice (agent -> broker -> agent).
  double bound = 0;
  if (zcurve.ok() && ss.both_mbs > 0) bound = 1.0 / (1.0 / ss.both_mbs + 2.0 / *zcurve);
  j["hub_bound_mbs"] = bound;
  if (!a.skip_hub) {
    std::vector<double> u = hub.urgent_ms;
    std::sort(u.begin(), u.end());
    j["hub"] = {{"complete", hub.complete},
                {"seconds", hub.seconds},
                {"mbs", hub.mbs},
                {"ratio_to_bound", bound > 0 ? hub.mbs / bound : 0},
                {"peak_mib", hub.peak_mib},
                {"urgent_ms", u},
                {"urgent_without_receipt", hub.urgent_lost}};
    if (!hub.error.empty()) j["hub"]["error"] = hub.error;
  }
  if (a.json_out) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("evidence, %llu MiB in %u KiB chunks, window %d\n", static_cast<unsigned long long>(a.size_mib),
                a.chunk_kib, a.window);
    std::printf("  raw secretstream push            %9.1f MB/s\n", ss.push_mbs);
    std::printf("  raw secretstream pull            %9.1f MB/s\n", ss.pull_mbs);
    std::printf("  raw secretstream push+pull       %9.1f MB/s\n", ss.both_mbs);
    std::printf("  raw ZeroMQ (tcp loopback)        %9.1f MB/s\n", zplain.ok() ? *zplain : 0.0);
    std::printf("  raw ZeroMQ CURVE                 %9.1f MB/s\n", zcurve.ok() ? *zcurve : 0.0);
    std::printf("  bound for the hub                %9.1f MB/s  (1 / (1/push+pull + 2/CURVE))\n", bound);
    if (!a.skip_hub) {
      if (!hub.error.empty()) std::printf("  hub: %s\n", hub.error.c_str());
      std::printf("  through the hub                  %9.1f MB/s  (%.1f s; %.2f of the bound)\n", hub.mbs,
                  hub.seconds, bound > 0 ? hub.mbs / bound : 0);
      for (auto& [what, mib] : hub.peak_mib) std::printf("  peak memory %-20s %9.1f MiB\n", what.c_str(), mib);
      std::vector<double> u = hub.urgent_ms;
      if (!u.empty()) {
        std::sort(u.begin(), u.end());
        std::printf("  urgent requests during it        %zu, submitted->receipt median %.0f ms, max %.0f ms\n", u.size(),
                    u[u.size() / 2], u.back());
      }
      if (hub.urgent_lost) std::printf("  urgent requests without receipt  %d\n", hub.urgent_lost);
    }
  }
  if (!a.skip_hub && !hub.complete) return 1;
  return 0;
}

}  // namespace

void RegisterEvidenceBench(CLI::App& app, int& rc) {
  auto a = std::make_shared<EvidenceArgs>();
  a->dir = (fs::temp_directory_path() / ("mlahub-bench-evidence-" + std::to_string(getpid()))).string();
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  a->bin_dir = ec ? "build/bin" : exe.parent_path().string();
  CLI::App* s = app.add_subcommand("evidence", "A large file through the hub beside raw secretstream and raw ZeroMQ");
  s->add_option("--dir", a->dir, "Work directory (network, generated file; needs the file's size free)");
  s->add_option("--size-mib", a->size_mib, "File size in MiB (default 1024)");
  s->add_option("--chunk-kib", a->chunk_kib, "Chunk size for the raw baselines in KiB (the hub's is 256)");
  s->add_option("--window", a->window, "Raw ZeroMQ frames unacknowledged at most (the hub's default is 8)");
  s->add_option("--urgent", a->urgent, "Urgent requests sent during the transfer, one a second (default 10)");
  s->add_flag("--skip-hub", a->skip_hub, "Only the raw baselines");
  s->add_flag("--keep", a->keep, "Keep the generated file");
  s->add_option("--bin-dir", a->bin_dir, "Where mlahub, mlahub-broker and mlahub-agent are (default: beside this program)");
  s->add_flag("--json", a->json_out, "JSON output");
  s->callback([a, &rc] { rc = RunEvidence(*a); });
}

}  // namespace mlahub::bench
