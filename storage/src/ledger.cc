#include "mlahub/storage/ledger.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "ledger_keys.h"
#include "mlahub/core/file.h"

namespace mlahub::storage {

namespace L = layout;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound() || s.IsPathNotFound()) return Status::NotFound(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Status::Unavailable(msg);
  return Status::IoError(msg);
}

rocksdb::Slice AsSlice(std::string_view s) { return {s.data(), s.size()}; }
std::string_view AsView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

Hash HashFrom(const char* p) {
  Hash h;
  std::copy(p, p + kHashSize, reinterpret_cast<char*>(h.data()));
  return h;
}

std::string_view HashView(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

std::string Range(uint64_t a, uint64_t b) {
  return "entries " + std::to_string(a) + ".." + std::to_string(b - 1);
}

std::vector<std::string> ColumnFamilyNames() {
  return {std::string(L::kCfDefault), std::string(L::kCfEntries), std::string(L::kCfNodes),
          std::string(L::kCfCheckpoints), std::string(L::kCfIndex), std::string(L::kCfState)};
}

// Index keys are BE16(len) || key || BE64(entry index); their prefix is all
// but the last 8 bytes, so one message id's entries share a prefix. With a
// hashed memtable, inserting a random message id costs O(1), not a skiplist
// descent (the index would otherwise dominate the writer's time).
class IndexKeyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "mlahub.IndexKeyPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() >= 10; }
};

struct Pending {
  Bytes entry;
  std::string key;
  Hash leaf{};
  AppendCallback callback;
  std::vector<StateWrite> state;
  bool has_entry = true;  // false: state writes only
  uint64_t index = 0;     // set by the builder
};

// A batch on its way through the writer pipeline.
struct Built {
  rocksdb::WriteBatch wb;
  std::vector<Pending> items;
  size_t state_only = 0;  // items without an entry
  uint64_t base = 0;
  uint64_t size = 0;
  Hash root{};
  uint64_t checkpoint_size = 0;
  bool signed_now = false;
  // Nodes of level >= kMemLevel completed by this batch, for the in-memory
  // upper tree (published after the commit).
  std::vector<std::pair<NodePos, Hash>> upper;
};

// Perfect-subtree hashes of level >= kMemLevel (subtrees of 32 leaves and
// up: n/16 hashes, 20 MB at 10M entries) are kept in memory, so a proof reads
// at most a few records from RocksDB (the levels below, which sit in one
// data block, and a leaf), not 2*log2(n).
constexpr uint8_t kMemLevel = 5;

}  // namespace

struct Ledger::Impl final : public NodeSource {
  // ---- fixed after open ----
  std::string dir;
  std::string secondary_dir;  // read-only view's scratch directory
  LedgerOptions options;
  bool read_only = false;
  std::string origin;
  std::string key_name;
  crypto::SignPublicKey public_key{};
  std::shared_ptr<rocksdb::Cache> cache;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* cf_default = nullptr;
  rocksdb::ColumnFamilyHandle* cf_entries = nullptr;
  rocksdb::ColumnFamilyHandle* cf_nodes = nullptr;
  rocksdb::ColumnFamilyHandle* cf_checkpoints = nullptr;
  rocksdb::ColumnFamilyHandle* cf_index = nullptr;
  rocksdb::ColumnFamilyHandle* cf_state = nullptr;  // null: a read-only view of an older ledger

  // ---- committed head, published by the writer ----
  std::atomic<uint64_t> committed_size{0};
  mutable std::mutex head_mu;
  Hash committed_root{};
  uint64_t latest_checkpoint_size = 0;
  LedgerStats stats;

  // ---- queue ----
  std::mutex mu;
  std::condition_variable writer_cv;
  std::condition_variable space_cv;
  std::deque<Pending> queue;
  bool closing = false;
  bool closed = false;
  Status failed;  // set once a write fails: the ledger then refuses appends
  std::condition_variable committer_cv;
  std::unique_ptr<Built> slot;  // sealed batch for the committer
  bool slot_busy = false;               // committer has a batch (set by builder, cleared by committer)
  bool builder_done = false;
  static constexpr size_t kWakeChunk = 256;
  std::thread builder;
  std::thread committer;
  std::mutex close_mu;

  // ---- in-memory upper tree (levels >= kMemLevel) ----
  // Loaded from `nodes` by a background thread started at open (records of
  // leaves k*2^L - 1: first L = 10, n/1024 reads, then L = kMemLevel, n/32
  // reads), then extended by the committer after each commit. Levels not yet
  // loaded, and all of them if loading fails (a damaged store), are read
  // from RocksDB, which names a bad record.
  mutable std::mutex upper_mu;
  mutable uint8_t upper_min = 64;  // upper[l] is valid for l >= upper_min (64: none yet)
  mutable std::vector<std::vector<Hash>> upper;  // upper[level][index]
  mutable std::mutex upper_loader_mu;  // guards joining upper_loader
  mutable std::thread upper_loader;
  mutable std::atomic<bool> upper_stop{false};

  // ---- writer-thread state ----
  MerkleFrontier frontier;
  uint64_t builder_checkpoint_size = 0;
  SteadyTime next_checkpoint_due{};

  ~Impl() override { CloseDb(); }

  void StopUpperLoader() const {
    upper_stop.store(true);
    std::lock_guard<std::mutex> lk(upper_loader_mu);
    if (upper_loader.joinable()) upper_loader.join();
  }

  void CloseDb() {
    StopUpperLoader();
    if (db == nullptr) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    handles.clear();
    db->Close().PermitUncheckedError();
    delete db;
    db = nullptr;
    if (!secondary_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(secondary_dir, ec);
    }
  }

  rocksdb::DBOptions DbOptions() const {
    rocksdb::DBOptions o;
    o.create_missing_column_families = !read_only;
    o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    o.paranoid_checks = true;
    o.allow_concurrent_memtable_write = false;  // one writer; needed by the hashed index memtable
    o.max_background_jobs = 2;
    o.max_total_wal_size = uint64_t{512} << 20;
    o.keep_log_file_num = 4;
    if (read_only) o.max_open_files = -1;  // required by secondary instances
    return o;
  }

