#include "mlahub/storage/ledger.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <span>
#include <thread>

#include "append_memtable.h"
#include "ledger_keys.h"
#include "mlahub/core/file.h"
#include "rocks.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/random.h"

namespace mlahub::storage {

namespace L = layout;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

// Names the calling thread (top, perf, /proc/<pid>/task/*/comm).
void NameThread(const char* name) { pthread_setname_np(pthread_self(), name); }

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
// but the last 8 bytes, so one message id's entries share a prefix (and a
// lookup needs one prefix Bloom filter probe per table file).
class IndexKeyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "mlahub.IndexKeyPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() >= 10; }
};

// Perfect-subtree hashes of level >= kMemLevel (subtrees of 32 leaves and
// up: n/16 hashes, 20 MB at 10M entries) are kept in memory, so a proof reads
// at most a few records from RocksDB (the levels below, which sit in one
// `nodes` record per block of 32 leaves, and a leaf), not 2*log2(n).
constexpr uint8_t kMemLevel = L::kBlockLevels + 1;
using BlockNodes = std::array<Hash, L::kBlockNodes>;

struct Pending {
  Bytes entry;
  std::string key;
  Hash leaf{};
  AppendCallback callback;
  std::vector<StateWrite> state;
  bool has_entry = true;  // false: state writes only
  bool deferrable = false;  // Urgency::kDeferrable: may wait for company
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
  // The newest block's nodes of levels 1..4 as of `size` (not stored until
  // the block is complete), published for reads at the commit.
  BlockNodes tail{};
  // The batch's message-id index keys (BE16(len) || key || BE64(i), one
  // after the other), for the indexer after the commit (derived data).
  std::string index_keys;
  bool has_entries = false;

  // For reuse by the builder: keeps the buffers' capacity (a batch of 16k
  // entries is 7-8 MB), so the next batch neither reallocates nor faults in
  // fresh pages; the finished items are destroyed here, off the committer.
  void Reset(uint64_t new_base) {
    wb.Clear();
    index_keys.clear();
    items.clear();
    state_only = 0;
    base = new_base;
    size = 0;
    root = Hash{};
    checkpoint_size = 0;
    signed_now = false;
    upper.clear();
    has_entries = false;
  }
};

// A committed batch's index keys on their way to the indexer.
struct IndexJob {
  std::string keys;   // concatenated index keys
  uint64_t size = 0;  // the index covers [0, size) once they are added
};

