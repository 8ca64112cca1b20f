// EventStore on RocksDB. The only file that includes RocksDB headers.
#include "core/event_store.h"
#include "core/derived_keys.h"
#include "core/store_id.h"
#include "core/store_memory.h"
#include "core/thread_annotations.h"

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>

#include <rocksdb/db.h>
#include <rocksdb/write_buffer_manager.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

namespace callrec::core {
namespace {

namespace fs = std::filesystem;

constexpr char kEventsCf[] = "events";
constexpr char kDedupeCf[] = "dedupe";
constexpr char kIntakeIndexCf[] = "intake_index";
constexpr char kMetaCf[] = "meta";
constexpr char kDerivedPrefix[] = "derived.";
constexpr char kActiveDerivedKey[] = "active_derived";
constexpr char kStoreIdKey[] = "store_id";

// The seq as 8 big-endian bytes (core/derived_keys.h): iteration order is seq order.
std::string SeqKey(uint64_t seq) { return keys::Be64(seq); }
uint64_t DecodeSeqKey(std::string_view k) { return keys::DecodeBe64(k); }

std::string IntakeIndexPrefix(std::string_view intake_id) {
  std::string k;
  k.push_back(char(uint8_t(intake_id.size())));
  k.append(intake_id);
  return k;
}

std::string DerivedCfName(uint64_t generation) { return kDerivedPrefix + std::to_string(generation); }

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::Unavailable(msg);  // I/O errors, busy, incomplete: worth a retry
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Read options for a scan of the keys that start with a prefix. The upper bound (the first key
// after all of them) lets RocksDB stop at the prefix's end instead of reading the next block, or
// opening the next file, only to find a key that does not match: a timeline's scans are that short.
class PrefixScanOptions {
 public:
  explicit PrefixScanOptions(std::string_view prefix) : upper_(prefix) {
    while (!upper_.empty() && static_cast<unsigned char>(upper_.back()) == 0xff) upper_.pop_back();
    if (upper_.empty()) return;  // no key follows every key with this prefix: no bound
    upper_.back() = static_cast<char>(static_cast<unsigned char>(upper_.back()) + 1);
    upper_slice_ = rocksdb::Slice(upper_);
    options_.iterate_upper_bound = &upper_slice_;
  }
  PrefixScanOptions(const PrefixScanOptions&) = delete;
  PrefixScanOptions& operator=(const PrefixScanOptions&) = delete;
  const rocksdb::ReadOptions& get() const { return options_; }

 private:
  std::string upper_;
  rocksdb::Slice upper_slice_;
  rocksdb::ReadOptions options_;
};

// All tuning lives here and in CfOptions; the header explains the choices.
rocksdb::DBOptions BaseOptions() {
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.max_background_jobs = 2;  // the target machine has 2 cores
  o.keep_log_file_num = 5;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

// `bulk`: a rebuild's new derived generation (BeginRebuild), written all at once and flushed
// before it is used: RocksDB's defaults (big L0 files, one big L1) load it fastest; CommitRebuild
// then switches it to the steady-state sizes below (SteadyStateSizes).
rocksdb::ColumnFamilyOptions CfOptions(const std::string& name, const std::shared_ptr<rocksdb::Cache>& cache,
                                       bool bulk = false) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  o.compression = rocksdb::kLZ4Compression;
  // Compaction at steady state (docs/PERFORMANCE.md): memtables are small (kStoreMemtableBytes for
  // all families), so L0 files are a few hundred KB. A family with random keys (idempotency keys,
  // intake ids, derived data) had everything in L1 (RocksDB's L1 holds up to 256 MiB), and every
  // L0 -> L1 compaction rewrote all of it: on a 1M-event store 100+ MB of derived data for 0.3 MB
  // of new data (write amplification 45-780x), a quarter more CPU per webhook than on a fresh store.
  // Now L1 holds at most 32 MiB in 8 MiB files and the bulk sits below it (10x per level), where a
  // compaction rewrites a slice. Each family also flushes at its own memtable size, together under
  // the WriteBufferManager's bound: when the manager must pick, it flushes the family with the
  // OLDEST memtable, a quiet one, into an even smaller file.
  const bool events = name == kEventsCf;
  if (!bulk)
    o.write_buffer_size = events             ? kStoreMemtableBytes / 4
                          : name == kMetaCf ? kStoreMemtableBytes / 16
                                            : kStoreMemtableBytes / 8;
  if (events) {
    t.block_size = 16 << 10;  // appended in seq order: new L0 files overlap nothing below them
  } else {
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
    t.whole_key_filtering = true;
    if (!bulk) {
      o.max_bytes_for_level_base = 32 << 20;
      o.target_file_size_base = 8 << 20;
    }
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// CfOptions' sizes for `name` as DB::SetOptions takes them (all three are mutable options).
std::unordered_map<std::string, std::string> SteadyStateSizes(const std::string& name) {
  rocksdb::ColumnFamilyOptions o = CfOptions(name, nullptr);
  return {{"write_buffer_size", std::to_string(o.write_buffer_size)},
          {"max_bytes_for_level_base", std::to_string(o.max_bytes_for_level_base)},
          {"target_file_size_base", std::to_string(o.target_file_size_base)}};
}

class RocksEventStore;

class RocksDerivedRebuild final : public DerivedRebuild {
 public:
  RocksDerivedRebuild(RocksEventStore& store, rocksdb::ColumnFamilyHandle* cf, uint64_t generation)
      : store_(store), cf_(cf), generation_(generation) {}
  ~RocksDerivedRebuild() override;
  Status Write(const DerivedBatch& batch) override;
  Status Commit() override;

 private:
  RocksEventStore& store_;
  rocksdb::ColumnFamilyHandle* cf_;
  uint64_t generation_;
  bool committed_ = false;
};

class RocksEventStore final : public EventStore {
 public:
  RocksEventStore(std::string dir, Clock* clock, bool reader, std::string secondary_dir)
      : dir_(std::move(dir)), clock_(clock), reader_(reader), secondary_dir_(std::move(secondary_dir)) {}

  ~RocksEventStore() override {
    if (db_) {
      for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      handles_.clear();
      db_->Close().PermitUncheckedError();
      delete db_;
    }
    if (!secondary_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(secondary_dir_, ec);
    }
  }

  Status OpenDb() {
    rocksdb::DBOptions db_options = BaseOptions();
    // Four shards, not RocksDB's 64 of 512 KiB: the memtables' reservation is made of pinned
    // 256 KiB entries, and two of them in a 512 KiB shard leave no room to evict into, so the
    // cache went past its bound (StoreMemory test). Two cores need no more shards than this.
    cache_ = rocksdb::NewLRUCache(kStoreCacheBytes, /*num_shard_bits=*/2);
    // Memtables (all families) are charged to the same cache and flush past kStoreMemtableBytes of
    // it: RocksDB's memory has one bound however many events arrive (store_memory.h; RocksDB's
    // default is 64 MiB of memtable per family, on top).
    db_options.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(kStoreMemtableBytes, cache_);
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, dir_, &names);
    if (!s.ok()) {
      if (reader_) return Status::NotFound("no callrec store in " + dir_ + " (" + s.ToString() + ")");
      names = {rocksdb::kDefaultColumnFamilyName};
    }
    for (const char* required : {kEventsCf, kDedupeCf, kIntakeIndexCf, kMetaCf})
      if (std::find(names.begin(), names.end(), required) == names.end()) {
        if (reader_) return Status::Corruption("store " + dir_ + " lacks column family " + required);
        names.push_back(required);
      }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, CfOptions(n, cache_));
    if (reader_) {
      db_options.max_open_files = -1;  // required by secondary instances
      s = rocksdb::DB::OpenAsSecondary(db_options, dir_, secondary_dir_, descriptors, &handles_, &db_);
    } else {
      s = rocksdb::DB::Open(db_options, dir_, descriptors, &handles_, &db_);
    }
    if (!s.ok()) {
      if (s.ToString().find("LOCK") != std::string::npos || s.ToString().find("lock") != std::string::npos)
        return Status::FailedPrecondition("store " + dir_ +
                                          " is in use by another process (is `callrec serve` running?)");
      return FromRocks(s, "open " + dir_);
    }
    for (size_t i = 0; i < names.size(); ++i) by_name_[names[i]] = handles_[i];
    events_ = by_name_[kEventsCf];
    dedupe_ = by_name_[kDedupeCf];
    intake_index_ = by_name_[kIntakeIndexCf];
    meta_ = by_name_[kMetaCf];
    CALLREC_RETURN_IF_ERROR(SelectDerivedGeneration());
    CALLREC_RETURN_IF_ERROR(LoadStoreId());
    RefreshLastSeq();
    return Status::Ok();
  }

  // Reads the store id; the primary makes it (synced) when the store has none yet.
  Status LoadStoreId() {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, kStoreIdKey, &value);
    if (s.ok()) {
      MutexLock lock(store_id_mu_);
      store_id_ = value;
      return Status::Ok();
    }
    if (!s.IsNotFound()) return FromRocks(s, "read store id");
    if (reader_) return Status::Ok();
    std::random_device random;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 8; ++i) {
      uint32_t word = random();
      for (int j = 0; j < 4; ++j) id.push_back(kHex[(word >> (4 * j)) & 0xF]);
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    CALLREC_RETURN_IF_ERROR(FromRocks(db_->Put(wo, meta_, kStoreIdKey, id), "write store id"));
    MutexLock lock(store_id_mu_);
    store_id_ = id;
    return Status::Ok();
  }

  std::string store_id() const {
    MutexLock lock(store_id_mu_);
    return store_id_;
  }

  // ---- appends --------------------------------------------------------------------------

  Result<AppendResult> Append(Event event, Durability durability) override {
    std::vector<Event> one;
    one.push_back(std::move(event));
    CALLREC_ASSIGN_OR_RETURN(auto results, AppendAll(std::move(one), durability));
    return results[0];
  }

  Result<std::vector<AppendResult>> AppendAll(std::vector<Event> events,
                                              Durability durability) override {
    if (reader_) return Status::FailedPrecondition("store opened for reading only");
    CALLREC_RETURN_IF_ERROR(CheckIntakeIds(events));
    for (auto& e : events)
      if (e.recorded_at_ms == 0) e.recorded_at_ms = clock_->WallMillis();
    Writer w;
    w.events = &events;
    w.sync = durability == Durability::kSync;
    MutexLock lock(mu_);
    writers_.push_back(&w);
    while (!w.done && &w != writers_.front()) w.cv.wait(lock);
    if (w.done) {
      if (!w.status.ok()) return w.status;
      return std::move(w.results);
    }
    LeadGroup();
    if (!w.status.ok()) return w.status;
    return std::move(w.results);
  }

  uint64_t LastSeq() const override { return last_seq_.load(std::memory_order_acquire); }

  uint64_t WaitForAppend(uint64_t after_seq, std::chrono::milliseconds timeout) override {
    MutexLock lock(append_mu_);
    append_cv_.wait_for(lock, timeout, [&] { return LastSeq() > after_seq; });
    return LastSeq();
  }

  // ---- reads ----------------------------------------------------------------------------

  Result<Event> Read(uint64_t seq) override {
    // A point read of an old event (a timeline, an audit) is rarely read again soon; putting its
    // 16 KiB block into the cache would evict the index and derived blocks every request needs.
    // A block already cached (a recent event) is still used.
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::string value;
    rocksdb::Status s = db_->Get(ro, events_, SeqKey(seq), &value);
    if (s.IsNotFound()) return Status::NotFound("no event with seq " + std::to_string(seq));
    CALLREC_RETURN_IF_ERROR(FromRocks(s, "read event"));
    auto decoded = DecodeEventRecord(value);
    if (!decoded.ok())
      return Status::Corruption("seq " + std::to_string(seq) + ": " + decoded.status().message());
    return decoded;
  }

  Status ForEachFrom(uint64_t from_seq, const std::function<bool(const Event&)>& visit) override {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a full scan would evict the hot blocks
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
    for (it->Seek(SeqKey(std::max<uint64_t>(from_seq, 1))); it->Valid(); it->Next()) {
      auto decoded = DecodeEventRecord(ToView(it->value()));
      if (!decoded.ok())
        return Status::Corruption("seq " + std::to_string(DecodeSeqKey(ToView(it->key()))) + ": " +
                                  decoded.status().message());
      if (!visit(*decoded)) return Status::Ok();
    }
    return FromRocks(it->status(), "scan events");
  }

  Status ForEachOfIntake(std::string_view intake_id,
                         const std::function<bool(const Event&)>& visit) override {
    if (intake_id.empty() || intake_id.size() > kMaxIntakeIdBytes) return Status::Ok();
    std::string prefix = IntakeIndexPrefix(intake_id);
    PrefixScanOptions ro(prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro.get(), intake_index_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != prefix.size() + 8) continue;
      uint64_t seq = DecodeSeqKey(ToView(it->key()).substr(prefix.size()));
      CALLREC_ASSIGN_OR_RETURN(Event e, Read(seq));
      if (!visit(e)) return Status::Ok();
    }
    return FromRocks(it->status(), "scan intake index");
  }

  Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), dedupe_, ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<uint64_t>();
    CALLREC_RETURN_IF_ERROR(FromRocks(s, "read idempotency key"));
    return std::optional<uint64_t>(DecodeSeqKey(value));
  }

  // ---- derived data ---------------------------------------------------------------------

  Result<std::optional<std::string>> GetDerived(std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), derived_, ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    CALLREC_RETURN_IF_ERROR(FromRocks(s, "read derived"));
    return std::optional<std::string>(std::move(value));
  }

  Status ScanDerived(std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return ScanDerivedFrom(prefix, prefix, visit);
  }

  Status ScanDerivedFrom(std::string_view prefix, std::string_view start,
                         const std::function<bool(std::string_view, std::string_view)>& visit) override {
    PrefixScanOptions ro(prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro.get(), derived_));
    for (it->Seek(ToSlice(std::max(prefix, start))); it->Valid() && it->key().starts_with(ToSlice(prefix)); it->Next())
      if (!visit(ToView(it->key()), ToView(it->value()))) return Status::Ok();
    return FromRocks(it->status(), "scan derived");
  }

  Status WriteDerived(const DerivedBatch& batch) override {
    if (reader_) return Status::FailedPrecondition("store opened for reading only");
    return WriteDerivedTo(derived_, batch);
  }

  // `logged`: through the write-ahead log. A rebuild's writes need none: CommitRebuild flushes
  // them to SST files before the generation pointer moves, and a crash before that drops the
  // whole generation at the next open (it was a tenth of `callrec replay`'s time).
  Status WriteDerivedTo(rocksdb::ColumnFamilyHandle* cf, const DerivedBatch& batch, bool logged = true) {
    rocksdb::WriteBatch wb;
    for (const auto& op : batch.ops()) {
      rocksdb::Status s = op.is_delete ? wb.Delete(cf, op.key) : wb.Put(cf, op.key, op.value);
      CALLREC_RETURN_IF_ERROR(FromRocks(s, "build derived batch"));
    }
    rocksdb::WriteOptions wo;
    wo.sync = false;  // derivable from the log: a crash only means re-applying a few events
    wo.disableWAL = !logged;
    return FromRocks(db_->Write(wo, &wb), "write derived");
  }

  Result<std::unique_ptr<DerivedRebuild>> BeginRebuild() override {
    if (reader_) return Status::FailedPrecondition("store opened for reading only");
    uint64_t generation = derived_generation_ + 1;
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    std::string name = DerivedCfName(generation);
    CALLREC_RETURN_IF_ERROR(
        FromRocks(db_->CreateColumnFamily(CfOptions(name, cache_, /*bulk=*/true), name, &cf), "create " + name));
    return std::unique_ptr<DerivedRebuild>(new RocksDerivedRebuild(*this, cf, generation));
  }

  // Makes `cf` the active derived generation: data flushed to SST, then the pointer written
  // with sync, then the old generation dropped. A crash before the pointer write leaves the old
  // generation active and the new one is dropped at the next open.
  Status CommitRebuild(rocksdb::ColumnFamilyHandle* cf, uint64_t generation) {
    CALLREC_RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions(), cf), "flush rebuild"));
    CALLREC_RETURN_IF_ERROR(FromRocks(db_->SetOptions(cf, SteadyStateSizes(cf->GetName())), "size " + cf->GetName()));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    CALLREC_RETURN_IF_ERROR(FromRocks(
        db_->Put(wo, meta_, kActiveDerivedKey, std::to_string(generation)), "switch generation"));
    rocksdb::ColumnFamilyHandle* old = derived_;
    derived_ = cf;
    derived_generation_ = generation;
    by_name_[cf->GetName()] = cf;
    handles_.push_back(cf);
    DropCf(old);
    return Status::Ok();
  }

  void DropCf(rocksdb::ColumnFamilyHandle* cf) {
    // Best effort: a generation that fails to drop is dropped again at the next open.
    db_->DropColumnFamily(cf).PermitUncheckedError();
    by_name_.erase(cf->GetName());
    handles_.erase(std::remove(handles_.begin(), handles_.end(), cf), handles_.end());
    db_->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
  }

  Status CatchUp() override {
    if (!reader_) return Status::Ok();
    CALLREC_RETURN_IF_ERROR(FromRocks(db_->TryCatchUpWithPrimary(), "catch up with primary"));
    CALLREC_RETURN_IF_ERROR(SelectDerivedGeneration());
    if (store_id().empty()) CALLREC_RETURN_IF_ERROR(LoadStoreId());
    RefreshLastSeq();
    return Status::Ok();
  }

  Result<CheckReport> Check() override;

  const std::string& dir() const override { return dir_; }

  Status CorruptRecordForTest(uint64_t seq, size_t byte_offset) override {
    std::string value;
    CALLREC_RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), events_, SeqKey(seq), &value),
                                      "read for corruption"));
    if (byte_offset >= value.size()) return Status::InvalidArgument("offset past the record");
    value[byte_offset] = char(value[byte_offset] ^ 0xFF);
    return FromRocks(db_->Put(rocksdb::WriteOptions(), events_, SeqKey(seq), value), "corrupt");
  }

  // Thread-safe: the cache and the DB-wide properties (summed over every column family).
  StoreMemory Memory() const {
    StoreMemory m;
    m.cache = cache_->GetUsage();
    uint64_t v = 0;
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) m.memtables = v;
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &v)) m.table_readers = v;
    return m;
  }

  rocksdb::DB* db() { return db_; }

 private:
  struct Writer {
    std::vector<Event>* events = nullptr;
    std::vector<AppendResult> results;
    bool sync = true;
    bool done = false;
    Status status;
    std::condition_variable_any cv;  // waits on the store's mu_
  };

  // Phase 1 (locked): take every queued writer up to kMaxGroupCommitBytes. Phase 2 (unlocked): check
  // idempotency keys, assign seqs and write one batch; only the leader touches next_seq_, so no
  // lock is needed and new writers keep queueing during the fsync. Phase 3 (locked): hand each
  // writer its results and wake the next leader.
  void LeadGroup() REQUIRES(mu_) {
    std::vector<Writer*> group;
    size_t bytes = 0;
    bool sync = false;
    for (Writer* w : writers_) {
      size_t wbytes = 0;
      for (const auto& e : *w->events) wbytes += GroupCommitBytes(e);
      if (!group.empty() && bytes + wbytes > kMaxGroupCommitBytes) break;
      group.push_back(w);
      bytes += wbytes;
      sync = sync || w->sync;
    }
    mu_.Unlock();

    Status status = WriteGroup(group, sync);

    mu_.Lock();
    for (Writer* w : group) {
      writers_.pop_front();
      if (!status.ok()) w->status = status;
      w->done = true;
      if (w != group.front()) w->cv.notify_one();
    }
    if (!writers_.empty()) writers_.front()->cv.notify_one();
  }

  Status WriteGroup(const std::vector<Writer*>& group, bool sync) {
    uint64_t first_seq = next_seq_;
    rocksdb::WriteBatch batch;
    std::map<std::string, uint64_t, std::less<>> keys_in_group;
    for (Writer* w : group) {
      w->results.clear();
      for (Event& e : *w->events) {
        if (!e.idempotency_key.empty()) {
          std::optional<uint64_t> existing;
          if (auto it = keys_in_group.find(e.idempotency_key); it != keys_in_group.end()) {
            existing = it->second;
          } else {
            auto found = FindIdempotencyKey(e.idempotency_key);
            if (!found.ok()) {
              next_seq_ = first_seq;
              return found.status();
            }
            existing = *found;
          }
          if (existing) {
            w->results.push_back({*existing, true});
            continue;
          }
        }
        e.seq = next_seq_++;
        std::string key = SeqKey(e.seq);
        batch.Put(events_, key, EncodeEventRecord(e)).PermitUncheckedError();
        if (!e.intake_id.empty())
          batch.Put(intake_index_, IntakeIndexPrefix(e.intake_id) + key, "").PermitUncheckedError();
        if (!e.idempotency_key.empty()) {
          batch.Put(dedupe_, e.idempotency_key, key).PermitUncheckedError();
          keys_in_group.emplace(e.idempotency_key, e.seq);
        }
        w->results.push_back({e.seq, false});
      }
    }
    if (batch.Count() == 0) return Status::Ok();
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    Status s = FromRocks(db_->Write(wo, &batch), "append");
    if (!s.ok()) {
      next_seq_ = first_seq;  // nothing of this group was written: the seqs are free again
      return s;
    }
    {
      MutexLock lock(append_mu_);
      last_seq_.store(next_seq_ - 1, std::memory_order_release);
    }
    append_cv_.notify_all();
    return Status::Ok();
  }

  void RefreshLastSeq() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), events_));
    it->SeekToLast();
    uint64_t last = it->Valid() ? DecodeSeqKey(ToView(it->key())) : 0;
    last_seq_.store(last, std::memory_order_release);
    next_seq_ = last + 1;
  }

  // Reads which derived generation is active; the primary creates it when missing and drops
  // generations a crashed rebuild left behind.
  Status SelectDerivedGeneration() {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, kActiveDerivedKey, &value);
    uint64_t generation = 1;
    if (s.ok()) generation = std::strtoull(value.c_str(), nullptr, 10);
    else if (!s.IsNotFound()) return FromRocks(s, "read active generation");
    std::string active = DerivedCfName(generation);
    if (!reader_) {
      std::vector<rocksdb::ColumnFamilyHandle*> stale;
      for (auto& [name, h] : by_name_)
        if (name.rfind(kDerivedPrefix, 0) == 0 && name != active) stale.push_back(h);
      for (auto* h : stale) DropCf(h);
      if (!by_name_.count(active)) {
        rocksdb::ColumnFamilyHandle* h = nullptr;
        CALLREC_RETURN_IF_ERROR(
            FromRocks(db_->CreateColumnFamily(CfOptions(active, cache_), active, &h), "create " + active));
        by_name_[active] = h;
        handles_.push_back(h);
      }
    }
    auto it = by_name_.find(active);
    if (it == by_name_.end()) return Status::Corruption("derived generation " + active + " missing");
    derived_ = it->second;
    derived_generation_ = generation;
    return Status::Ok();
  }

  std::string dir_;
  Clock* clock_;
  bool reader_;
  std::string secondary_dir_;
  rocksdb::DB* db_ = nullptr;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* dedupe_ = nullptr;
  rocksdb::ColumnFamilyHandle* intake_index_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* derived_ = nullptr;
  uint64_t derived_generation_ = 1;
  mutable Mutex store_id_mu_;  // a reader's CatchUp may fill store_id_ while others read it
  std::string store_id_ GUARDED_BY(store_id_mu_);

  Mutex mu_;  // also guards each queued Writer's done/status/results hand-off
  std::deque<Writer*> writers_ GUARDED_BY(mu_);  // front is the leader
  uint64_t next_seq_ = 1;         // touched only by the current leader (and at open)
  std::atomic<uint64_t> last_seq_{0};
  Mutex append_mu_;  // pairs with append_cv_ for WaitForAppend
  std::condition_variable_any append_cv_;

  friend class RocksDerivedRebuild;
  friend Result<CheckReport> CheckStore(RocksEventStore&);
};