  rocksdb::ColumnFamilyOptions CfOptions(std::string_view name) const {
    rocksdb::ColumnFamilyOptions o;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.block_size = 8 << 10;
    // Proofs are point lookups: a hash index in each data block spares the
    // binary search, and the whole index stays in the table reader.
    t.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
    t.pin_top_level_index_and_filter = true;
    // A read-only view (the tool, verify) keeps index and filter blocks in
    // the bounded block cache, so its memory does not grow with the ledger.
    // Exceptions: the indexes of `nodes` and `entries` (about 1 MB and 10 MB
    // at 10M entries), which every proof reads.
    t.cache_index_and_filter_blocks = read_only && name != L::kCfNodes && name != L::kCfEntries;
    if (name == L::kCfIndex) {
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      o.prefix_extractor = std::make_shared<IndexKeyPrefix>();
      o.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
    }
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    // Hashes and signatures do not compress; entries little. Keep reads cheap.
    o.compression = rocksdb::kNoCompression;
    if (name == L::kCfEntries) o.write_buffer_size = size_t{128} << 20;
    if (name == L::kCfDefault) o.write_buffer_size = size_t{4} << 20;
    return o;
  }

  Status OpenDb() {
    cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::string path = dir + "/" + std::string(L::kDbSubdir);
    std::vector<std::string> names = ColumnFamilyNames();
    if (read_only) {  // a view of a ledger made before the state family existed
      std::vector<std::string> have;
      if (rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &have).ok() &&
          std::find(have.begin(), have.end(), std::string(L::kCfState)) == have.end())
        names.pop_back();
    }
    for (const auto& n : names) cfs.emplace_back(n, CfOptions(n));
    rocksdb::Status s;
    if (read_only) {
      char tmpl[] = "/tmp/mlahub-ledger-view-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) return Status::IoError("cannot create a scratch directory in /tmp");
      secondary_dir = tmpl;
      // Files may vanish under a running writer while we list them: retry.
      for (int attempt = 0; attempt < 5; ++attempt) {
        s = rocksdb::DB::OpenAsSecondary(DbOptions(), path, secondary_dir, cfs, &handles, &db);
        if (s.ok() || s.IsInvalidArgument()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
      }
      if (s.ok()) s = db->TryCatchUpWithPrimary();
    } else {
      MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0700));
      rocksdb::DBOptions o = DbOptions();
      o.create_if_missing = options.create_if_missing;
      s = rocksdb::DB::Open(o, path, cfs, &handles, &db);
    }
    if (!s.ok()) {
      if (read_only) {
        std::error_code ec;
        std::filesystem::remove_all(secondary_dir, ec);
        secondary_dir.clear();
      }
      if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
        return Status::Unavailable("ledger " + dir + " is open in another process (" + s.ToString() + ")");
      return FromRocks(s, "cannot open ledger database " + path);
    }
    cf_default = handles[0];
    cf_entries = handles[1];
    cf_nodes = handles[2];
    cf_checkpoints = handles[3];
    cf_index = handles[4];
    cf_state = handles.size() > 5 ? handles[5] : nullptr;
    return Status::Ok();
  }

  Result<std::optional<std::string>> GetOpt(rocksdb::ColumnFamilyHandle* cf, std::string_view key) const {
    if (db == nullptr) return Status::Unavailable("ledger is closed");
    std::string v;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, AsSlice(key), &v);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "ledger read failed");
    return std::optional<std::string>(std::move(v));
  }

  Status LoadMeta() {
    MLAHUB_ASSIGN_OR_RETURN(auto fmt, GetOpt(cf_default, L::kMetaFormat));
    if (!fmt) return Status::NotFound("no ledger in " + dir);
    if (*fmt != L::kFormatVersion)
      return Status::Corruption("ledger " + dir + " has unknown format version '" + *fmt + "'");
    MLAHUB_ASSIGN_OR_RETURN(auto o, GetOpt(cf_default, L::kMetaOrigin));
    MLAHUB_ASSIGN_OR_RETURN(auto n, GetOpt(cf_default, L::kMetaKeyName));
    MLAHUB_ASSIGN_OR_RETURN(auto pk, GetOpt(cf_default, L::kMetaPublicKey));
    if (!o || !n || !pk || pk->size() != crypto::kSignPublicKeySize)
      return Status::Corruption("ledger " + dir + " has incomplete metadata");
    origin = *o;
    key_name = *n;
    std::copy(pk->begin(), pk->end(), reinterpret_cast<char*>(public_key.data()));
    MLAHUB_ASSIGN_OR_RETURN(auto head, GetOpt(cf_default, L::kHead));
    if (!head || head->size() != L::kHeadSize) return Status::Corruption("ledger " + dir + " has no valid head");
    committed_size.store(L::ReadBe64(head->data()));
    committed_root = HashFrom(head->data() + 8);
    latest_checkpoint_size = L::ReadBe64(head->data() + 40);
    if (latest_checkpoint_size > committed_size.load())
      return Status::Corruption("ledger head names a checkpoint beyond its size");
    return Status::Ok();
  }

  static std::string HeadValue(uint64_t size, const Hash& root, uint64_t cp_size) {
    return L::Be64(size) + std::string(HashView(root)) + L::Be64(cp_size);
  }

  std::string SignCheckpoint(uint64_t size, const Hash& root) const {
    return SignNote(CheckpointText(Checkpoint{origin, size, root}), *options.signer);
  }

  Status Create() {
    if (options.origin.empty()) return Status::InvalidArgument("creating a ledger needs an origin");
    if (!IsValidKeyName(options.signer->key_name()))
      return Status::InvalidArgument("invalid checkpoint key name '" + options.signer->key_name() + "'");
    for (char c : options.origin)
      if (static_cast<unsigned char>(c) < 0x20 || c == '\n')
        return Status::InvalidArgument("origin must be one line of printable text");
    origin = options.origin;
    key_name = options.signer->key_name();
    public_key = options.signer->public_key();
    rocksdb::WriteBatch wb;
    wb.Put(cf_default, AsSlice(L::kMetaFormat), AsSlice(L::kFormatVersion));
    wb.Put(cf_default, AsSlice(L::kMetaOrigin), AsSlice(origin));
    wb.Put(cf_default, AsSlice(L::kMetaKeyName), AsSlice(key_name));
    wb.Put(cf_default, AsSlice(L::kMetaPublicKey),
           rocksdb::Slice(reinterpret_cast<const char*>(public_key.data()), public_key.size()));
    Hash empty = EmptyRoot();
    wb.Put(cf_checkpoints, L::Be64(0), SignCheckpoint(0, empty));
    wb.Put(cf_default, AsSlice(L::kHead), HeadValue(0, empty, 0));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = db->Write(wo, &wb);
    if (!s.ok()) return FromRocks(s, "cannot create ledger");
    committed_size.store(0);
    committed_root = empty;
    latest_checkpoint_size = 0;
    return Status::Ok();
  }

  // Deletes records at or beyond the committed size (a batch cannot be torn
  // in RocksDB, so this finds nothing unless the store was altered).
  Status CutBackTail() {
    uint64_t size = committed_size.load();
    rocksdb::WriteBatch wb;
    bool found = false;
    auto cut = [&](rocksdb::ColumnFamilyHandle* cf, uint64_t from) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
      it->Seek(L::Be64(from));
      if (it->Valid()) {
        found = true;
        wb.DeleteRange(cf, L::Be64(from), std::string(9, '\xff'));
      }
      return it->status();
    };
    rocksdb::Status s = cut(cf_entries, size);
    if (s.ok()) s = cut(cf_nodes, size);
    if (s.ok()) s = cut(cf_checkpoints, size + 1);
    if (!s.ok()) return FromRocks(s, "cannot scan the ledger tail");
    if (found) {
      rocksdb::ReadOptions all;
      all.total_order_seek = true;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(all, cf_index));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key();
        if (k.size() >= 10 && L::ReadBe64(k.data() + k.size() - 8) >= size) wb.Delete(cf_index, k);
      }
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = db->Write(wo, &wb);
      if (!s.ok()) return FromRocks(s, "cannot cut back the ledger tail");
    }
    return Status::Ok();
  }

  Status RestoreFrontier() {
    uint64_t size = committed_size.load();
    std::vector<Hash> edge;
    if (size > 0) {
      std::vector<NodePos> nodes = PerfectNodes({0, size});
      edge.resize(nodes.size());
      MLAHUB_RETURN_IF_ERROR(ReadNodes(nodes, edge));
    }
    MLAHUB_ASSIGN_OR_RETURN(frontier, MerkleFrontier::FromNodes(size, edge));
    if (frontier.Root() != committed_root)
      return Status::Corruption("ledger head root does not match the stored hashes; run `mlahub ledger verify`");
    builder_checkpoint_size = latest_checkpoint_size;
    return Status::Ok();
  }

  void StartUpperLoader() {
    // The top levels first (n/1024 reads), so that proofs use them while
    // the rest loads.
    upper_loader = std::thread([this] {
      if (LoadUpper(10)) LoadUpper(kMemLevel);
    });
  }

  // Reads the upper levels up to the committed size, then publishes them
  // under upper_mu once nothing committed meanwhile is missing (from then on
  // the committer extends them: it stores committed_size before it takes
  // upper_mu in ExtendUpper).
  bool LoadUpper(uint8_t min_level) {
    std::vector<std::vector<Hash>> levels(64);
    uint64_t records_done = 0;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    constexpr uint64_t kChunk = 4096;
    std::vector<std::string> key_store;
    std::vector<rocksdb::Slice> keys;
    std::vector<rocksdb::PinnableSlice> values;
    std::vector<rocksdb::Status> statuses;
    for (;;) {
      uint64_t records = committed_size.load(std::memory_order_acquire) >> min_level;
      if (records == records_done) {
        std::lock_guard<std::mutex> lk(upper_mu);
        if ((committed_size.load(std::memory_order_acquire) >> min_level) != records_done) continue;
        upper = std::move(levels);
        upper_min = min_level;
        return true;
      }
      for (uint64_t k0 = records_done; k0 < records; k0 += kChunk) {
        if (upper_stop.load(std::memory_order_relaxed)) return false;
        uint64_t n = std::min(kChunk, records - k0);
        key_store.resize(n);
        keys.resize(n);
        values.clear();
        values.resize(n);
        statuses.assign(n, rocksdb::Status());
        for (uint64_t j = 0; j < n; ++j) {
          key_store[j] = L::Be64(((k0 + j + 1) << min_level) - 1);
          keys[j] = rocksdb::Slice(key_store[j]);
        }
        db->MultiGet(ro, cf_nodes, n, keys.data(), values.data(), statuses.data(), /*sorted_input=*/true);
        for (uint64_t j = 0; j < n; ++j) {
          if (!statuses[j].ok()) return false;
          uint64_t record = ((k0 + j + 1) << min_level) - 1;
          size_t nlevels = static_cast<size_t>(std::countr_one(record));
          if (values[j].size() != nlevels * kHashSize) return false;
          for (size_t l = min_level; l <= nlevels; ++l) {
            auto& v = levels[l];
            if (v.size() != ((record + 1) >> l) - 1) return false;
            v.push_back(HashFrom(values[j].data() + (l - 1) * kHashSize));
          }
        }
      }
      records_done = records;
    }
  }

  // Verify streams: a read-only view drops the upper tree (and stops its
  // load) so that verify's memory stays small; later proofs read RocksDB.
  void DropUpper() const {
    StopUpperLoader();
    std::lock_guard<std::mutex> lk(upper_mu);
    upper_min = 64;
    std::vector<std::vector<Hash>>().swap(upper);
  }

  // Publishes nodes completed by a committed batch (committer thread).
  void ExtendUpper(const std::vector<std::pair<NodePos, Hash>>& nodes) {
    std::lock_guard<std::mutex> lk(upper_mu);
    // Levels not loaded yet are read by the loader from the store.
    for (const auto& [pos, h] : nodes) {
      if (pos.level < upper_min) continue;
      auto& v = upper[pos.level];
      if (pos.index == v.size()) v.push_back(h);  // skip what the load already read
    }
  }

  // ---- NodeSource ----
  Status ReadNodes(std::span<const NodePos> nodes, std::span<Hash> out) const override {
    return ReadNodesAndEntry(nodes, out, nullptr, nullptr);
  }

  // Also reads the record of entry *entry_index into *entry_record (if not
  // null) in the same RocksDB MultiGet.
  Status ReadNodesAndEntry(std::span<const NodePos> nodes, std::span<Hash> out, const uint64_t* entry_index,
                           std::string* entry_record) const {
    // Upper levels from memory; the rest from RocksDB.
    std::vector<size_t> rest;
    {
      std::lock_guard<std::mutex> lk(upper_mu);
      for (size_t i = 0; i < nodes.size(); ++i) {
        const NodePos& n = nodes[i];
        if (n.level >= upper_min && n.index < upper[n.level].size()) {
          out[i] = upper[n.level][n.index];
        } else {
          rest.push_back(i);
        }
      }
    }
    if (rest.empty() && entry_index == nullptr) return Status::Ok();
    if (rest.size() == nodes.size()) return ReadStoredNodes(nodes, out, entry_index, entry_record);
    std::vector<NodePos> sub;
    sub.reserve(rest.size());
    for (size_t i : rest) sub.push_back(nodes[i]);
    std::vector<Hash> got(rest.size());
    MLAHUB_RETURN_IF_ERROR(ReadStoredNodes(sub, got, entry_index, entry_record));
    for (size_t j = 0; j < rest.size(); ++j) out[rest[j]] = got[j];
    return Status::Ok();
  }

  Status ReadStoredNodes(std::span<const NodePos> nodes, std::span<Hash> out, const uint64_t* entry_index,
                         std::string* entry_record) const {
    struct Want {
      rocksdb::ColumnFamilyHandle* cf;
      std::string key;
    };
    std::vector<Want> wants;
    std::map<std::pair<int, uint64_t>, size_t> slot;  // (cf, record) -> want
    std::vector<size_t> which(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodePos& n = nodes[i];
      uint64_t record = n.level == 0 ? n.index : n.end() - 1;
      int cfi = n.level == 0 ? 0 : 1;
      auto [it, fresh] = slot.emplace(std::make_pair(cfi, record), wants.size());
      if (fresh) wants.push_back({n.level == 0 ? cf_entries : cf_nodes, L::Be64(record)});
      which[i] = it->second;
    }
    size_t entry_want = 0;
    if (entry_index != nullptr) {
      auto [it, fresh] = slot.emplace(std::make_pair(0, *entry_index), wants.size());
      if (fresh) wants.push_back({cf_entries, L::Be64(*entry_index)});
      entry_want = it->second;
    }
    std::vector<rocksdb::ColumnFamilyHandle*> cfs;
    std::vector<rocksdb::Slice> keys;
    for (const auto& w : wants) {
      cfs.push_back(w.cf);
      keys.emplace_back(w.key);
    }
    std::vector<rocksdb::PinnableSlice> values(wants.size());
    std::vector<rocksdb::Status> statuses(wants.size());
    db->MultiGet(rocksdb::ReadOptions(), wants.size(), cfs.data(), keys.data(), values.data(),
                 statuses.data());
    if (entry_index != nullptr) {
      const rocksdb::Status& st = statuses[entry_want];
      if (st.IsNotFound()) return Status::Corruption("entry " + std::to_string(*entry_index) + " is missing");
      if (!st.ok()) return FromRocks(st, "ledger read failed");
      if (values[entry_want].size() < kHashSize)
        return Status::Corruption("entry record " + std::to_string(*entry_index) + " is too short");
      entry_record->assign(values[entry_want].data(), values[entry_want].size());
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodePos& n = nodes[i];
      size_t w = which[i];
      uint64_t record = n.level == 0 ? n.index : n.end() - 1;
      if (statuses[w].IsNotFound())
        return Status::Corruption("hash of " + Range(n.begin(), n.end()) + " is missing (record " +
                                  std::to_string(record) + ")");
      if (!statuses[w].ok()) return FromRocks(statuses[w], "ledger read failed");
      const rocksdb::PinnableSlice& v = values[w];
      if (n.level == 0) {
        if (v.size() < kHashSize)
          return Status::Corruption("entry record " + std::to_string(record) + " is too short");
        out[i] = HashFrom(v.data());
      } else {
        size_t levels = static_cast<size_t>(std::countr_one(record));
        if (v.size() != levels * kHashSize)
          return Status::Corruption("node record " + std::to_string(record) + " has the wrong length");
        out[i] = HashFrom(v.data() + (n.level - 1) * kHashSize);
      }
    }
    return Status::Ok();
  }

  // ---- writer: a two-stage pipeline ----
  //
  // The builder drains the queue into an open batch (Merkle nodes, puts),
  // and keeps adding to it while the committer is busy writing and fsyncing
  // the previous batch; when the committer is free the builder seals the open
  // batch (root, checkpoint, head) and hands it over. So hashing overlaps the
  // fsync, a lone append is handed over at once, and under load a batch is
  // everything that arrived during one fsync.


  void AddToBatch(Built& cur, std::vector<Pending>& got) {
    std::string node_value;
    for (Pending& p : got) {
      for (const StateWrite& w : p.state) {
        if (w.value) {
          cur.wb.Put(cf_state, AsSlice(w.key),
                     rocksdb::Slice(reinterpret_cast<const char*>(w.value->data()), w.value->size()));
        } else {
          cur.wb.Delete(cf_state, AsSlice(w.key));
        }
      }
      p.state.clear();
      p.index = frontier.size();
      if (!p.has_entry) {
        cur.items.push_back(std::move(p));
        ++cur.state_only;
        continue;
      }
      const uint64_t i = frontier.size();
      char key[8];
      for (int b = 0; b < 8; ++b) key[b] = static_cast<char>(i >> (56 - 8 * b));
      rocksdb::Slice key_slice(key, 8);
      rocksdb::Slice value_parts[2] = {
          rocksdb::Slice(reinterpret_cast<const char*>(p.leaf.data()), kHashSize),
          rocksdb::Slice(reinterpret_cast<const char*>(p.entry.data()), p.entry.size())};
      cur.wb.Put(cf_entries, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 2));
      node_value.clear();
      frontier.Append(p.leaf, [&](const NodePos& pos, const Hash& h) {
        node_value.append(HashView(h));
        if (pos.level >= kMemLevel) cur.upper.emplace_back(pos, h);
      });
      if (!node_value.empty()) cur.wb.Put(cf_nodes, key_slice, node_value);
      if (!p.key.empty()) {
        char len[2] = {static_cast<char>(p.key.size() >> 8), static_cast<char>(p.key.size() & 0xff)};
        rocksdb::Slice parts[3] = {rocksdb::Slice(len, 2), rocksdb::Slice(p.key), key_slice};
        rocksdb::Slice empty;
        cur.wb.Put(cf_index, rocksdb::SliceParts(parts, 3), rocksdb::SliceParts(&empty, 1));
      }
      cur.items.push_back(std::move(p));
    }
    got.clear();
  }

  // Adds root, checkpoint (if `sign` and not yet signed at this size) and head.
  void Seal(Built& cur, bool sign) {
    cur.size = frontier.size();
    cur.root = frontier.Root();
    cur.checkpoint_size = builder_checkpoint_size;
    if (sign && cur.checkpoint_size != cur.size) {
      cur.wb.Put(cf_checkpoints, L::Be64(cur.size), SignCheckpoint(cur.size, cur.root));
      cur.checkpoint_size = cur.size;
      cur.signed_now = true;
      builder_checkpoint_size = cur.size;
      next_checkpoint_due =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(options.checkpoint_interval_ms);
    }
    cur.wb.Put(cf_default, AsSlice(L::kHead), HeadValue(cur.size, cur.root, cur.checkpoint_size));
  }

  void BuilderLoop() {
    auto cur = std::make_unique<Built>();
    cur->base = frontier.size();
    std::vector<Pending> got;
    for (;;) {
      bool stop = false;
      bool committer_free = false;
      {
        std::unique_lock<std::mutex> lk(mu);
        // While the committer is busy, take work in chunks (producers wake
        // us every kWakeChunk entries), not one wakeup per append.
        auto ready = [&] {
          bool room = cur->items.size() < options.max_batch_entries;
          return (room && !queue.empty() && (!slot_busy || queue.size() >= kWakeChunk)) ||
                 (!slot_busy && (!cur->items.empty() || closing)) || (closing && queue.empty());
        };
        while (!ready()) {
          bool tail_unsigned = builder_checkpoint_size != frontier.size();
          if (tail_unsigned && options.checkpoint_interval_ms > 0 && !slot_busy) {
            if (writer_cv.wait_until(lk, next_checkpoint_due) == std::cv_status::timeout) break;
          } else {
            writer_cv.wait(lk);
          }
        }
        size_t room = options.max_batch_entries - std::min(options.max_batch_entries, cur->items.size());
        size_t n = std::min(queue.size(), room);
        got.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          got.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        stop = closing && queue.empty();
        committer_free = !slot_busy;
      }
      if (!got.empty()) {
        space_cv.notify_all();
        AddToBatch(*cur, got);
        std::lock_guard<std::mutex> lk(mu);
        committer_free = !slot_busy;
      }
      if (!committer_free) {
        if (stop) {  // wait for the committer, then seal what is left
          std::unique_lock<std::mutex> lk(mu);
          writer_cv.wait(lk, [&] { return !slot_busy; });
        } else {
          continue;
        }
      }
      bool tail_unsigned = builder_checkpoint_size != frontier.size();
      bool due = options.checkpoint_interval_ms == 0 || stop ||
                 std::chrono::steady_clock::now() >= next_checkpoint_due;
      if (!cur->items.empty() || (tail_unsigned && due)) {
        Seal(*cur, due);
        {
          std::lock_guard<std::mutex> lk(mu);
          slot = std::move(cur);
          slot_busy = true;
        }
        committer_cv.notify_one();
        cur = std::make_unique<Built>();
        cur->base = frontier.size();
        if (stop) continue;  // loop once more: wait for it, then finish
      }
      if (stop) {
        std::unique_lock<std::mutex> lk(mu);
        writer_cv.wait(lk, [&] { return !slot_busy; });
        builder_done = true;
        committer_cv.notify_one();
        return;
      }
    }
  }

  void CommitterLoop() {
    for (;;) {
      std::unique_ptr<Built> b;
      {
        std::unique_lock<std::mutex> lk(mu);
        committer_cv.wait(lk, [&] { return slot != nullptr || builder_done; });
        if (slot == nullptr) return;
        b = std::move(slot);
      }
      Commit(*b);
      {
        std::lock_guard<std::mutex> lk(mu);
        slot_busy = false;
      }
      writer_cv.notify_one();
    }
  }

  void FailAll(std::vector<Pending>& batch, const Status& s) {
    for (auto& p : batch) p.callback(s, 0);
  }

  void Commit(Built& b) {
    Status failure;
    {
      std::lock_guard<std::mutex> lk(mu);
      failure = failed;
    }
    if (!failure.ok()) return FailAll(b.items, failure);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = db->Write(wo, &b.wb);
    if (!s.ok()) {
      // The database may hold part of this batch in memory and refuses
      // further writes after a failed sync; so do we, until reopened (the
      // builder's frontier is ahead of the store from here on).
      Status st = FromRocks(s, "ledger write failed");
      {
        std::lock_guard<std::mutex> lk(mu);
        failed = Status::Unavailable("ledger is stopped after a failed write; reopen it (" + st.message() + ")");
      }
      return FailAll(b.items, st);
    }
    {
      std::lock_guard<std::mutex> lk(head_mu);
      committed_root = b.root;
      latest_checkpoint_size = b.checkpoint_size;
      const uint64_t entries = b.items.size() - b.state_only;
      stats.batches += b.items.empty() ? 0 : 1;
      stats.entries += entries;
      stats.checkpoints += b.signed_now ? 1 : 0;
      stats.max_batch = std::max<uint64_t>(stats.max_batch, entries);
      committed_size.store(b.size, std::memory_order_release);
    }
    if (!b.upper.empty()) ExtendUpper(b.upper);
    for (Pending& p : b.items) p.callback(Status::Ok(), p.index);
  }

  Status ValidSize(uint64_t size) const {
    if (db == nullptr) return Status::Unavailable("ledger is closed");
    uint64_t have = committed_size.load(std::memory_order_acquire);
    if (size > have)
      return Status::NotFound("tree size " + std::to_string(size) + " is beyond the ledger's " +
                              std::to_string(have) + " entries");
    return Status::Ok();
  }

  Result<std::string> EntryRecord(uint64_t index) const {
    uint64_t have = committed_size.load(std::memory_order_acquire);
    if (index >= have)
      return Status::NotFound("no entry " + std::to_string(index) + ": the ledger has " +
                              std::to_string(have) + " entries");
    MLAHUB_ASSIGN_OR_RETURN(auto v, GetOpt(cf_entries, L::Be64(index)));
    if (!v) return Status::Corruption("entry " + std::to_string(index) + " is missing");
    if (v->size() < kHashSize) return Status::Corruption("entry record " + std::to_string(index) + " is too short");
    return std::move(*v);
  }

  VerifyReport Verify(const std::function<void(uint64_t, uint64_t)>& progress) const;

  void Enqueue(Pending p) {
    bool wake = false;
    {
      std::unique_lock<std::mutex> lk(mu);
      space_cv.wait(lk, [&] { return queue.size() < options.max_pending_entries || closing; });
      Status refuse = closing ? Status::Unavailable("ledger is closing") : failed;
      if (!refuse.ok()) {
        lk.unlock();
        return p.callback(refuse, 0);
      }
      queue.push_back(std::move(p));
      wake = !slot_busy || queue.size() % kWakeChunk == 0;
    }
    if (wake) writer_cv.notify_one();
  }
};

