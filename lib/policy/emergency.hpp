// The emergency tier's decisions (SPEC "The emergency tier"), pure: which tagged images may
// be evicted and in what order, when an episode starts, what to do next, and the journal
// records. No I/O, no clock, no logging: images, containers, service specs, last uses, the
// disk and the time are inputs. lib/prune/evict.* is the only code that acts on them.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "disk/usage.hpp"
#include "model/image_use.hpp"
#include "policy/journal_record.hpp"  // timeline::Journal: the record type the manager already writes
#include "util/time.hpp"

namespace cdp::emergency {

// A container in any state, as GET /containers/json?all=1 lists it.
struct ContainerUse {
  std::string id;
  std::string image;     // Image: as the user named it, or the id when the tag moved
  std::string image_id;  // ImageID ("sha256:..."); "" when absent
};

// Everything the candidate rule reads, taken right before it is applied.
struct Inputs {
  std::vector<ImageRecord> images;
  std::vector<ContainerUse> containers;     // every container, any state
  std::vector<std::string> service_images;  // each service's Spec and PreviousSpec
                                            // TaskTemplate.ContainerSpec.Image
};

// Why a tagged image stays (none: it is a candidate). Checked in this order.
enum class Kept { none, in_use, service, keep, young };
const char* kept_name(Kept k);  // "candidate", "in_use", "service", "keep", "young"

struct Verdict {
  std::string id;
  std::vector<std::string> tags;
  std::uint64_t size = 0;
  TimePoint last_use{};  // never later than `now` unless a use was recorded in the future
  Kept kept = Kept::none;
  std::string detail;    // the container id, service reference, keep regex or age that keeps it
};

// Every tagged image with its verdict: candidates first, least recently used first (ties
// by id), then the kept ones in the same order. Untagged (dangling) images are not listed:
// the surgical prune owns them. An image with no recorded use counts as used at `now`
// (first seen now: a restart must not make it look old, docuum #320).
std::vector<Verdict> classify(const Inputs& in, const ImageUse& use, const Config::Emergency& cfg, TimePoint now);

// The candidates of classify(), in eviction order.
std::vector<Verdict> candidates(const std::vector<Verdict>& verdicts);

// Whether `ref` (a service's image: "repo:tag", "repo:tag@sha256:...", "repo@sha256:..."
// or an id) names `img` by any of its tags, digests or its id.
bool references(std::string_view ref, const ImageRecord& img);

// ---- The episode --------------------------------------------------------------------------
// Disk at or over critical_percent, bytes or inodes.
bool over_critical(const DiskUsage& d, const Config::Emergency& cfg);
// Bytes and inodes both at or below target_percent.
bool at_target(const DiskUsage& d, const Config::Emergency& cfg);

// What the evict executor (lib/prune/evict.*) reports for one candidate.
struct EvictOutcome {
  enum class Kind {
    removed,   // every DELETE answered 200 (the image lost its tags, and maybe its layers)
    conflict,  // a DELETE answered 409 (in use): the candidate ends, never forced
    failed,    // an error or another status; detail says which
    dry_run,   // dry-run: nothing sent
    refused,   // the tier is disabled: nothing sent
  } kind = Kind::removed;
  std::vector<std::string> untagged;  // the tags Docker untagged
  std::vector<std::string> deleted;   // the ids Docker deleted (image and parent layers)
  std::string detail;
};
const char* evict_outcome_name(EvictOutcome::Kind k);

struct Episode {
  bool dry_run = false;
  double start_percent = 0;         // the disk when it began (bytes)
  std::uint64_t evicted = 0;        // images that lost a tag (dry-run: listed)
  std::uint64_t reclaimed = 0;      // bytes: disk used before - after each eviction (dry-run: sizes)
  std::set<std::string> tried;      // ids already attempted: never twice in one episode
};

struct Start {
  Episode episode;
  timeline::Journal record;  // emergency_start
};
// Right after a surgical prune (or a dry-run of one). nullopt when the tier is disabled or
// the disk is below critical_percent (bytes and inodes); `dry_run` is prune.dry_run.
std::optional<Start> start(const DiskUsage& after_prune, const Config& config, bool dry_run);

// The next thing to do: evict `candidate`, or finish.
struct Evict {
  Verdict candidate;
  bool dry_run = false;
};
enum class StopReason { target_reached, max_images, no_candidates, gate_closed, disk_unknown, stopping };
const char* stop_reason_name(StopReason r);
struct Done {
  StopReason reason = StopReason::no_candidates;
  std::vector<timeline::Journal> records;  // still_full (only for no_candidates), then emergency_done
};
using Next = std::variant<Evict, Done>;

// Called before each eviction, with the disk re-read after the last one (nullopt: it could
// not be read), the verdicts on lists read just now, and the gates' verdict (nullopt: all
// open, else why one closed — e.g. a run stack went live). Order of the checks: stopping,
// gate, disk unknown, target, max_images, then the least recently used untried candidate.
// In dry-run nothing is freed, so the disk is projected: used bytes minus the sizes listed.
Next next(const Episode& ep, const std::optional<DiskUsage>& disk, const std::vector<Verdict>& verdicts,
          const Config::Emergency& cfg, const std::optional<std::string>& gate_closed, bool stopping = false);

// Records one eviction's outcome in `ep` (tried, evicted, reclaimed) and returns its
// emergency_evict record (CDP_IMAGE, CDP_LAST_USED, CDP_RECLAIMED_BYTES). `before`/`after`
// are the disk around it; reclaimed = before.used - after.used, 0 when unknown or negative.
timeline::Journal record_eviction(Episode& ep, const Verdict& candidate, const EvictOutcome& outcome,
                                  const std::optional<DiskUsage>& before, const std::optional<DiskUsage>& after);

// "2026-11-30T10:00:00.123Z" (what CDP_LAST_USED and `plan` show).
std::string format_utc_ms(TimePoint t);

}  // namespace cdp::emergency
