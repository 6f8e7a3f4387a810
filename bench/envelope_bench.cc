// mlahub-bench envelope: seal and open beside the raw libsodium calls they are
// made of, in the same run (issue goal: the envelope layer adds <= 15%).
#include <sodium.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench.h"
#include "mlahub/envelope/envelope.h"

namespace mlahub::bench {
namespace {

struct EnvelopeArgs {
  int rounds = 9;
  int iterations = 1000;
  bool json = false;
};

// The raw construction: the same primitive calls on the same sizes, with no
// FlatBuffers, framing, copies or checks around them.
struct Raw {
  uint8_t recipient_pk[32], recipient_sk[32];
  uint8_t sign_pk[32], sign_sk[64];
  Bytes header = Bytes(320, 7);  // a typical header size
  Bytes signed_msg = Bytes(19 + 320 + 32, 7);  // context || header || hash
  Raw() {
    crypto_box_keypair(recipient_pk, recipient_sk);
    crypto_sign_keypair(sign_pk, sign_sk);
  }
  Bytes Seal(ByteView plain) {
    uint8_t eph_pk[32], eph_sk[32], shared[32], key[32], nonce[24], hash[32], sig[64];
    crypto_box_keypair(eph_pk, eph_sk);
    if (crypto_scalarmult(shared, eph_sk, recipient_pk) != 0) std::abort();
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, 32);
    crypto_generichash_update(&st, shared, 32);
    crypto_generichash_update(&st, eph_pk, 32);
    crypto_generichash_update(&st, recipient_pk, 32);
    crypto_generichash_final(&st, key, 32);
    randombytes_buf(nonce, sizeof nonce);
    Bytes ct(plain.size() + 16);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct.data(), &clen, plain.data(), plain.size(), header.data(),
                                               header.size(), nullptr, nonce, key);
    crypto_generichash(hash, 32, ct.data(), ct.size(), nullptr, 0);
    std::memcpy(signed_msg.data() + 19, header.data(), header.size());
    std::memcpy(signed_msg.data() + 19 + header.size(), hash, 32);
    crypto_sign_detached(sig, nullptr, signed_msg.data(), signed_msg.size(), sign_sk);
    ct.insert(ct.end(), sig, sig + 64);
    ct.insert(ct.end(), eph_pk, eph_pk + 32);
    ct.insert(ct.end(), nonce, nonce + 24);
    return ct;
  }
  bool Open(const Bytes& sealed, Bytes& out) {
    size_t n = sealed.size() - 64 - 32 - 24;
    const uint8_t* sig = sealed.data() + n;
    const uint8_t* eph_pk = sig + 64;
    const uint8_t* nonce = eph_pk + 32;
    uint8_t hash[32], shared[32], key[32];
    crypto_generichash(hash, 32, sealed.data(), n, nullptr, 0);
    std::memcpy(signed_msg.data() + 19, header.data(), header.size());
    std::memcpy(signed_msg.data() + 19 + header.size(), hash, 32);
    if (crypto_sign_verify_detached(sig, signed_msg.data(), signed_msg.size(), sign_pk) != 0) return false;
    if (crypto_scalarmult(shared, recipient_sk, eph_pk) != 0) return false;
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, 32);
    crypto_generichash_update(&st, shared, 32);
    crypto_generichash_update(&st, eph_pk, 32);
    crypto_generichash_update(&st, recipient_pk, 32);
    crypto_generichash_final(&st, key, 32);
    out.resize(n - 16);
    unsigned long long mlen;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &mlen, nullptr, sealed.data(), n,
                                                      header.data(), header.size(), nonce, key) == 0;
  }
};

template <typename F>
double Micros(int iters, F&& f) {
  double t0 = NowSeconds();
  for (int i = 0; i < iters; ++i) f();
  return (NowSeconds() - t0) * 1e6 / iters;
}

// Rounds alternate the two sides so that load from elsewhere on the machine
// falls on both alike; the overhead is the median of the per-round ratios.
struct Pair {
  double env_us, raw_us, ratio;
};
template <typename E, typename R>
Pair Interleaved(int rounds, int iters, E&& env, R&& raw) {
  std::vector<double> e, r, q;
  for (int i = 0; i < rounds; ++i) {
    double te = Micros(iters, env);
    double tr = Micros(iters, raw);
    e.push_back(te);
    r.push_back(tr);
    q.push_back(te / tr);
  }
  return {Median(e), Median(r), Median(q)};
}