RocksDerivedRebuild::~RocksDerivedRebuild() {
  if (!committed_) store_.DropCf(cf_);
}

Status RocksDerivedRebuild::Write(const DerivedBatch& batch) {
  return store_.WriteDerivedTo(cf_, batch, /*logged=*/false);
}

Status RocksDerivedRebuild::Commit() {
  if (committed_) return Status::FailedPrecondition("rebuild already committed");
  CALLREC_RETURN_IF_ERROR(store_.CommitRebuild(cf_, generation_));
  committed_ = true;
  return Status::Ok();
}


// Three passes: the log itself, then each index against the log.
Result<CheckReport> CheckStore(RocksEventStore& store) {
  CheckReport report;
  rocksdb::DB* db = store.db_;
  auto fail = [&](uint64_t seq, std::string problem) {
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  uint64_t expected = 1;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, store.events_));
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
      if (it->key().size() != 8) return fail(expected, "malformed event key");
      uint64_t seq = DecodeSeqKey(ToView(it->key()));
      if (seq != expected)
        return fail(expected, "seq " + std::to_string(expected) + " is missing (next stored is " +
                                  std::to_string(seq) + ")");
      auto e = DecodeEventRecord(ToView(it->value()));
      if (!e.ok()) return fail(seq, e.status().message());
      if (e->seq != seq) return fail(seq, "record says seq " + std::to_string(e->seq));
      std::string v;
      if (!e->intake_id.empty() &&
          !db->Get(ro, store.intake_index_, IntakeIndexPrefix(e->intake_id) + SeqKey(seq), &v).ok())
        return fail(seq, "intake index lacks the entry for intake " + e->intake_id);
      if (!e->idempotency_key.empty()) {
        if (!db->Get(ro, store.dedupe_, e->idempotency_key, &v).ok() || DecodeSeqKey(v) != seq)
          return fail(seq, "idempotency index does not point at this event");
      }
      ++report.events;
    }
    if (!it->status().ok())
      return fail(expected, "storage error reading seq " + std::to_string(expected) + ": " +
                                it->status().ToString());
  }
  uint64_t last = expected - 1;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, store.intake_index_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view k = ToView(it->key());
      size_t len = k.empty() ? 0 : uint8_t(k[0]);
      if (k.size() != 1 + len + 8) return fail(0, "malformed intake index key");
      uint64_t seq = DecodeSeqKey(k.substr(1 + len));
      std::string_view id = k.substr(1, len);
      if (seq == 0 || seq > last)
        return fail(seq, "intake index names seq " + std::to_string(seq) + " which is not in the log");
      auto e = store.Read(seq);
      if (!e.ok() || e->intake_id != id)
        return fail(seq, "intake index puts seq " + std::to_string(seq) + " under intake " +
                             std::string(id) + " but the event says otherwise");
    }
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, store.dedupe_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t seq = DecodeSeqKey(ToView(it->value()));
      auto e = store.Read(seq);
      if (!e.ok() || e->idempotency_key != ToView(it->key()))
        return fail(seq, "idempotency key '" + it->key().ToString() + "' points at seq " +
                             std::to_string(seq) + " which does not carry it");
    }
  }
  return report;
}