// Index keys are BE16(len) || key || BE64(i): the length of the one at p.
size_t IndexKeyLength(const char* p) {
  return 2 + (static_cast<size_t>(static_cast<uint8_t>(p[0])) << 8 | static_cast<uint8_t>(p[1])) + 8;
}

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
  // Appends waiting for the builder: `queue`, plus the part of the
  // builder's backlog (the previous `queue`, swapped out whole) not yet in a
  // batch; `queued` counts both.
  std::vector<Pending> queue;
  size_t queued = 0;
  // Of `queued`, those someone waits for (not Urgency::kDeferrable); and
  // when the oldest of `queued` arrived. Entries that are all deferrable
  // wait for a prompt one, or until first_queued_at + deferrable_delay.
  size_t queued_prompt = 0;
  std::chrono::steady_clock::time_point first_queued_at{};
  bool closing = false;
  bool closed = false;
  Status failed;  // set once a write fails: the ledger then refuses appends
  std::condition_variable committer_cv;
  std::unique_ptr<Built> slot;  // sealed batch for the committer
  std::unique_ptr<Built> spare;  // committed batch, handed back for reuse
  bool slot_busy = false;               // a batch is being committed (by the committer, or inline by the builder)
  bool builder_done = false;
  static constexpr size_t kWakeChunk = 256;
  // Batches of at most this many appends are committed by the builder itself.
  static constexpr size_t kInlineCommitItems = 64;
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

  // ---- derived message-id index ----
  // The keys are in the entry records, which are synced; the index family
  // is derived from them. The indexer thread collects each committed batch's
  // keys in memory (`pending`, searched by lookups) and, every kIngestKeys
  // keys and on close, sorts them into a table file with the watermark
  // (BE64(n): the family holds the keys of entries [0, n)) and ingests it
  // (atomic, durable; no memtable, no flush). After a crash Open() re-reads
  // the keys of the entries from the watermark on.
  mutable std::mutex index_mu;
  mutable std::condition_variable index_cv;
  std::deque<IndexJob> index_jobs;
  uint64_t ingested_size = 0;  // the index family covers [0, ingested_size)
  uint64_t indexed_size = 0;   // with `pending`: [0, indexed_size)
  std::string pending;         // index keys of [ingested_size, indexed_size)
  size_t pending_keys = 0;
  uint64_t index_catchup_to = 0;  // Open(): re-read [indexed_size, this) first
  bool index_stop = false;
  Status index_failed;
  std::thread indexer;
  static constexpr size_t kMaxIndexJobs = 8;
  static constexpr size_t kIndexWakeJobs = 4;
  mutable int index_wanted = 0;  // readers waiting for the indexer to catch up
  static constexpr size_t kIngestKeys = size_t{1} << 18;

  // ---- the newest, incomplete block of 32 leaves ----
  // Its nodes of levels 1..4 go into the `nodes` record of its last leaf
  // once it is complete; until then reads take them from here (upper_mu):
  // those of block tail_size / 32 that end at or before tail_size.
  uint64_t tail_size = 0;
  BlockNodes tail_nodes{};

  // ---- writer-thread state ----
  MerkleFrontier frontier;
  BlockNodes block_nodes{};  // the builder's copy, ahead of the commits
  uint64_t builder_checkpoint_size = 0;
  SteadyTime next_checkpoint_due{};

  ~Impl() override { CloseDb(); }

  void StopUpperLoader() const {
    upper_stop.store(true);
    std::lock_guard<std::mutex> lk(upper_loader_mu);
    if (upper_loader.joinable()) upper_loader.join();
  }

  void StopIndexer() {
    {
      std::lock_guard<std::mutex> lk(index_mu);
      index_stop = true;
    }
    index_cv.notify_all();
    if (indexer.joinable()) indexer.join();
  }

  void CloseDb() {
    StopUpperLoader();
    StopIndexer();
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
    o.allow_concurrent_memtable_write = false;  // one writer; needed by the append memtable
    o.max_background_jobs = 2;
    o.max_total_wal_size = uint64_t{512} << 20;
    // RocksDB's own info LOG: rolled at 16 MiB, four old ones kept (without
    // a size it is one file per open, growing for as long as the broker runs).
    o.keep_log_file_num = 4;
    o.max_log_file_size = 16 << 20;
    if (options.memtable_bytes > 0) o.db_write_buffer_size = options.memtable_bytes;
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
      // Lookups seek to a message id's prefix: a prefix Bloom filter, no
      // whole-key filter, no point-lookup hash index in the blocks.
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      t.whole_key_filtering = false;
      t.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinarySearch;
      o.prefix_extractor = std::make_shared<IndexKeyPrefix>();
      // Random keys: leveled compaction rewrote all of level 1 at every
      // L0 -> L1 compaction (4 us of CPU per entry at 10M entries, growing
      // with the ledger). Size-tiered ("universal") compaction rewrites each
      // key a few times in all; lookups check at most a handful of sorted
      // runs (one Bloom filter probe each), fine for audit lookups.
      o.compaction_style = rocksdb::kCompactionStyleUniversal;
      o.level0_file_num_compaction_trigger = 8;
      o.level0_slowdown_writes_trigger = 64;
      o.level0_stop_writes_trigger = 96;
    }
    // Keys written once each, in ascending order: appending to an array
    // beats a skiplist insert (append_memtable.h).
    if (kAppendMemTableTested && (name == L::kCfEntries || name == L::kCfNodes || name == L::kCfCheckpoints))
      o.memtable_factory = std::make_shared<AppendMemTableRepFactory>();
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    // Hashes and signatures do not compress; entries little. Keep reads cheap.
    o.compression = rocksdb::kNoCompression;
    if (name == L::kCfEntries) o.write_buffer_size = size_t{128} << 20;
    if (options.memtable_bytes > 0 && name != L::kCfDefault)
      o.write_buffer_size = std::min(o.write_buffer_size, std::max<size_t>(options.memtable_bytes / 4, size_t{1} << 20));
    if (name == L::kCfDefault) o.write_buffer_size = size_t{4} << 20;
    // State records include evidence chunks of 256 KiB and more: a small
    // memtable bounds what a large transfer holds in memory (two of them,
    // one being flushed) before it is on disk.
    if (name == L::kCfState) {
      o.write_buffer_size = std::min(o.write_buffer_size, size_t{8} << 20);
      // The broker's duplicate check looks up every new message id here and
      // almost never finds it: a whole-key Bloom filter answers those misses
      // without reading a data block of each table file (the reads bypass the
      // block cache, so each was a pread), and one in the memtable spares
      // its skiplist search.
      rocksdb::BlockBasedTableOptions st = t;
      st.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      st.whole_key_filtering = true;
      o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(st));
      o.memtable_whole_key_filtering = true;
      o.memtable_prefix_bloom_size_ratio = 0.02;
    }
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

  Result<std::optional<std::string>> GetOpt(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                                            bool fill_cache = true) const {
    if (db == nullptr) return Status::Unavailable("ledger is closed");
    std::string v;
    rocksdb::ReadOptions ro;
    ro.fill_cache = fill_cache;
    rocksdb::Status s = db->Get(ro, cf, AsSlice(key), &v);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "ledger read failed");
    return std::optional<std::string>(std::move(v));
  }

  Status LoadMeta() {
    MLAHUB_ASSIGN_OR_RETURN(auto fmt, GetOpt(cf_default, L::kMetaFormat));
    if (!fmt) return Status::NotFound("no ledger in " + dir);
    if (*fmt == "1")
      return Status::UnsupportedVersion(
          "ledger " + dir + " has format version 1, from an older mlahub; this build reads format " +
          std::string(L::kFormatVersion) +
          " only (entry records carry their index key, node hashes are stored per block of 32 leaves, "
          "the message-id index is derived). "
          "Format-1 ledgers were made only by benchmarks: create a new ledger in an empty directory "
          "(e.g. rerun `mlahub-bench ledger --dir NEWDIR`), or use the older build to read this one");
    if (*fmt != L::kFormatVersion)
      return Status::UnsupportedVersion("ledger " + dir + " has unknown format version '" + *fmt +
                                        "' (this build reads format " + std::string(L::kFormatVersion) + ")");
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
    MLAHUB_ASSIGN_OR_RETURN(auto mark, GetOpt(cf_index, L::kIndexWatermark));
    if (mark && mark->size() != 8) return Status::Corruption("ledger index watermark is malformed");
    // No watermark: nothing is known to be indexed (re-indexed from 0).
    ingested_size = indexed_size = mark ? L::ReadBe64(mark->data()) : 0;
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
    wb.Put(cf_index, AsSlice(L::kIndexWatermark), L::Be64(0));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = db->Write(wo, &wb);
    if (!s.ok()) return FromRocks(s, "cannot create ledger");
    committed_size.store(0);
    committed_root = empty;
    latest_checkpoint_size = 0;
    ingested_size = indexed_size = 0;
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
    if (indexed_size > size) found = true;  // an index beyond the head: only from tampering
    if (found) {
      rocksdb::ReadOptions all;
      all.total_order_seek = true;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(all, cf_index));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key();
        if (k.size() >= 10 && L::ReadBe64(k.data() + k.size() - 8) >= size) wb.Delete(cf_index, k);
      }
      if (!it->status().ok()) return FromRocks(it->status(), "cannot scan the ledger index");
      if (indexed_size > size) {
        ingested_size = indexed_size = size;
        wb.Put(cf_index, AsSlice(L::kIndexWatermark), L::Be64(size));
      }
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = db->Write(wo, &wb);
      if (!s.ok()) return FromRocks(s, "cannot cut back the ledger tail");
    }
    return Status::Ok();
  }

  // Computes the nodes of levels 1..4 inside the newest, incomplete block
  // from its leaf hashes (at most 31 records) for reads (and the builder).
  Status LoadTail() {
    const uint64_t size = committed_size.load();
    const uint64_t start = size / L::kBlockLeaves * L::kBlockLeaves;
    std::vector<Hash> level;
    if (start < size) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf_entries));
      it->Seek(L::Be64(start));
      for (uint64_t i = start; i < size; ++i, it->Next()) {
        if (!it->Valid() || it->key().size() != 8 || L::ReadBe64(it->key().data()) != i) {
          if (!it->status().ok()) return FromRocks(it->status(), "ledger read failed");
          return Status::Corruption("entry " + std::to_string(i) + " is missing");
        }
        L::EntryRecordView rv;
        if (!L::ParseEntryRecord(i, AsView(it->value()), &rv))
          return Status::Corruption("entry record " + std::to_string(i) + " is malformed");
        level.push_back(HashFrom(rv.leaf.data()));
      }
    }
    BlockNodes nodes{};
    for (int l = 1; l <= L::kBlockLevels; ++l) {
      std::vector<Hash> up(level.size() / 2);
      for (size_t j = 0; j < up.size(); ++j) {
        up[j] = HashChildren(level[2 * j], level[2 * j + 1]);
        nodes[L::NodeSlot(l, (start >> l) + j)] = up[j];
      }
      level = std::move(up);
    }
    {
      std::lock_guard<std::mutex> lk(upper_mu);
      tail_size = size;
      tail_nodes = nodes;
    }
    block_nodes = nodes;
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
    MLAHUB_ASSIGN_OR_RETURN(MerkleFrontier restored, MerkleFrontier::FromNodes(size, edge));
    frontier = std::move(restored);
    if (frontier.Root() != committed_root)
      return Status::Corruption("ledger head root does not match the stored hashes; run `mlahub ledger verify`");
    builder_checkpoint_size = latest_checkpoint_size;
    return Status::Ok();
  }

  void StartUpperLoader() {
    // The top levels first (n/1024 reads), so that proofs use them while
    // the rest loads.
    upper_loader = std::thread([this] {
      NameThread("ledger-upper");
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
          if (values[j].size() != L::NodesRecordHashes(record) * kHashSize) return false;
          for (size_t l = min_level; l <= nlevels; ++l) {
            auto& v = levels[l];
            if (v.size() != ((record + 1) >> l) - 1) return false;
            v.push_back(HashFrom(values[j].data() + L::NodeSlot(static_cast<int>(l), 0) * kHashSize));
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
      const uint64_t tail_block = tail_size / L::kBlockLeaves;
      for (size_t i = 0; i < nodes.size(); ++i) {
        const NodePos& n = nodes[i];
        if (n.level >= upper_min && n.index < upper[n.level].size()) {
          out[i] = upper[n.level][n.index];
        } else if (n.level >= 1 && n.level < kMemLevel && n.begin() / L::kBlockLeaves == tail_block &&
                   n.end() <= tail_size) {
          out[i] = tail_nodes[L::NodeSlot(n.level, n.index)];
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
    // Leaves are in entry records, the other levels in the `nodes` record
    // of their block's last leaf (levels 1..4) or their own last leaf.
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodePos& n = nodes[i];
      uint64_t record = n.level == 0 ? n.index : L::NodeRecord(n.level, n.index);
      int cfi = n.level == 0 ? 0 : 1;
      auto [it, fresh] = slot.emplace(std::make_pair(cfi, record), wants.size());
      if (fresh) wants.push_back({cfi == 0 ? cf_entries : cf_nodes, L::Be64(record)});
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
    L::EntryRecordView rv;
    if (entry_index != nullptr) {
      const rocksdb::Status& st = statuses[entry_want];
      if (st.IsNotFound()) return Status::Corruption("entry " + std::to_string(*entry_index) + " is missing");
      if (!st.ok()) return FromRocks(st, "ledger read failed");
      if (!L::ParseEntryRecord(*entry_index, AsView(values[entry_want]), &rv))
        return Status::Corruption("entry record " + std::to_string(*entry_index) + " is malformed");
      entry_record->assign(values[entry_want].data(), values[entry_want].size());
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodePos& n = nodes[i];
      size_t w = which[i];
      uint64_t record = n.level == 0 ? n.index : L::NodeRecord(n.level, n.index);
      if (statuses[w].IsNotFound())
        return Status::Corruption("hash of " + Range(n.begin(), n.end()) + " is missing (record " +
                                  std::to_string(record) + ")");
      if (!statuses[w].ok()) return FromRocks(statuses[w], "ledger read failed");
      std::string_view v = AsView(values[w]);
      if (n.level == 0) {
        if (!L::ParseEntryRecord(record, v, &rv))
          return Status::Corruption("entry record " + std::to_string(record) + " is malformed");
        out[i] = HashFrom(rv.leaf.data());
      } else {
        if (v.size() != L::NodesRecordHashes(record) * kHashSize)
          return Status::Corruption("node record " + std::to_string(record) + " has the wrong length");
        out[i] = HashFrom(v.data() + L::NodeSlot(n.level, n.index) * kHashSize);
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


  void AddToBatch(Built& cur, std::span<Pending> got) {
    std::string node_value;  // a `nodes` record
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
      const bool block_end = L::HasNodesRecord(i);
      if (block_end) {
        node_value.clear();
        for (const Hash& h : block_nodes) node_value.append(HashView(h));
      }
      frontier.Append(p.leaf, [&](const NodePos& pos, const Hash& h) {
        if (pos.level < kMemLevel) {
          block_nodes[L::NodeSlot(pos.level, pos.index)] = h;
          if (block_end) std::copy(h.begin(), h.end(), node_value.begin() + L::NodeSlot(pos.level, pos.index) * kHashSize);
        } else {
          node_value.append(HashView(h));
          cur.upper.emplace_back(pos, h);
        }
      });
      char len[2] = {static_cast<char>(p.key.size() >> 8), static_cast<char>(p.key.size() & 0xff)};
      rocksdb::Slice value_parts[4] = {
          rocksdb::Slice(reinterpret_cast<const char*>(p.leaf.data()), kHashSize), rocksdb::Slice(len, 2),
          rocksdb::Slice(p.key), rocksdb::Slice(reinterpret_cast<const char*>(p.entry.data()), p.entry.size())};
      cur.wb.Put(cf_entries, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 4));
      if (block_end) cur.wb.Put(cf_nodes, key_slice, node_value);
      if (!p.key.empty()) {
        rocksdb::Slice parts[3] = {rocksdb::Slice(len, 2), rocksdb::Slice(p.key), key_slice};
        rocksdb::Slice empty;
        for (const auto& part : parts) cur.index_keys.append(part.data(), part.size());
      }
      cur.has_entries = true;
      cur.items.push_back(std::move(p));
    }
  }

  // Adds root, checkpoint (if `sign` and not yet signed at this size) and head.
  void Seal(Built& cur, bool sign) {
    cur.size = frontier.size();
    cur.root = frontier.Root();
    cur.tail = block_nodes;
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
    std::vector<Pending> backlog;  // taken from `queue` in one swap
    size_t backlog_pos = 0;
    for (;;) {
      size_t take_from = 0, take_n = 0;
      bool stop = false;
      bool committer_free = false;
      {
        std::unique_lock<std::mutex> lk(mu);
        // While the committer is busy, take work in chunks (producers wake
        // us every kWakeChunk entries), not one wakeup per append.
        // Deferrable entries alone are not taken until they have waited
        // their delay (or a prompt one comes, or there are many).
        auto deferring = [&] {
          return queued_prompt == 0 && !closing && queued < std::min(kWakeChunk, options.max_pending_entries) &&
                 std::chrono::steady_clock::now() < first_queued_at + options.deferrable_delay;
        };
        auto ready = [&] {
          bool room = cur->items.size() < options.max_batch_entries;
          return (room && queued > 0 && !deferring() && (!slot_busy || queued >= kWakeChunk)) ||
                 (!slot_busy && (!cur->items.empty() || closing)) || (closing && queued == 0);
        };
        while (!ready()) {
          bool tail_unsigned = builder_checkpoint_size != frontier.size();
          bool checkpoint_timer = tail_unsigned && options.checkpoint_interval_ms > 0 && !slot_busy;
          // (While a batch is being committed the committer's "done" wakes
          // us; a timer then would only spin once the delay has passed.)
          bool defer_timer = queued > 0 && queued_prompt == 0 && !slot_busy;
          if (checkpoint_timer || defer_timer) {
            auto until = defer_timer ? first_queued_at + options.deferrable_delay : next_checkpoint_due;
            if (checkpoint_timer) until = std::min(until, next_checkpoint_due);
            if (writer_cv.wait_until(lk, until) == std::cv_status::timeout && checkpoint_timer &&
                std::chrono::steady_clock::now() >= next_checkpoint_due)
              break;
          } else {
            writer_cv.wait(lk);
          }
        }
        size_t room = options.max_batch_entries - std::min(options.max_batch_entries, cur->items.size());
        if (backlog.empty()) std::swap(queue, backlog);  // O(1); the producers keep its capacity
        take_from = backlog_pos;
        take_n = std::min(backlog.size() - backlog_pos, room);
        for (size_t i = take_from; i < take_from + take_n; ++i) queued_prompt -= backlog[i].deferrable ? 0 : 1;
        backlog_pos += take_n;
        queued -= take_n;
        stop = closing && queued == 0;
        committer_free = !slot_busy;
      }
      if (take_n > 0) {
        space_cv.notify_all();
        AddToBatch(*cur, std::span<Pending>(backlog).subspan(take_from, take_n));
        if (backlog_pos == backlog.size()) {
          backlog.clear();  // moved-from items
          backlog_pos = 0;
        }
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
        if (cur->items.size() <= kInlineCommitItems) {
          // A small batch (moderate load): commit it on this thread. Handing
          // it to the committer and being told it is done cost two thread
          // wake-ups per batch, a large part of the CPU per entry when
          // batches are small (on this project's virtual machines a wake-up
          // costs the host's time too). Large batches still go to the
          // committer, so that building the next overlaps this one's fsync.
          {
            std::lock_guard<std::mutex> lk(mu);
            slot_busy = true;  // appenders need not wake us meanwhile
          }
          Commit(*cur);
          {
            std::lock_guard<std::mutex> lk(mu);
            slot_busy = false;
          }
          cur->Reset(frontier.size());
          continue;  // take what arrived during the commit (and finish, if stopping)
        }
        {
          std::lock_guard<std::mutex> lk(mu);
          slot = std::move(cur);
          slot_busy = true;
        }
        committer_cv.notify_one();
        {
          std::lock_guard<std::mutex> lk(mu);
          cur = std::move(spare);
        }
        if (cur == nullptr) cur = std::make_unique<Built>();
        cur->Reset(frontier.size());
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
        spare = std::move(b);
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
      // Before the size: a reader that sees the new size finds the new
      // tail's nodes here, or (its block now complete) in the store.
      std::lock_guard<std::mutex> lk(upper_mu);
      tail_size = b.size;
      tail_nodes = b.tail;
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
    if (b.has_entries) {
      // Hand the batch's index keys to the indexer (before the callbacks, so
      // that FindByIndexKey inside a callback finds the entry). Bounded: a
      // slow indexer holds the writer back rather than memory growing.
      std::unique_lock<std::mutex> lk(index_mu);
      index_cv.wait(lk, [&] { return index_jobs.size() < kMaxIndexJobs || index_stop || !index_failed.ok(); });
      if (index_failed.ok()) {
        index_jobs.push_back(IndexJob{std::move(b.index_keys), b.size});
        // Wake the indexer every kIndexWakeJobs batches, or at once for a
        // reader waiting on it (not once per small batch: a wake-up each).
        const bool wake = index_jobs.size() >= kIndexWakeJobs || index_wanted > 0;
        lk.unlock();
        if (wake) index_cv.notify_all();
      }
    }
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

  // The record of a committed entry, checked to parse (ParseEntryRecord).
  Result<std::string> EntryRecord(uint64_t index) const {
    uint64_t have = committed_size.load(std::memory_order_acquire);
    if (index >= have)
      return Status::NotFound("no entry " + std::to_string(index) + ": the ledger has " +
                              std::to_string(have) + " entries");
    MLAHUB_ASSIGN_OR_RETURN(auto v, GetOpt(cf_entries, L::Be64(index)));
    if (!v) return Status::Corruption("entry " + std::to_string(index) + " is missing");
    L::EntryRecordView rv;
    if (!L::ParseEntryRecord(index, *v, &rv))
      return Status::Corruption("entry record " + std::to_string(index) + " is malformed");
    return std::move(*v);
  }

  // ---- the message-id index ----

  // Indexer thread: first re-reads the keys the stored index lacks (after a
  // crash: the entries from the watermark to the committed size at open),
  // then takes each committed batch's keys, in commit order, and ingests
  // them every kIngestKeys keys and when the ledger closes.
  void IndexerLoop() {
    uint64_t from, to;
    {
      std::lock_guard<std::mutex> lk(index_mu);
      from = indexed_size;
      to = index_catchup_to;
    }
    Status st = from < to ? Reindex(from, to) : Status::Ok();
    for (;;) {
      if (!st.ok()) {
        // Later batches must not be indexed past a gap: the index stays as
        // it is (lookups scan the entry records beyond it).
        std::lock_guard<std::mutex> lk(index_mu);
        index_failed = st;
        index_jobs.clear();
        index_cv.notify_all();
        return;
      }
      bool ingest = false;
      {
        std::unique_lock<std::mutex> lk(index_mu);
        index_cv.wait(lk, [&] {
          return index_jobs.size() >= kIndexWakeJobs || (!index_jobs.empty() && index_wanted > 0) || index_stop;
        });
        if (index_jobs.empty()) {
          // Closing, and every committed batch is here: ingest the rest.
          const bool rest = indexed_size > ingested_size;
          lk.unlock();
          if (rest) st = Ingest();
          if (!st.ok()) continue;
          return;
        }
        // All of them, in commit order (the committer wakes us only every
        // kIndexWakeJobs batches).
        for (; !index_jobs.empty(); index_jobs.pop_front()) AddPending(index_jobs.front().keys, index_jobs.front().size);
        ingest = pending_keys >= kIngestKeys;
      }
      index_cv.notify_all();  // progress, and room for the committer
      if (ingest) st = Ingest();
    }
  }

  // With index_mu held.
  void AddPending(std::string_view keys, uint64_t size) {
    pending.append(keys);
    for (size_t at = 0; at < keys.size(); at += IndexKeyLength(keys.data() + at)) ++pending_keys;
    indexed_size = size;
  }

  // Adds the keys of entries [from, to) from their records, in chunks.
  Status Reindex(uint64_t from, uint64_t to) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf_entries));
    std::string keys;
    it->Seek(L::Be64(from));
    for (uint64_t i = from; i < to; it->Next()) {
      if (!it->Valid() || it->key().size() != 8 || L::ReadBe64(it->key().data()) != i) {
        if (!it->status().ok()) return FromRocks(it->status(), "cannot read the entries to re-index");
        return Status::Corruption("entry " + std::to_string(i) + " is missing (re-indexing)");
      }
      L::EntryRecordView rv;
      if (!L::ParseEntryRecord(i, AsView(it->value()), &rv))
        return Status::Corruption("entry record " + std::to_string(i) + " is malformed (re-indexing)");
      if (!rv.key.empty()) keys += L::IndexKey(rv.key, i);
      ++i;
      if (i == to || i % 4096 == 0) {
        bool ingest;
        {
          std::lock_guard<std::mutex> lk(index_mu);
          if (index_stop) return Status::Unavailable("ledger is closing");
          AddPending(keys, i);
          ingest = pending_keys >= kIngestKeys;
        }
        index_cv.notify_all();
        keys.clear();
        if (ingest) MLAHUB_RETURN_IF_ERROR(Ingest());
      }
    }
    return Status::Ok();
  }

  // Sorts the pending keys into a table file with the watermark and
  // ingests it into the index family. Only the indexer changes `pending`,
  // so lookups keep reading it (under index_mu) until the file is in.
  Status Ingest() {
    uint64_t upto;
    // Sorted by their first 16 bytes as two big-endian integers (contiguous,
    // no pointer chasing), the whole key only on a tie: byte order.
    struct SortKey {
      uint64_t hi, lo;
      uint32_t at, len;
    };
    std::vector<SortKey> keys;
    {
      std::lock_guard<std::mutex> lk(index_mu);
      upto = indexed_size;
      keys.reserve(pending_keys);
      for (size_t at = 0; at < pending.size(); at += IndexKeyLength(pending.data() + at)) {
        const size_t len = IndexKeyLength(pending.data() + at);
        uint8_t b[16] = {};
        std::memcpy(b, pending.data() + at, std::min<size_t>(len, 16));
        uint64_t hi = 0, lo = 0;
        for (int k = 0; k < 8; ++k) {
          hi = hi << 8 | b[k];
          lo = lo << 8 | b[8 + k];
        }
        keys.push_back({hi, lo, static_cast<uint32_t>(at), static_cast<uint32_t>(len)});
      }
    }
    const char* base = pending.data();
    std::sort(keys.begin(), keys.end(), [base](const SortKey& a, const SortKey& b) {
      if (a.hi != b.hi) return a.hi < b.hi;
      if (a.lo != b.lo) return a.lo < b.lo;
      return std::string_view(base + a.at, a.len) < std::string_view(base + b.at, b.len);
    });
    std::string path = dir + "/index-ingest-" + std::to_string(upto) + ".sst";
    rocksdb::Options o(DbOptions(), CfOptions(L::kCfIndex));
    rocksdb::SstFileWriter w(rocksdb::EnvOptions(), o, cf_index);
    rocksdb::Status s = w.Open(path);
    // The watermark ("\0\0") sorts before every key.
    if (s.ok()) s = w.Put(AsSlice(L::kIndexWatermark), L::Be64(upto));
    for (size_t k = 0; s.ok() && k < keys.size(); ++k)
      s = w.Put(rocksdb::Slice(base + keys[k].at, keys[k].len), rocksdb::Slice());
    if (s.ok()) s = w.Finish();
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions io;
      io.move_files = true;
      s = db->IngestExternalFile(cf_index, {path}, io);
    }
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (!s.ok()) return FromRocks(s, "cannot add to the ledger index");
    {
      std::lock_guard<std::mutex> lk(index_mu);
      pending.clear();
      pending_keys = 0;
      ingested_size = upto;
    }
    index_cv.notify_all();
    return Status::Ok();
  }

  // Pending entries with this index prefix (BE16(len) || key).
  void PendingMatches(std::string_view prefix, std::vector<uint64_t>* out) const {
    for (size_t at = 0; at < pending.size();) {
      size_t len = IndexKeyLength(pending.data() + at);
      if (len == prefix.size() + 8 && std::string_view(pending.data() + at, prefix.size()) == prefix)
        out->push_back(L::ReadBe64(pending.data() + at + prefix.size()));
      at += len;
    }
  }

  // Entries in [from, to) whose record holds `key`, ascending: the part of a
  // lookup beyond the index watermark.
  Status ScanForKey(std::string_view key, uint64_t from, uint64_t to, std::vector<uint64_t>* out) const {
    if (from >= to) return Status::Ok();
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf_entries));
    it->Seek(L::Be64(from));
    for (uint64_t i = from; i < to; ++i, it->Next()) {
      if (!it->Valid() || it->key().size() != 8 || L::ReadBe64(it->key().data()) != i) {
        if (!it->status().ok()) return FromRocks(it->status(), "ledger read failed");
        return Status::Corruption("entry " + std::to_string(i) + " is missing");
      }
      L::EntryRecordView rv;
      if (!L::ParseEntryRecord(i, AsView(it->value()), &rv))
        return Status::Corruption("entry record " + std::to_string(i) + " is malformed");
      if (rv.key == key) out->push_back(i);
    }
    return Status::Ok();
  }

  VerifyReport Verify(const std::function<void(uint64_t, uint64_t)>& progress) const;

  void Enqueue(Pending p) {
    bool wake = false;
    {
      std::unique_lock<std::mutex> lk(mu);
      space_cv.wait(lk, [&] { return queued < options.max_pending_entries || closing; });
      Status refuse = closing ? Status::Unavailable("ledger is closing") : failed;
      if (!refuse.ok()) {
        lk.unlock();
        return p.callback(refuse, 0);
      }
      if (queued == 0) first_queued_at = std::chrono::steady_clock::now();
      // A deferrable entry wakes the builder only to set its timer (the
      // first one queued); a prompt one wakes it unless it is committing.
      bool prompt = !p.deferrable;
      queue.push_back(std::move(p));
      ++queued;
      if (prompt) ++queued_prompt;
      wake = (!slot_busy && (prompt || queued == 1)) || queued % kWakeChunk == 0;
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
  if (o.max_index_key_bytes > 0xffff) return Status::InvalidArgument("max_index_key_bytes is at most 65535");
  MLAHUB_RETURN_IF_ERROR(impl->CutBackTail());
  MLAHUB_RETURN_IF_ERROR(impl->LoadTail());
  MLAHUB_RETURN_IF_ERROR(impl->RestoreFrontier());
  impl->next_checkpoint_due = std::chrono::steady_clock::now();
  impl->StartUpperLoader();
  Impl* raw = impl.get();
  impl->index_catchup_to = impl->committed_size.load();
  {
    // Table files of an ingestion that a crash interrupted.
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec))
      if (f.path().filename().string().starts_with("index-ingest-")) std::filesystem::remove(f.path(), ec);
  }
  impl->indexer = std::thread([raw] {
    NameThread("ledger-index");
    raw->IndexerLoop();
  });
  impl->committer = std::thread([raw] {
    NameThread("ledger-commit");
    raw->CommitterLoop();
  });
  impl->builder = std::thread([raw] {
    NameThread("ledger-build");
    raw->BuilderLoop();
  });
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
  MLAHUB_RETURN_IF_ERROR(impl->LoadTail());
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
    impl_->StopIndexer();  // after writing every committed batch's keys
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
                         AppendCallback callback, Urgency urgency) {
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
  p.deferrable = urgency == Urgency::kDeferrable;
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
  L::EntryRecordView rv;
  L::ParseEntryRecord(index, v, &rv);
  return Bytes(rv.entry.begin(), rv.entry.end());
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
  L::EntryRecordView rv;
  if (!L::ParseEntryRecord(index, record, &rv))
    return Status::Corruption("entry record " + std::to_string(index) + " is malformed");
  p.leaf_hash = HashFrom(rv.leaf.data());
  p.entry.assign(rv.entry.begin(), rv.entry.end());
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
  // State records are mostly read once (a queued envelope on delivery, an
  // evidence chunk on forwarding): they bypass the block cache, which stays
  // for the proofs, and a large transfer does not grow the process.
  MLAHUB_ASSIGN_OR_RETURN(auto v, impl_->GetOpt(impl_->cf_state, key, /*fill_cache=*/false));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(Bytes(v->begin(), v->end()));
}

Status Ledger::ScanState(std::string_view prefix, std::string_view start,
                         const std::function<bool(std::string_view key, ByteView value)>& visit) const {
  if (impl_->db == nullptr) return Status::Unavailable("ledger is closed");
  if (impl_->cf_state == nullptr) return Status::Ok();
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // as GetState
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf_state));
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
  if (index_key.empty() || index_key.size() > 0xffff) return out;
  const Impl& m = *impl_;
  if (m.db == nullptr) return Status::Unavailable("ledger is closed");
  const uint64_t have = Size();
  uint64_t indexed;
  std::string prefix = L::IndexPrefix(index_key);
  std::vector<uint64_t> candidates;
  {
    // The writer's indexer takes the batches' keys after their commit (woken
    // every few batches, and at once for a reader here): wait until it has
    // the size committed now (unless it stopped; then the
    // rest is found by scanning the entry records, as a read-only view does
    // beyond its index watermark). Keys not yet ingested are in `pending`;
    // they leave it only once the index family has them, so reading
    // `pending` first and the family second misses nothing.
    std::unique_lock<std::mutex> lk(m.index_mu);
    if (!m.read_only && m.indexed_size < have) {
      ++m.index_wanted;  // the committer wakes the indexer only every few batches otherwise
      m.index_cv.notify_all();
      m.index_cv.wait(lk, [&] { return m.indexed_size >= have || !m.index_failed.ok() || m.index_stop; });
      --m.index_wanted;
    }
    indexed = std::min(m.indexed_size, have);
    m.PendingMatches(prefix, &candidates);
  }
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf_index));
  for (it->Seek(L::IndexKey(index_key, 0)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    candidates.push_back(L::ReadBe64(it->key().data() + prefix.size()));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "ledger read failed");
  it.reset();
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  candidates.erase(std::lower_bound(candidates.begin(), candidates.end(), indexed), candidates.end());
  // The index is derived data: serve only entries whose own record holds
  // the key (a stray or altered index key is never served).
  if (!candidates.empty()) {
    std::vector<std::string> keys;
    std::vector<rocksdb::Slice> slices;
    keys.reserve(candidates.size());
    for (uint64_t i : candidates) keys.push_back(L::Be64(i));
    for (const auto& k : keys) slices.emplace_back(k);
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    m.db->MultiGet(rocksdb::ReadOptions(), m.cf_entries, keys.size(), slices.data(), values.data(),
                   statuses.data(), /*sorted_input=*/true);
    for (size_t j = 0; j < candidates.size(); ++j) {
      if (statuses[j].IsNotFound())
        return Status::Corruption("entry " + std::to_string(candidates[j]) + " is missing");
      if (!statuses[j].ok()) return FromRocks(statuses[j], "ledger read failed");
      L::EntryRecordView rv;
      if (!L::ParseEntryRecord(candidates[j], AsView(values[j]), &rv))
        return Status::Corruption("entry record " + std::to_string(candidates[j]) + " is malformed");
      if (rv.key == index_key) out.push_back(candidates[j]);
    }
  }
  MLAHUB_RETURN_IF_ERROR(m.ScanForKey(index_key, indexed, have, &out));
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

  // The writer's indexer keeps writing: compare the index as of one
  // snapshot (a read-only view does not change).
  struct SnapshotGuard {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snap;
    ~SnapshotGuard() {
      if (snap != nullptr) db->ReleaseSnapshot(snap);
    }
  } snapshot{db, read_only ? nullptr : db->GetSnapshot()};

  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  // RocksDB's automatic readahead (up to 256 KiB per open file): a fixed
  // readahead is allocated for every L0 file at once and would make memory
  // grow with the number of files.
  ro.readahead_size = 0;
  ro.verify_checksums = true;
  ro.snapshot = snapshot.snap;

  // The index holds the keys of entries [0, indexed): the watermark written
  // with them.
  uint64_t indexed = 0;
  {
    std::string mark;
    rocksdb::Status s = db->Get(ro, cf_index, AsSlice(L::kIndexWatermark), &mark);
    if (s.ok()) {
      if (mark.size() != 8) {
        r.status = Status::Corruption("the message-id index watermark is malformed");
        return r;
      }
      indexed = L::ReadBe64(mark.data());
    } else if (!s.IsNotFound()) {
      r.status = FromRocks(s, "ledger read failed");
      return r;
    }
    if (indexed > size) {
      r.status = Status::Corruption("the message-id index claims " + std::to_string(indexed) +
                                    " entries, beyond the committed size " + std::to_string(size));
      return r;
    }
  }
  // Both sides of the index comparison as a multiset digest: the sums of
  // two keyed short hashes (crypto::ShortHash, SipHash-2-4) under fresh
  // random keys, and the count.
  crypto::ShortHashKey k1, k2;
  crypto::RandomBytes(k1.data(), k1.size());
  crypto::RandomBytes(k2.data(), k2.size());
  struct Digest {
    uint64_t a = 0, b = 0, n = 0;
    bool operator==(const Digest&) const = default;
  };
  std::string item;
  auto add = [&](Digest& d, std::string_view key, uint64_t i) {
    item.clear();
    item.push_back(static_cast<char>(key.size() >> 8));
    item.push_back(static_cast<char>(key.size() & 0xff));
    item.append(key);
    for (int b = 0; b < 8; ++b) item.push_back(static_cast<char>(i >> (56 - 8 * b)));
    const ByteView v(reinterpret_cast<const uint8_t*>(item.data()), item.size());
    d.a += crypto::ShortHash(k1, v);
    d.b += crypto::ShortHash(k2, v);
    ++d.n;
  };
  Digest from_entries, from_index;

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
  auto stored_hash_differs = [&](uint64_t i, const NodePos& pos) {
    return bad_entry(i, "stored hash of " + Range(pos.begin(), pos.end()) + " (level " +
                            std::to_string(pos.level) + ") does not match the recomputed one");
  };
  // The recomputed nodes of levels 1..4 of the current block of 32 leaves.
  BlockNodes block_buf{};
  std::array<NodePos, L::kBlockNodes> block_pos{};
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
    L::EntryRecordView rv;
    if (!L::ParseEntryRecord(i, AsView(eit->value()), &rv)) return bad_entry(i, "record is malformed");
    Hash leaf = HashLeaf(ByteView(reinterpret_cast<const uint8_t*>(rv.entry.data()), rv.entry.size()));
    if (leaf != HashFrom(rv.leaf.data())) return bad_entry(i, "entry bytes do not match the stored leaf hash");
    done.clear();
    f.Append(leaf, [&](const NodePos& p, const Hash& h) { done.push_back({p, h}); });
    for (const Done& d : done) {
      if (d.pos.level >= kMemLevel) continue;
      block_buf[L::NodeSlot(d.pos.level, d.pos.index)] = d.hash;
      block_pos[L::NodeSlot(d.pos.level, d.pos.index)] = d.pos;
    }
    // The `nodes` record of a block's last leaf: the block's 30 nodes, then
    // the levels >= 5 this leaf completes.
    if (nit->Valid() && nit->key().size() == 8 && L::ReadBe64(nit->key().data()) < i)
      return bad_entry(L::ReadBe64(nit->key().data()), "node record where none belongs");
    bool has_record = nit->Valid() && nit->key().size() == 8 && L::ReadBe64(nit->key().data()) == i;
    if (L::HasNodesRecord(i)) {
      if (!has_record) return bad_entry(i, "node hashes of the block ending here are missing");
      rocksdb::Slice nv = nit->value();
      if (nv.size() != L::NodesRecordHashes(i) * kHashSize) return bad_entry(i, "node record has the wrong length");
      for (size_t k = 0; k < L::kBlockNodes; ++k)
        if (HashFrom(nv.data() + k * kHashSize) != block_buf[k]) return stored_hash_differs(i, block_pos[k]);
      for (const Done& d : done) {
        if (d.pos.level < kMemLevel) continue;
        if (HashFrom(nv.data() + L::NodeSlot(d.pos.level, d.pos.index) * kHashSize) != d.hash)
          return stored_hash_differs(i, d.pos);
      }
      nit->Next();
    } else if (has_record) {
      return bad_entry(i, "node record where none belongs");
    }
    if (i < indexed && !rv.key.empty()) add(from_entries, rv.key, i);
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
  eit.reset();
  nit.reset();
  cit.reset();

  // The message-id index is derived from the index keys in the entry
  // records: for the indexed entries it must hold exactly those keys.
  rocksdb::ReadOptions all = ro;
  all.total_order_seek = true;
  {
    std::unique_ptr<rocksdb::Iterator> xit(db->NewIterator(all, cf_index));
    for (xit->SeekToFirst(); xit->Valid(); xit->Next()) {
      std::string_view k = AsView(xit->key());
      if (k == L::kIndexWatermark) continue;
      std::string_view key;
      uint64_t i = 0;
      if (!L::ParseIndexKey(k, &key, &i)) {
        r.status = Status::Corruption("malformed index key");
        return r;
      }
      if (i >= size) return bad_entry(i, "index key points beyond the committed size");
      if (i >= indexed)
        return bad_entry(i, "index key beyond the index watermark " + std::to_string(indexed));
      add(from_index, key, i);
    }
    if (!xit->status().ok()) {
      r.status = FromRocks(xit->status(), "ledger read failed");
      return r;
    }
  }
  if (!(from_entries == from_index)) {
    // Name the first entry the index gets wrong: one whose key is missing,
    // else the lowest entry that an index key wrongly points at.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf_entries));
    it->SeekToFirst();
    for (uint64_t i = 0; i < indexed && it->Valid(); ++i, it->Next()) {
      L::EntryRecordView rv;
      if (!L::ParseEntryRecord(i, AsView(it->value()), &rv) || rv.key.empty()) continue;
      std::string v;
      rocksdb::Status st = db->Get(ro, cf_index, L::IndexKey(rv.key, i), &v);
      if (st.IsNotFound()) return bad_entry(i, "its index key is missing from the message-id index");
      if (!st.ok()) {
        r.status = FromRocks(st, "ledger read failed");
        return r;
      }
    }
    std::optional<uint64_t> first;
    std::unique_ptr<rocksdb::Iterator> xit(db->NewIterator(all, cf_index));
    for (xit->SeekToFirst(); xit->Valid(); xit->Next()) {
      std::string_view key;
      uint64_t i = 0;
      if (!L::ParseIndexKey(AsView(xit->key()), &key, &i)) continue;
      std::string v;
      L::EntryRecordView rv;
      rocksdb::Status st = db->Get(ro, cf_entries, L::Be64(i), &v);
      if (!st.ok() || !L::ParseEntryRecord(i, v, &rv) || rv.key != key) first = std::min(first.value_or(i), i);
    }
    if (first) return bad_entry(*first, "the message-id index lists it under a key its record does not hold");
    r.status = Status::Corruption("the message-id index does not match the index keys of the entries");
    return r;
  }
  if (progress) progress(size, size);
  return r;
}

}  // namespace mlahub::storage
