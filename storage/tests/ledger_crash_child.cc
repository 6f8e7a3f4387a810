// Child process of recovery_test: opens (or creates) the ledger in argv[1]
// and appends entries "crash entry <tag> <n>" from two threads as fast as it
// can, writing "<index> <n>\n" to stdout for every acknowledged append (that
// is, after its batch was fsync'd). The parent kills it with SIGKILL.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "mlahub/storage/ledger.h"

using namespace mlahub;
using namespace mlahub::storage;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ledger_crash_child DIR TAG\n");
    return 2;
  }
  crypto::Secret<crypto::kSignSeedSize> seed;
  std::fill(seed.data(), seed.data() + seed.size(), 0x42);
  auto signer = Ed25519NoteSigner::Create("crash.mlahub.example/ledger", crypto::SigningKey::FromSeed(seed));
  if (!signer.ok()) return 1;
  LedgerOptions o;
  o.create_if_missing = true;
  o.origin = "crash.mlahub.example/ledger";
  o.signer = std::shared_ptr<const NoteSigner>(std::move(signer).value());
  o.max_pending_entries = 512;
  auto ledger = Ledger::Open(argv[1], std::move(o));
  if (!ledger.ok()) {
    std::fprintf(stderr, "open: %s\n", ledger.status().ToString().c_str());
    return 1;
  }
  std::string tag = argv[2];
  std::atomic<uint64_t> next{0};
  auto producer = [&] {
    for (;;) {
      uint64_t n = next.fetch_add(1);
      std::string entry = "crash entry " + tag + " " + std::to_string(n);
      (*ledger)->AppendAsync(ToBytes(entry), tag + "-" + std::to_string(n % 16),
                             [n](const Status& s, uint64_t index) {
                               if (!s.ok()) _exit(3);
                               std::string line = std::to_string(index) + " " + std::to_string(n) + "\n";
                               // Callbacks run on one thread; one write() per line.
                               if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
                                 _exit(4);
                             });
    }
  };
  std::thread a(producer), b(producer);
  a.join();
  b.join();
  return 0;
}