Result<CheckReport> RocksEventStore::Check() { return CheckStore(*this); }

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::Open(const std::string& dir, Clock& clock) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::FailedPrecondition("cannot create store directory " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);  // patient data: owner only
  auto store = std::make_unique<RocksEventStore>(dir, &clock, false, "");
  CALLREC_RETURN_IF_ERROR(store->OpenDb());
  return std::unique_ptr<EventStore>(std::move(store));
}

Result<std::unique_ptr<EventStore>> EventStore::OpenReader(const std::string& dir) {
  if (!fs::exists(fs::path(dir) / "CURRENT")) return Status::NotFound("no callrec store in " + dir);
  std::string tmpl = (fs::temp_directory_path() / "callrec-reader-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    return Status::Unavailable("cannot create a temp dir for the reader");
  static SystemClock unused_clock;  // readers never append, so never stamp times
  auto store = std::make_unique<RocksEventStore>(dir, &unused_clock, true, tmpl);
  CALLREC_RETURN_IF_ERROR(store->OpenDb());
  return std::unique_ptr<EventStore>(std::move(store));
}

std::optional<StoreMemory> MeasureStoreMemory(EventStore& store) {
  auto* rocks = dynamic_cast<RocksEventStore*>(&store);
  return rocks ? std::optional<StoreMemory>(rocks->Memory()) : std::nullopt;
}

std::string StoreId(const EventStore& store) {
  auto* rocks = dynamic_cast<const RocksEventStore*>(&store);
  return rocks ? rocks->store_id() : std::string();
}

}  // namespace callrec::core