// ---------------------------------------------------------------------------

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Ledger::~Ledger() { Close().IgnoreError(); }

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& dir, LedgerOptions options) {
  if (options.signer == nullptr) return Status::InvalidArgument("opening a ledger for appends needs a signer");
  if (options.max_batch_entries == 0) options.max_batch_entries = 1;
  if (options.max_pending_entries == 0) options.max_pending_entries = 1;
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = std::move(options);
  bool exists = FileExists(dir + "/" + std::string(L::kDbSubdir) + "/CURRENT");
  if (!exists && !impl->options.create_if_missing) return Status::NotFound("no ledger in " + dir);
  MLAHUB_RETURN_IF_ERROR(impl->OpenDb());
  Status st = impl->LoadMeta();
  if (st.code() == Code::kNotFound && impl->options.create_if_missing) st = impl->Create();
  MLAHUB_RETURN_IF_ERROR(st);
  const LedgerOptions& o = impl->options;
  if (o.signer->key_name() != impl->key_name || o.signer->public_key() != impl->public_key)
    return Status::InvalidArgument("ledger " + dir + " is signed by " +
                                   VerifierKey(impl->key_name, impl->public_key) + ", not by " +
                                   VerifierKey(o.signer->key_name(), o.signer->public_key()));
  if (!o.origin.empty() && o.origin != impl->origin)
    return Status::InvalidArgument("ledger " + dir + " has origin '" + impl->origin + "', not '" + o.origin + "'");
  MLAHUB_RETURN_IF_ERROR(impl->CutBackTail());
  MLAHUB_RETURN_IF_ERROR(impl->RestoreFrontier());
  impl->next_checkpoint_due = std::chrono::steady_clock::now();
  impl->StartUpperLoader();
  Impl* raw = impl.get();
  impl->committer = std::thread([raw] { raw->CommitterLoop(); });
  impl->builder = std::thread([raw] { raw->BuilderLoop(); });
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

Result<std::unique_ptr<Ledger>> Ledger::OpenReadOnly(const std::string& dir) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->read_only = true;
  impl->options.block_cache_bytes = size_t{256} << 20;  // allocated only as used
  if (!FileExists(dir + "/" + std::string(L::kDbSubdir) + "/CURRENT"))
    return Status::NotFound("no ledger in " + dir);
  MLAHUB_RETURN_IF_ERROR(impl->OpenDb());
  MLAHUB_RETURN_IF_ERROR(impl->LoadMeta());
  impl->closed = true;  // no writer
  impl->StartUpperLoader();
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

Status Ledger::Close() {
  if (!impl_) return Status::Ok();
  std::lock_guard<std::mutex> close_lock(impl_->close_mu);
  if (!impl_->read_only) {
    {
      std::lock_guard<std::mutex> lk(impl_->mu);
      impl_->closing = true;
    }
    impl_->writer_cv.notify_all();
    impl_->space_cv.notify_all();
    if (impl_->builder.joinable()) impl_->builder.join();
    if (impl_->committer.joinable()) impl_->committer.join();
    impl_->closed = true;
    // Persist the memtables so the WAL is empty: read-only views (which
    // replay the WAL into memory) then open fast and small.
    if (impl_->db != nullptr) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      impl_->db->Flush(fo, impl_->handles).PermitUncheckedError();
    }
  }
  Status st;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    st = impl_->failed;
  }
  impl_->CloseDb();
  return st;
}

