// projection_store.cc — how a store-backed Projection reads what it does not keep in memory:
// finished intakes, call bindings and the unbound index, always through the changes not yet
// flushed first (they are newer than the store). An in-memory projection answers the same reads
// from its own maps. See projection.h for which intakes stay resident.
#include <charconv>

#include "core/phone.h"
#include "projector/projection/projection.h"
#include "projector/projection/projection_keys.h"

namespace callrec::projector {

using core::Result;
using core::Status;

void Projection::NoteReadError(const Status& status) const {
  if (status_.ok()) status_ = status;
}

Projection::Entry* Projection::EntryFor(std::string_view id) const {
  if (Entry* resident = FindResident(id)) return resident;
  if (!store_ || !IsValidIntakeId(id)) return nullptr;
  auto entry = ReadEntry(id);
  if (!entry.ok()) {
    NoteReadError(entry.status());
    return nullptr;
  }
  if (!*entry) return nullptr;
  evictable_.insert(std::string(id));
  return &SetResident(std::string(id), std::move(**entry));
}

// Reads intake/<id> and the bookkeeping beside it. Only clean intakes are ever out of memory,
// so the store has their latest flushed state.
Result<std::optional<Projection::Entry>> Projection::ReadEntry(std::string_view id) const {
  CALLREC_ASSIGN_OR_RETURN(auto json, store_->GetDerived(keys::IntakeKey(id)));
  if (!json) return std::optional<Entry>();
  auto intake = IntakeFromJson(*json);
  if (!intake.ok()) return Status::Corruption("intake/" + std::string(id) + ": " + intake.status().message());
  if (intake->id != id) return Status::Corruption("intake/" + std::string(id) + " holds intake " + intake->id);
  Entry entry;
  auto e164 = core::NormalizeE164(intake->patient_phone);
  entry.phone_indexed = e164.ok() && *e164 == intake->patient_phone;
  entry.flushed_state = intake->state;
  entry.flushed_open = OpenState(*intake);
  entry.intake = std::move(*intake);
  CALLREC_ASSIGN_OR_RETURN(auto seq_text, store_->GetDerived(keys::IntakeSeqKey(id)));
  uint64_t seq = 0;
  if (!seq_text || std::from_chars(seq_text->data(), seq_text->data() + seq_text->size(), seq).ec != std::errc())
    return Status::Corruption("projector/updated/" + std::string(id) + " missing or not a number");
  entry.updated_seq = entry.flushed_updated_seq = seq;
  return std::optional<Entry>(std::move(entry));
}

uint64_t Projection::CreatedSeq(Entry& entry) {
  if (entry.created_seq == 0) {  // read back from the store: the phone index has it
    auto text = ReadKey(keys::PhoneKey(entry.intake.patient_phone, entry.intake.id));
    if (!text || std::from_chars(text->data(), text->data() + text->size(), entry.created_seq).ec != std::errc())
      NoteReadError(Status::Corruption("projector/phone/ entry of intake " + entry.intake.id + " missing"));
  }
  return entry.created_seq;
}

std::optional<std::string> Projection::ReadKey(const std::string& key) const {
  if (!store_) {  // the index maps hold the unflushed index keys too (KeepIndexKey)
    if (key.starts_with(keys::kCall)) {
      auto it = call_keys_.find(key);
      return it == call_keys_.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    if (key.starts_with(keys::kPhone) || key.starts_with(keys::kUnbound)) {
      auto it = index_keys_.find(key);
      return it == index_keys_.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
  }
  if (auto it = pending_.find(key); it != pending_.end()) return it->second;
  if (!store_) return std::nullopt;  // not an index key: never read back (projection.h)
  auto value = store_->GetDerived(key);
  if (!value.ok()) {
    NoteReadError(value.status());
    return std::nullopt;
  }
  return *value;
}

void Projection::ScanKeys(const std::string& prefix, const std::string& from, const std::string& to,
                          const KeyVisitor& visit) const {
  auto in_range = [&](std::string_view k) { return k.substr(0, prefix.size()) == prefix && k <= to; };
  if (!store_) {  // the ordered index map is the whole answer (KeepIndexKey): no copy
    for (auto it = index_keys_.lower_bound(from); it != index_keys_.end() && in_range(it->first); ++it)
      if (!visit(it->first)) return;
    return;
  }
  // Flushed keys in range, then the unflushed puts and deletes over them.
  std::set<std::string, std::less<>> found;
  Status s = store_->ScanDerivedFrom(prefix, from, [&](std::string_view k, std::string_view) {
    if (!in_range(k)) return false;
    found.emplace(k);
    return true;
  });
  if (!s.ok()) NoteReadError(s);
  for (auto it = pending_.lower_bound(from); it != pending_.end() && in_range(it->first); ++it) {
    if (it->second) {
      found.insert(it->first);
    } else {
      found.erase(it->first);
    }
  }
  for (const std::string& k : found)
    if (!visit(k)) return;
}

// The in-memory projection's stand-in for the store: the call, phone and unbound index keys as
// they are written (phone keys too, beside what projection.h lists: the "no intake for the
// number" check). A rebuild reads these several times per event, so they are not looked up in
// `pending_` (a map of every key the batch changed) and then again in a map of the whole history.
void Projection::KeepIndexKey(const std::string& key, const std::optional<std::string>& value) {
  if (key.starts_with(keys::kCall)) {
    if (value) call_keys_[key] = *value;
    else call_keys_.erase(key);
    return;
  }
  if (!key.starts_with(keys::kUnbound) && !key.starts_with(keys::kPhone)) return;
  if (value) {
    index_keys_[key] = *value;
  } else {
    index_keys_.erase(key);
  }
}

}  // namespace callrec::projector