int RunEnvelope(const EnvelopeArgs& a) {
  if (sodium_init() < 0) return 1;
  FakeClock clock(1795824000000);
  auto sender = identity::GenerateNodeKeys(*NodeId::Parse("IT-MOJ"), identity::Role::kAuthority, clock.NowMillis());
  auto recipient = identity::GenerateNodeKeys(*NodeId::Parse("NG-AGF"), identity::Role::kAuthority, clock.NowMillis());
  auto rpub = recipient.Public();
  auto spub = sender.Public();
  nlohmann::json results = nlohmann::json::array();
  if (!a.json) {
    std::printf("Envelope seal/open vs the raw libsodium calls it is made of\n"
                "(%d interleaved rounds of %d ops; overhead = median of per-round ratios)\n",
                a.rounds, a.iterations);
    std::printf("%-10s %-5s %12s %12s %9s %8s\n", "body", "op", "envelope us", "raw us", "overhead", "goal");
  }
  for (size_t body_size : {size_t{1024}, size_t{65536}}) {
    std::string text(body_size - 64, 'x');
    std::string json = "{\"note\": \"" + text + "\"}";
    auto payload = *envelope::BuildPayloadFromJson(wire::MessageKind::Acknowledgement, json);
    envelope::SealParams p;
    p.kind = wire::MessageKind::Acknowledgement;
    p.case_ref = "IT-MOJ/2026/0042";
    size_t padded = (payload.size() + 4 + 255) / 256 * 256;
    Bytes plain(padded, 1);
    Raw raw;
    int iters = body_size > 4096 ? a.iterations / 4 : a.iterations;

    Bytes env = *envelope::Seal(p, sender, rpub, payload, clock);
    Pair seal = Interleaved(
        a.rounds, iters,
        [&] {
          auto r = envelope::Seal(p, sender, rpub, payload, clock);
          if (!r.ok()) std::abort();
        },
        [&] { (void)raw.Seal(plain); });
    envelope::OpenOptions opt;
    opt.clock = &clock;
    Bytes sealed = raw.Seal(plain), out;
    if (!raw.Open(sealed, out)) std::abort();
    Pair open = Interleaved(
        a.rounds, iters,
        [&] {
          auto r = envelope::Open(env, recipient, spub, opt);
          if (!r.ok()) std::abort();
        },
        [&] {
          if (!raw.Open(sealed, out)) std::abort();
        });
    for (auto [op, pr] : {std::pair{"seal", seal}, std::pair{"open", open}}) {
      double e = pr.env_us, r = pr.raw_us;
      double overhead = (pr.ratio - 1.0) * 100.0;
      std::string label = body_size == 1024 ? "1 KiB" : "64 KiB";
      if (a.json) {
        results.push_back({{"body", label}, {"op", op}, {"envelope_us", e}, {"raw_us", r},
                           {"overhead_pct", overhead}, {"goal_pct", 15}});
      } else {
        std::printf("%-10s %-5s %12.1f %12.1f %8.1f%% %7s\n", label.c_str(), op, e, r, overhead,
                    overhead <= 15.0 ? "<=15% ok" : "> 15%");
      }
    }
  }
  if (a.json) std::printf("%s\n", results.dump(2).c_str());
  return 0;
}

}  // namespace

void RegisterEnvelopeBench(CLI::App& app, int& rc) {
  auto a = std::make_shared<EnvelopeArgs>();
  CLI::App* c = app.add_subcommand("envelope", "Seal and open of 1 KiB and 64 KiB bodies beside raw libsodium");
  c->add_option("--rounds", a->rounds, "Rounds (the median is reported)")->capture_default_str();
  c->add_option("--iterations", a->iterations, "Operations per round (1 KiB; a quarter for 64 KiB)")
      ->capture_default_str();
  c->add_flag("--json", a->json, "JSON output");
  c->callback([a, &rc] { rc = RunEnvelope(*a); });
}

}  // namespace mlahub::bench