void Ledger::AppendAsync(Bytes entry, std::string index_key, AppendCallback callback) {
  AppendAsync(std::move(entry), std::move(index_key), {}, std::move(callback));
}

void Ledger::AppendAsync(Bytes entry, std::string index_key, std::vector<StateWrite> state,
                         AppendCallback callback) {
  Impl& m = *impl_;
  if (m.read_only) return callback(Status::Unavailable("ledger is open read-only"), 0);
  if (entry.size() > m.options.max_entry_bytes)
    return callback(Status::Oversize("ledger entry of " + std::to_string(entry.size()) + " bytes exceeds " +
                                     std::to_string(m.options.max_entry_bytes)),
                    0);
  if (index_key.size() > m.options.max_index_key_bytes)
    return callback(Status::InvalidArgument("index key longer than " +
                                            std::to_string(m.options.max_index_key_bytes) + " bytes"),
                    0);
  Pending p;
  p.leaf = HashLeaf(entry);  // hashed on the caller's thread, off the writer's
  p.entry = std::move(entry);
  p.key = std::move(index_key);
  p.state = std::move(state);
  p.callback = std::move(callback);
  m.Enqueue(std::move(p));
}

void Ledger::WriteStateAsync(std::vector<StateWrite> state, AppendCallback callback) {
  Impl& m = *impl_;
  if (m.read_only) return callback(Status::Unavailable("ledger is open read-only"), 0);
  for (const StateWrite& w : state)
    if (w.key.empty()) return callback(Status::InvalidArgument("empty state key"), 0);
  Pending p;
  p.has_entry = false;
  p.state = std::move(state);
  p.callback = std::move(callback);
  m.Enqueue(std::move(p));
}

Result<uint64_t> Ledger::Append(ByteView entry, std::string_view index_key) {
  std::promise<std::pair<Status, uint64_t>> done;
  auto fut = done.get_future();
  AppendAsync(Bytes(entry.begin(), entry.end()), std::string(index_key),
              [&done](const Status& s, uint64_t index) { done.set_value({s, index}); });
  auto [status, index] = fut.get();
  if (!status.ok()) return status;
  return index;
}

uint64_t Ledger::Size() const { return impl_->committed_size.load(std::memory_order_acquire); }

Result<Hash> Ledger::Root(uint64_t size) const {
  MLAHUB_RETURN_IF_ERROR(impl_->ValidSize(size));
  {
    std::lock_guard<std::mutex> lk(impl_->head_mu);
    if (size == impl_->committed_size.load()) return impl_->committed_root;
  }
  return RootFromSource(size, *impl_);
}

Result<Bytes> Ledger::Entry(uint64_t index) const {
  MLAHUB_ASSIGN_OR_RETURN(std::string v, impl_->EntryRecord(index));
  return Bytes(v.begin() + kHashSize, v.end());
}

Result<Hash> Ledger::LeafHash(uint64_t index) const {
  MLAHUB_ASSIGN_OR_RETURN(std::string v, impl_->EntryRecord(index));
  return HashFrom(v.data());
}

Result<InclusionProof> Ledger::ProveInclusion(uint64_t index, uint64_t tree_size) const {
  MLAHUB_RETURN_IF_ERROR(impl_->ValidSize(tree_size));
  MLAHUB_ASSIGN_OR_RETURN(std::vector<LeafRange> plan, InclusionPlan(index, tree_size));
  InclusionProof p;
  p.index = index;
  p.tree_size = tree_size;
  // The path's stored nodes and the entry in one MultiGet.
  struct WithEntry final : NodeSource {
    const Impl* m;
    uint64_t index;
    mutable std::string record;
    Status ReadNodes(std::span<const NodePos> nodes, std::span<Hash> out) const override {
      return m->ReadNodesAndEntry(nodes, out, &index, &record);
    }
  } source;
  source.m = impl_.get();
  source.index = index;
  MLAHUB_ASSIGN_OR_RETURN(p.path, ResolvePlan(plan, source));
  std::string record = std::move(source.record);
  if (record.empty()) {
    MLAHUB_ASSIGN_OR_RETURN(record, impl_->EntryRecord(index));
  }
  p.leaf_hash = HashFrom(record.data());
  p.entry.assign(record.begin() + kHashSize, record.end());
  if (HashLeaf(p.entry) != p.leaf_hash)
    return Status::Corruption("entry " + std::to_string(index) + " does not match its stored leaf hash");
  return p;
}

Result<std::vector<Hash>> Ledger::ProveConsistency(uint64_t old_size, uint64_t new_size) const {
  MLAHUB_RETURN_IF_ERROR(impl_->ValidSize(new_size));
  MLAHUB_ASSIGN_OR_RETURN(std::vector<LeafRange> plan, ConsistencyPlan(old_size, new_size));
  return ResolvePlan(plan, *impl_);
}

Result<std::string> Ledger::CheckpointAt(uint64_t size) const {
  MLAHUB_RETURN_IF_ERROR(impl_->ValidSize(size));
  MLAHUB_ASSIGN_OR_RETURN(auto v, impl_->GetOpt(impl_->cf_checkpoints, L::Be64(size)));
  if (!v) return Status::NotFound("no checkpoint was signed at size " + std::to_string(size));
  return std::move(*v);
}

Result<std::string> Ledger::LatestCheckpoint(uint64_t* size) const {
  uint64_t s;
  {
    std::lock_guard<std::mutex> lk(impl_->head_mu);
    s = impl_->latest_checkpoint_size;
  }
  if (size != nullptr) *size = s;
  MLAHUB_ASSIGN_OR_RETURN(auto v, impl_->GetOpt(impl_->cf_checkpoints, L::Be64(s)));
  if (!v) return Status::Corruption("the latest checkpoint (size " + std::to_string(s) + ") is missing");
  return std::move(*v);
}

Result<std::vector<uint64_t>> Ledger::CheckpointSizes() const {
  std::vector<uint64_t> out;
  if (impl_->db == nullptr) return Status::Unavailable("ledger is closed");
  uint64_t have = Size();
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf_checkpoints));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return Status::Corruption("malformed checkpoint key");
    uint64_t s = L::ReadBe64(it->key().data());
    if (s > have) break;
    out.push_back(s);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "ledger read failed");
  return out;
}

Result<std::optional<Bytes>> Ledger::GetState(std::string_view key) const {
  if (impl_->db == nullptr) return Status::Unavailable("ledger is closed");
  if (impl_->cf_state == nullptr) return std::optional<Bytes>();
  MLAHUB_ASSIGN_OR_RETURN(auto v, impl_->GetOpt(impl_->cf_state, key));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(Bytes(v->begin(), v->end()));
}

Status Ledger::ScanState(std::string_view prefix, std::string_view start,
                         const std::function<bool(std::string_view key, ByteView value)>& visit) const {
  if (impl_->db == nullptr) return Status::Unavailable("ledger is closed");
  if (impl_->cf_state == nullptr) return Status::Ok();
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf_state));
  std::string from = start.empty() || start < prefix ? std::string(prefix) : std::string(start);
  for (it->Seek(AsSlice(from)); it->Valid() && it->key().starts_with(AsSlice(prefix)); it->Next()) {
    rocksdb::Slice v = it->value();
    if (!visit(AsView(it->key()), ByteView(reinterpret_cast<const uint8_t*>(v.data()), v.size()))) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "ledger state read failed");
  return Status::Ok();
}

Result<std::vector<uint64_t>> Ledger::FindByIndexKey(std::string_view index_key) const {
  std::vector<uint64_t> out;
  if (index_key.empty()) return out;
  if (impl_->db == nullptr) return Status::Unavailable("ledger is closed");
  std::string prefix = L::IndexPrefix(index_key);
  uint64_t have = Size();
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf_index));
  for (it->Seek(L::IndexKey(index_key, 0)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    uint64_t i = L::ReadBe64(it->key().data() + prefix.size());
    if (i < have) out.push_back(i);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "ledger read failed");
  return out;
}

const std::string& Ledger::origin() const { return impl_->origin; }
const std::string& Ledger::key_name() const { return impl_->key_name; }
const crypto::SignPublicKey& Ledger::public_key() const { return impl_->public_key; }
std::string Ledger::verifier_key() const { return VerifierKey(impl_->key_name, impl_->public_key); }
bool Ledger::read_only() const { return impl_->read_only; }

LedgerStats Ledger::Stats() const {
  std::lock_guard<std::mutex> lk(impl_->head_mu);
  return impl_->stats;
}

VerifyReport Ledger::Verify(const std::function<void(uint64_t, uint64_t)>& progress) const {
  return impl_->Verify(progress);
}

// ---------------------------------------------------------------------------
// Verify: one pass over entries, nodes and checkpoints in key order, keeping
// only the Merkle frontier.

VerifyReport Ledger::Impl::Verify(const std::function<void(uint64_t, uint64_t)>& progress) const {
  VerifyReport r;
  if (db == nullptr) {
    r.status = Status::Unavailable("ledger is closed");
    return r;
  }
  if (read_only) DropUpper();
  uint64_t size;
  Hash head_root;
  uint64_t head_cp;
  {
    std::lock_guard<std::mutex> lk(head_mu);
    size = committed_size.load();
    head_root = committed_root;
    head_cp = latest_checkpoint_size;
  }
  auto bad_entry = [&](uint64_t i, std::string msg) {
    r.bad_index = i;
    r.status = Status::Corruption("entry " + std::to_string(i) + ": " + msg);
    return r;
  };
  auto bad_checkpoint = [&](uint64_t s, std::string msg) {
    r.bad_checkpoint = s;
    r.status = Status::Corruption("checkpoint at size " + std::to_string(s) + ": " + msg);
    return r;
  };

  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  // RocksDB's automatic readahead (up to 256 KiB per open file): a fixed
  // readahead is allocated for every L0 file at once and would make memory
  // grow with the number of files.
  ro.readahead_size = 0;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> eit(db->NewIterator(ro, cf_entries));
  std::unique_ptr<rocksdb::Iterator> nit(db->NewIterator(ro, cf_nodes));
  std::unique_ptr<rocksdb::Iterator> cit(db->NewIterator(ro, cf_checkpoints));
  eit->SeekToFirst();
  nit->SeekToFirst();
  cit->SeekToFirst();

  bool saw_head_checkpoint = false;
  auto check_checkpoint = [&](uint64_t s, const Hash& root) -> bool {
    std::string_view note = AsView(cit->value());
    auto text = OpenNote(note, key_name, public_key);
    if (!text.ok()) {
      bad_checkpoint(s, text.status().ToString());
      return false;
    }
    auto cp = ParseCheckpointText(*text);
    if (!cp.ok()) {
      bad_checkpoint(s, cp.status().ToString());
      return false;
    }
    if (cp->origin != origin) {
      bad_checkpoint(s, "origin '" + cp->origin + "' is not the ledger's '" + origin + "'");
      return false;
    }
    if (cp->size != s) {
      bad_checkpoint(s, "it states size " + std::to_string(cp->size));
      return false;
    }
    if (cp->root != root) {
      bad_checkpoint(s, "its root hash is not the root recomputed from the entries");
      return false;
    }
    if (s == head_cp) saw_head_checkpoint = true;
    ++r.checkpoints;
    cit->Next();
    return true;
  };
  auto cp_key = [&](uint64_t* s) -> bool {
    if (!cit->Valid()) return false;
    if (cit->key().size() != 8) return false;
    *s = L::ReadBe64(cit->key().data());
    return true;
  };

  MerkleFrontier f;
  uint64_t s = 0;
  if (cp_key(&s) && s == 0 && !check_checkpoint(0, EmptyRoot())) return r;

  struct Done {
    NodePos pos;
    Hash hash;
  };
  std::vector<Done> done;
  auto last_progress = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < size; ++i) {
    if (!eit->Valid() || eit->key().size() != 8 || L::ReadBe64(eit->key().data()) != i) {
      if (!eit->status().ok()) {
        r.status = FromRocks(eit->status(), "ledger read failed at entry " + std::to_string(i));
        r.bad_index = i;
        return r;
      }
      return bad_entry(i, "record is missing");
    }
    rocksdb::Slice v = eit->value();
    if (v.size() < kHashSize) return bad_entry(i, "record is shorter than a hash");
    Hash leaf = HashLeaf(ByteView(reinterpret_cast<const uint8_t*>(v.data()) + kHashSize, v.size() - kHashSize));
    if (leaf != HashFrom(v.data())) return bad_entry(i, "entry bytes do not match the stored leaf hash");
    done.clear();
    f.Append(leaf, [&](const NodePos& p, const Hash& h) { done.push_back({p, h}); });
    if (nit->Valid() && nit->key().size() == 8 && L::ReadBe64(nit->key().data()) < i)
      return bad_entry(L::ReadBe64(nit->key().data()), "node record where none belongs");
    bool has_record = nit->Valid() && nit->key().size() == 8 && L::ReadBe64(nit->key().data()) == i;
    if (!done.empty()) {
      if (!has_record) return bad_entry(i, "node hashes of the subtree ending here are missing");
      rocksdb::Slice nv = nit->value();
      if (nv.size() != done.size() * kHashSize) return bad_entry(i, "node record has the wrong length");
      for (size_t k = 0; k < done.size(); ++k) {
        if (HashFrom(nv.data() + k * kHashSize) != done[k].hash)
          return bad_entry(i, "stored hash of " + Range(done[k].pos.begin(), done[k].pos.end()) +
                                  " (level " + std::to_string(done[k].pos.level) +
                                  ") does not match the recomputed one");
      }
      nit->Next();
    } else if (has_record) {
      return bad_entry(i, "node record where none belongs");
    }
    eit->Next();
    ++r.entries;
    if (cp_key(&s) && s <= i) return bad_checkpoint(s, "stray checkpoint record");
    if (cp_key(&s) && s == i + 1 && !check_checkpoint(s, f.Root())) return r;
    if (progress && (i & 0x3fff) == 0x3fff) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(200)) {
        progress(i + 1, size);
        last_progress = now;
      }
    }
  }
  if (!eit->status().ok() || !nit->status().ok() || !cit->status().ok()) {
    r.status = Status::IoError("ledger read failed during verify");
    return r;
  }
  if (eit->Valid()) {
    uint64_t k = eit->key().size() == 8 ? L::ReadBe64(eit->key().data()) : size;
    return bad_entry(k, "record beyond the committed size " + std::to_string(size));
  }
  if (nit->Valid()) {
    uint64_t k = nit->key().size() == 8 ? L::ReadBe64(nit->key().data()) : size;
    return bad_entry(k, "node record beyond the committed size " + std::to_string(size));
  }
  if (cit->Valid()) {
    uint64_t k = cit->key().size() == 8 ? L::ReadBe64(cit->key().data()) : size;
    return bad_checkpoint(k, "checkpoint beyond the committed size " + std::to_string(size));
  }
  if (f.Root() != head_root) {
    r.status = Status::Corruption("the head's root hash does not match the root recomputed from the entries");
    return r;
  }
  if (!saw_head_checkpoint) return bad_checkpoint(head_cp, "the head's latest checkpoint is missing");
  // The index is a lookup aid: every key must be well formed and point at a
  // committed entry.
  rocksdb::ReadOptions all = ro;
  all.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> xit(db->NewIterator(all, cf_index));
  for (xit->SeekToFirst(); xit->Valid(); xit->Next()) {
    rocksdb::Slice k = xit->key();
    size_t len = k.size() >= 2 ? (static_cast<uint8_t>(k[0]) << 8 | static_cast<uint8_t>(k[1])) : 0;
    if (k.size() != 2 + len + 8 || len == 0) {
      r.status = Status::Corruption("malformed index key");
      return r;
    }
    uint64_t i = L::ReadBe64(k.data() + k.size() - 8);
    if (i >= size) return bad_entry(i, "index key points beyond the committed size");
  }
  if (!xit->status().ok()) {
    r.status = FromRocks(xit->status(), "ledger read failed");
    return r;
  }
  if (progress) progress(size, size);
  return r;
}

}  // namespace mlahub::storage
